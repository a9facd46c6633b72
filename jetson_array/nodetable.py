"""The node table: load it, check it, and derive each node's pillar from it.

The table (pillar/nodes.yaml, or the file named by the config option ``jetson_node_table``)
is the single source of truth for the array. ``pillar/cluster.sls`` calls :func:`pillar_for`
when pillar renders, so a bad table stops every state run before anything changes; the
acceptance suite, the lab, the roster and the reports import this module for the same data.

Pure Python, no Salt import: it runs inside the ``#!py`` pillar renderer (loaded by path, a master
renders from the checkout without this package installed) and is imported as
``jetson_array.nodetable`` everywhere else; one module, so one :class:`NodeTableError`.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import re
from typing import Any

import yaml

DEFAULT_TABLE = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "pillar",
                                              "nodes.yaml"))
CLOUD_ROOT = "cloud"  # /home/<user>/cloud/<mount index>
ROLES = {"nfs_server"}
# Accounts that ship on the stock L4T (JetPack 3.1) image: our user must not take their ids.
STOCK_ACCOUNTS = {1000: "nvidia", 1001: "ubuntu"}

# Full-match patterns of the free-text fields (they reach hostnames, device paths and shell
# commands): their one home is the pillar schema, which checks the same values in pillar.
SCHEMA_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "salt", "_modules",
                           "pillar_schema.py")


def _load_schema() -> Any:
    spec = importlib.util.spec_from_file_location("jetson_pillar_schema", SCHEMA_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_SCHEMA = _load_schema()
NAME_PREFIX = re.compile(_SCHEMA.NAME_PREFIX)
SSD = re.compile(_SCHEMA.DEVICE)
PACKAGE_DIR = re.compile(_SCHEMA.REL_PATH)
USER_NAME = re.compile(_SCHEMA.NAME)
MAX_NUMBER = 9999

NODE_FIELDS = {"name": str, "number": int, "ip": str, "gpu": bool}
NODE_OPTIONAL = {"roles": list, "ssd": str}
CLUSTER_FIELDS = {
    "name_prefix": str,
    "subnet": str,
    "user": dict,
    "masters": list,
    "install_package": dict,
    "nodes": list,
}


class NodeTableError(ValueError):
    """The node table is wrong; the message names the node and the field."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.safe_load, except that a key given twice in one mapping is an error (YAML says keys
    are unique; PyYAML silently keeps the last one, which would hide a value from a reviewer)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set[str] = set()
        for key_node, _ in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if key is not None and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"field '{key}' is given twice in one mapping", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load(path: str | None = None) -> dict[str, Any]:
    """Read and check the table at ``path``; return its ``cluster`` mapping."""
    path = path or DEFAULT_TABLE
    try:
        with open(path, encoding="utf-8") as handle:
            doc = yaml.load(handle, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
    except OSError as err:
        raise NodeTableError(f"node table {path}: cannot read it: {err.strerror}") from err
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise NodeTableError(f"node table {path}: not valid YAML: {' '.join(str(err).split())}") from err
    try:
        return check(doc)
    except NodeTableError as err:
        raise NodeTableError(f"node table {path}: {err}") from None


def _fields(where: str, data: Any, required: dict, optional: dict | None = None) -> None:
    if not isinstance(data, dict):
        raise NodeTableError(f"{where}: expected a mapping, got {type(data).__name__}")
    optional = optional or {}
    for key in required:
        if key not in data:
            raise NodeTableError(f"{where}: missing field '{key}'")
    for key, value in data.items():
        kind = (required.get(key) or optional.get(key)) if isinstance(key, str) else None
        if kind is None:
            known = ", ".join(sorted({**required, **optional}))
            raise NodeTableError(f"{where}: unknown field {key!r} (known: {known})")
        # bool is an int in Python: do not let `number: true` through.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise NodeTableError(
                f"{where}: field '{key}' must be {kind.__name__}, got {value!r}"
            )


def _match(where: str, field: str, value: str, pattern: re.Pattern, what: str) -> None:
    if not pattern.fullmatch(value):
        raise NodeTableError(f"{where}: field '{field}' {value!r} is not {what}")


def _strings(where: str, field: str, items: list) -> None:
    for item in items:
        if not isinstance(item, str):
            raise NodeTableError(f"{where}: field '{field}' must list names (strings), got {item!r}")


