"""The lab node table: load it through jetson_array/nodetable.py and derive the subset a run uses.

The hand-written table is lab/files/nodes.yaml. ``up --nodes N`` keeps every master and the
lowest-numbered other nodes, and writes that subset to lab/run/nodes.yaml, which the lab
salt-master's ``jetson_node_table`` names. Nothing here retypes a node: all comes from the table.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import yaml

from jetson_array import nodetable
from lab.common.paths import DERIVED_TABLE, LAB_TABLE, REPO


def load(path: Path = LAB_TABLE) -> dict[str, Any]:
    """The checked ``cluster`` mapping of the table at ``path``."""
    return nodetable.load(str(path))


def select(cluster: dict[str, Any], count: int | None) -> dict[str, Any]:
    """The cluster restricted to ``count`` nodes: all masters, then the lowest numbers."""
    nodes = cluster["nodes"]
    if count is None or count == len(nodes):
        return cluster
    masters = cluster["masters"]
    if not len(masters) <= count <= len(nodes):
        raise nodetable.NodeTableError(
            f"--nodes {count}: must be between {len(masters)} (the masters "
            f"{', '.join(masters)}) and {len(nodes)} (the rows of {LAB_TABLE})"
        )
    others = sorted((r for r in nodes if r["name"] not in masters), key=lambda r: r["number"])
    keep = {r["name"] for r in nodes if r["name"] in masters}
    keep |= {r["name"] for r in others[: count - len(masters)]}
    return {**cluster, "nodes": [r for r in nodes if r["name"] in keep]}


def with_arm64(cluster: dict[str, Any], arm64: list[str]) -> dict[str, Any]:
    """The cluster with the ``arm64`` nodes (``up --arm64``) marked ``gpu: true``: they look
    like a TX2 to the states (lab/containers/image.py), the others keep their row."""
    unknown = sorted(set(arm64) - set(names(cluster)))
    if unknown:
        raise nodetable.NodeTableError(
            f"--arm64 {', '.join(unknown)}: not a node of this lab ({', '.join(names(cluster))})"
        )
    rows = [{**row, "gpu": True} if row["name"] in arm64 else row for row in cluster["nodes"]]
    return {**cluster, "nodes": rows}


def write_derived(cluster: dict[str, Any], path: Path = DERIVED_TABLE) -> Path:
    """Write ``cluster`` as a table file (checked again on the way out) and return its path."""
    nodetable.check({"cluster": cluster})
    header = (
        f"# DERIVED by `python -m lab up` from {LAB_TABLE.relative_to(REPO)}: "
        "do not edit, edit that file.\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + yaml.safe_dump({"cluster": cluster}, sort_keys=False))
    return path


def host_address(cluster: dict[str, Any]) -> ipaddress.IPv4Interface:
    """The host's address on the lab bridge: the first host of the table's subnet."""
    subnet = ipaddress.IPv4Network(cluster["subnet"])
    first = next(subnet.hosts())
    taken = {r["name"] for r in cluster["nodes"] if r["ip"] == str(first)}
    if taken:
        raise nodetable.NodeTableError(
            f"node {taken.pop()}: field 'ip' {first} is the lab host's address on the bridge"
        )
    return ipaddress.IPv4Interface(f"{first}/{subnet.prefixlen}")


def names(cluster: dict[str, Any]) -> list[str]:
    """Node names in table order."""
    return [row["name"] for row in cluster["nodes"]]
