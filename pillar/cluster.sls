#!py
"""Pillar from the node table, checked when pillar renders (see nodetable.py).

The table is pillar/nodes.yaml unless the master (or salt-call) config sets
``jetson_node_table: /path/to/table.yaml`` (the lab does).
"""
import importlib.util
import os


def _nodetable():
    path = os.path.join(os.path.dirname(__file__), "nodetable.py")
    spec = importlib.util.spec_from_file_location("jetson_nodetable", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run():
    nodetable = _nodetable()
    try:
        cluster = nodetable.load(__opts__.get("jetson_node_table"))
        names = {row["name"] for row in cluster["nodes"]}
        if __opts__.get("__role") == "master" and __opts__["id"] not in names:
            # The master's own pillar (orchestration, id <host>_master): the table, no node
            # of its own. A minion's pillar is compiled on the master too (__role is
            # "master" there as well): it is told apart by its id, a row of the table.
            return {"cluster": cluster}
        return nodetable.pillar_for(cluster, __opts__["id"])
    except nodetable.NodeTableError as err:
        # Salt hides render exceptions behind "see master log" (pillar_safe_render_error);
        # a table error holds no secret, so hand it to Salt as a pillar error: every state
        # run then stops with this message before it changes anything.
        return {"_errors": [str(err)]}