def _check_user(user: dict) -> None:
    _fields("cluster.user", user, {"name": str, "uid": int, "gid": int})
    if not USER_NAME.fullmatch(user["name"]):
        raise NodeTableError(f"cluster.user.name: {user['name']!r} is not a valid user name")
    for key in ("uid", "gid"):
        value = user[key]
        if not 1000 <= value <= 59999:
            raise NodeTableError(f"cluster.user.{key}: {value} is outside 1000..59999")
        if value in STOCK_ACCOUNTS:
            raise NodeTableError(
                f"cluster.user.{key}: {value} clashes with the stock account "
                f"'{STOCK_ACCOUNTS[value]}' of the L4T image; pick another id"
            )


def _check_node(row: Any, index: int, prefix: str, subnet: ipaddress.IPv4Network) -> None:
    name = row.get("name") if isinstance(row, dict) else None
    label = name if isinstance(name, str) and re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name) else f"#{index}"
    where = f"node {label}"
    _fields(where, row, NODE_FIELDS, NODE_OPTIONAL)
    if not 0 <= row["number"] <= MAX_NUMBER:
        raise NodeTableError(f"{where}: field 'number' {row['number']} is outside 0..{MAX_NUMBER}")
    expected = f"{prefix}{row['number']}"
    if row["name"] != expected:
        raise NodeTableError(
            f"{where}: field 'name' must be '{expected}' (prefix + number, no zero padding)"
        )
    try:
        ip = ipaddress.IPv4Address(row["ip"])
    except ValueError:
        raise NodeTableError(f"{where}: field 'ip' {row['ip']!r} is not an IPv4 address") from None
    if ip not in subnet or ip in (subnet.network_address, subnet.broadcast_address):
        raise NodeTableError(f"{where}: field 'ip' {ip} is not a host of subnet {subnet}")
    _strings(where, "roles", row.get("roles", []))
    unknown = set(row.get("roles", [])) - ROLES
    if unknown:
        raise NodeTableError(f"{where}: field 'roles' has unknown role(s) {sorted(unknown)}")
    if "ssd" in row:
        _match(where, "ssd", row["ssd"], SSD, "a whole-disk /dev path (/dev/sda, /dev/disk/by-id/NAME)")


def _check_unique(nodes: list[dict]) -> None:
    for field in ("name", "number", "ip"):
        seen: dict[Any, int] = {}
        for row_no, row in enumerate(nodes):
            value = row[field]
            if value in seen:
                first = seen[value]
                raise NodeTableError(
                    f"node {row['name']} (row {row_no}): field '{field}' {value} is also used "
                    f"by node {nodes[first]['name']} (row {first})"
                )
            seen[value] = row_no


def _check_masters(cluster: dict, by_name: dict[str, dict]) -> None:
    masters = cluster["masters"]
    if not masters:
        raise NodeTableError("cluster.masters: at least one NFS master is needed")
    _strings("cluster", "masters", masters)
    for name in masters:
        if name not in by_name:
            raise NodeTableError(f"cluster.masters: {name!r} is not a node of the table")
        if masters.count(name) > 1:
            raise NodeTableError(f"cluster.masters: '{name}' is listed twice")
        row = by_name[name]
        if "nfs_server" not in row.get("roles", []) or "ssd" not in row:
            raise NodeTableError(
                f"node {name}: a master needs field 'roles' with nfs_server and field 'ssd'"
            )
    for name, row in by_name.items():
        if "nfs_server" in row.get("roles", []) and name not in masters:
            raise NodeTableError(f"node {name}: role nfs_server but not in cluster.masters")
    package = cluster["install_package"]
    _fields("cluster.install_package", package, {"master": str, "dir": str})
    if package["master"] not in masters:
        raise NodeTableError(
            f"cluster.install_package.master: {package['master']!r} is not in cluster.masters"
        )
    _match("cluster.install_package", "dir", package["dir"], PACKAGE_DIR,
           "a relative path of plain names (letters, digits, _ . + -; no '..', no leading '/' or '.')")


def _check_network(cluster: dict) -> ipaddress.IPv4Network:
    try:
        subnet = ipaddress.IPv4Network(cluster["subnet"])
    except ValueError as err:
        raise NodeTableError(f"cluster.subnet: {cluster['subnet']!r} is not a CIDR: {err}") from None
    if cluster["subnet"] != str(subnet):
        raise NodeTableError(f"cluster.subnet: {cluster['subnet']!r} must be written as {str(subnet)!r}")
    return subnet


