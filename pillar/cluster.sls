#!py
"""Pillar from the node table, checked when pillar renders (see jetson_array/nodetable.py).

The table is pillar/nodes.yaml unless the master (or salt-call) config sets
``jetson_node_table: /path/to/table.yaml`` (the lab does).
"""
import importlib.util
import os
import sys

NAME = "jetson_array.nodetable"


def _nodetable():
    """jetson_array/nodetable.py of this checkout, loaded by path (a master renders pillar from the
    repo without the package installed) and registered under its package name: a second render,
    or code of the same process that imports it, gets the same module (one NodeTableError)."""
    if NAME not in sys.modules:
        path = os.path.join(os.path.dirname(__file__), os.pardir, "jetson_array", "nodetable.py")
        spec = importlib.util.spec_from_file_location(NAME, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[NAME] = module
    return sys.modules[NAME]


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
