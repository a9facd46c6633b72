"""Shared Python of jetson-array: the node table, the defaults+pillar merge and the other logic
that the pillar, the operator tools, the acceptance suite, the lab and the tests all use.

Importable from the repo root (``pip install -e .``); the pillar loads it by path from
pillar/cluster.sls, since a salt-master runs from a checkout without installing it.
"""