def check(doc: Any) -> dict[str, Any]:
    """Check a parsed table document; return its ``cluster`` mapping or raise NodeTableError."""
    if not isinstance(doc, dict) or "cluster" not in doc:
        raise NodeTableError("top level: missing field 'cluster'")
    cluster = doc["cluster"]
    _fields("cluster", cluster, CLUSTER_FIELDS)
    _match("cluster", "name_prefix", cluster["name_prefix"], NAME_PREFIX,
           "a hostname label start (lowercase letters, digits, '-'; a letter first; at most 30)")
    subnet = _check_network(cluster)
    _check_user(cluster["user"])
    if not cluster["nodes"]:
        raise NodeTableError("cluster.nodes: the table has no node")
    for index, row in enumerate(cluster["nodes"]):
        _check_node(row, index, cluster["name_prefix"], subnet)
    _check_unique(cluster["nodes"])
    _check_masters(cluster, {row["name"]: row for row in cluster["nodes"]})
    return cluster


def user_home(cluster: dict) -> str:
    """The cluster user's home (pillar cluster_user:home, ssh_mesh:home), built by the schema."""
    return _SCHEMA.user_home(cluster["user"]["name"])


def mounts(cluster: dict) -> list[dict[str, Any]]:
    """One entry per master, in mount-index order: where every node sees its export."""
    by_name = {row["name"]: row for row in cluster["nodes"]}
    home = user_home(cluster)
    result = []
    for index, name in enumerate(cluster["masters"]):
        path = f"{home}/{CLOUD_ROOT}/{index}"
        result.append(
            {
                "index": index,
                "master": name,
                "server_ip": by_name[name]["ip"],
                "path": path,
                # systemd unit name of the mount point (systemd-escape -p), for the automount.
                "unit": path.strip("/").replace("-", "\\x2d").replace("/", "-"),
            }
        )
    return result


def node_row(cluster: dict, node_id: str) -> dict[str, Any]:
    """The table row of ``node_id`` with its derived role data."""
    for row in cluster["nodes"]:
        if row["name"] == node_id:
            masters = cluster["masters"]
            return {
                "roles": [],
                **row,
                "is_master": node_id in masters,
                "mount_index": masters.index(node_id) if node_id in masters else None,
            }
    raise NodeTableError(
        f"minion '{node_id}' is not a node of the table; add it to the node table "
        "or use a minion id from it"
    )


def pillar_for(cluster: dict, node_id: str) -> dict[str, Any]:
    """Everything the formulas need, derived from the table for one node."""
    node = node_row(cluster, node_id)
    user = cluster["user"]
    home = user_home(cluster)
    nodes = [{"name": r["name"], "ip": r["ip"]} for r in cluster["nodes"]]
    cloud = mounts(cluster)
    package = cluster["install_package"]
    package_mount = next(m for m in cloud if m["master"] == package["master"])
    # The root-owned copy of the user's checked public key (formula ssh_mesh): what the mine reads.
    published_key = f"/var/lib/jetson-array/ssh_mesh/{user['name']}.pub"
    return {
        "cluster": cluster,
        "node": node,
        "cluster_user": {"name": user["name"], "uid": user["uid"], "gid": user["gid"], "home": home},
        "hosts": {"hostname": node_id, "entries": nodes},
        "ssh_mesh": {"user": user["name"], "home": home, "peers": nodes, "published_key": published_key},
        "nfs": {
            "server": {
                "enabled": node["is_master"],
                "device": node.get("ssd"),
                "fsid": (node["mount_index"] or 0) + 1,
                "client_ips": [r["ip"] for r in cluster["nodes"]],
                "subnet": cluster["subnet"],
            },
            "client": {
                "owner": user["name"],
                "mounts": [{**m, "bind": m["master"] == node_id} for m in cloud],
            },
        },
        "gpu_stack": {
            "enabled": node["gpu"],
            "package_mount": package_mount["path"],
            "package_dir": f"{package_mount['path']}/{package['dir']}",
        },
        "sudoers": {"user": user["name"]},
        # The SSH mesh: public user keys and public host keys only (never private ones).
        # Salt's own functions: a custom module is not in the minion's loader until a refresh
        # after the first sync, so mine.update in orch.rollout would skip it (seen in the VM
        # lab). salt/_modules/ssh_mesh.py (published) calls them with the same
        # arguments for salt-ssh; tests/unit/test_ssh_mesh_module.py keeps the two equal.
        "mine_functions": {
            "ssh_mesh_user_keys": {"mine_function": "ssh.user_keys", "user": user["name"], "pubfile": published_key,
                                   "prvfile": False},
            "ssh_mesh_host_keys": {"mine_function": "ssh.host_keys", "keydir": "/etc/ssh", "private": False,
                                   "certs": False},
            # The kernel's NFS versions (salt/_grains/nfs_kernel.py): clients choose a version
            # their masters serve (salt/_modules/nfs_version.py).
            "nfs_kernel": {"mine_function": "grains.get", "key": "nfs_kernel"},
        },
    }
