"""The container lab: a full astro cluster of systemd-nspawn nodes on this machine.

Entry point: ``python -m lab {up,apply,validate,down,demo}`` (see docs/lab.md).
"""
