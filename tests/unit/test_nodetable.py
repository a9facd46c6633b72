"""The node table schema: every bad table is refused with an error naming the node and field."""

from __future__ import annotations

import copy
import importlib.machinery
import importlib.util
import sys
from pathlib import Path

import pytest
import yaml
from saltrender import PILLAR, REPO

from jetson_array import nodetable

GOOD = yaml.safe_load((REPO / "tests" / "data" / "table5.yaml").read_text())


def mutate(path: str, value=None, delete: bool = False) -> dict:
    """A copy of GOOD with one field changed: path like 'cluster.nodes.2.ip'."""
    doc = copy.deepcopy(GOOD)
    *parents, last = path.split(".")
    target = doc
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if delete:
        del target[int(last) if isinstance(target, list) else last]
    elif isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return doc


BAD_TABLES = {
    "duplicate name": (
        mutate("cluster.nodes.4", {"name": "tx2", "number": 2, "ip": "192.168.50.99", "gpu": True}),
        "node tx2 (row 4): field 'name' tx2 is also used by node tx2 (row 2)",
    ),
    "duplicate ip": (
        mutate("cluster.nodes.4.ip", "192.168.50.12"),
        "node tx4 (row 4): field 'ip' 192.168.50.12 is also used by node tx2 (row 2)",
    ),
    "master not a node": (mutate("cluster.masters", ["tx3", "tx9"]), "cluster.masters: 'tx9' is not a node"),
    "master listed twice": (mutate("cluster.masters", ["tx3", "tx3"]), "'tx3' is listed twice"),
    "bad cidr": (mutate("cluster.subnet", "192.168.50.0/33"), "cluster.subnet: '192.168.50.0/33' is not a CIDR"),
    "uid clash": (mutate("cluster.user.uid", 1000), "cluster.user.uid: 1000 clashes with the stock account 'nvidia'"),
    "gid out of range": (mutate("cluster.user.gid", 500), "cluster.user.gid: 500 is outside 1000..59999"),
    "missing ip": (mutate("cluster.nodes.2.ip", delete=True), "node tx2: missing field 'ip'"),
    "missing gpu": (mutate("cluster.nodes.0.gpu", delete=True), "node tx0: missing field 'gpu'"),
    "ip outside subnet": (
        mutate("cluster.nodes.0.ip", "10.0.0.5"),
        "node tx0: field 'ip' 10.0.0.5 is not a host of subnet",
    ),
    "bad ip": (mutate("cluster.nodes.0.ip", "192.168.50.300"), "node tx0: field 'ip' '192.168.50.300' is not an IPv4"),
    "zero padded name": (mutate("cluster.nodes.0.name", "tx00"), "node tx00: field 'name' must be 'tx0'"),
    "unknown field": (mutate("cluster.nodes.2.gpus", True), "node tx2: unknown field 'gpus'"),
    "gpu not a bool": (mutate("cluster.nodes.2.gpu", "yes"), "node tx2: field 'gpu' must be bool"),
    "number is a bool": (mutate("cluster.nodes.2.number", True), "node tx2: field 'number' must be int"),
    "master without ssd": (
        mutate("cluster.nodes.1.ssd", delete=True),
        "node tx1: a master needs field 'roles' with nfs_server and field 'ssd'",
    ),
    "server not a master": (mutate("cluster.masters", ["tx3"]), "node tx1: role nfs_server but not in cluster.masters"),
    "unknown role": (mutate("cluster.nodes.0.roles", ["dhcp"]), "node tx0: field 'roles' has unknown role(s) ['dhcp']"),
    "ssd not a device": (
        mutate("cluster.nodes.1.ssd", "sdb"),
        "node tx1: field 'ssd' 'sdb' is not a whole-disk /dev path",
    ),
    "package on a worker": (
        mutate("cluster.install_package.master", "tx0"),
        "cluster.install_package.master: 'tx0' is not in cluster.masters",
    ),
    "no nodes": (mutate("cluster.nodes", []), "cluster.nodes: the table has no node"),
    "missing masters": (mutate("cluster.masters", delete=True), "cluster: missing field 'masters'"),
    "no cluster": ({"nodes": []}, "top level: missing field 'cluster'"),
}


@pytest.mark.parametrize("case", sorted(BAD_TABLES))
def test_bad_table_is_refused_naming_node_and_field(case):
    doc, message = BAD_TABLES[case]
    with pytest.raises(nodetable.NodeTableError) as err:
        nodetable.check(doc)
    assert message in str(err.value)


def test_good_tables_pass():
    assert nodetable.check(copy.deepcopy(GOOD))["masters"] == ["tx3", "tx1"]
    real = nodetable.load()
    assert len(real["nodes"]) == 24


def test_load_names_the_file(tmp_path):
    bad = tmp_path / "nodes.yaml"
    bad.write_text(yaml.safe_dump(BAD_TABLES["duplicate ip"][0]))
    with pytest.raises(nodetable.NodeTableError, match=f"node table {bad}: node tx4 \\(row 4\\): field 'ip'"):
        nodetable.load(str(bad))
    with pytest.raises(nodetable.NodeTableError, match="cannot read it"):
        nodetable.load(str(tmp_path / "absent.yaml"))


def test_mount_index_follows_masters_order():
    cluster = nodetable.check(copy.deepcopy(GOOD))
    assert [(m["index"], m["master"], m["path"]) for m in nodetable.mounts(cluster)] == [
        (0, "tx3", "/home/labuser/cloud/0"),
        (1, "tx1", "/home/labuser/cloud/1"),
    ]
    assert nodetable.node_row(cluster, "tx1")["mount_index"] == 1
    assert nodetable.node_row(cluster, "tx0")["mount_index"] is None


def test_the_user_home_is_emitted_once_for_every_formula_that_reads_it():
    """pillar cluster_user:home and ssh_mesh:home, and the mount paths under it, are one value."""
    cluster = nodetable.check(copy.deepcopy(GOOD))
    pillar = nodetable.pillar_for(cluster, "tx1")
    assert pillar["cluster_user"]["home"] == pillar["ssh_mesh"]["home"] == "/home/labuser"
    assert all(m["path"].startswith("/home/labuser/cloud/") for m in pillar["nfs"]["client"]["mounts"])


def test_unknown_minion_is_refused():
    cluster = nodetable.check(copy.deepcopy(GOOD))
    with pytest.raises(nodetable.NodeTableError, match="minion 'astro3' is not a node of the table"):
        nodetable.pillar_for(cluster, "astro3")


def test_systemd_unit_names_are_escaped_like_systemd_escape():
    doc = mutate("cluster.user.name", "lab-user")
    unit = nodetable.mounts(nodetable.check(doc))[0]["unit"]
    assert unit == "home-lab\\x2duser-cloud-0"


def test_pillar_render_loads_the_one_nodetable_module(monkeypatch) -> None:
    """pillar/cluster.sls loads jetson_array/nodetable.py by path only when no module of that name
    is loaded, and registers it: every render and every importer share one NodeTableError."""
    loader = importlib.machinery.SourceFileLoader("jetson_cluster_sls", str(PILLAR / "cluster.sls"))
    sls = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(sls)
    assert sls._nodetable() is nodetable
    monkeypatch.delitem(sys.modules, "jetson_array.nodetable")
    fresh = sls._nodetable()
    assert fresh is not nodetable and sys.modules["jetson_array.nodetable"] is fresh
    assert sls._nodetable() is fresh
    assert Path(fresh.__file__).resolve() == REPO / "jetson_array" / "nodetable.py"
