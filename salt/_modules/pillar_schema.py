"""The pillar schema: every pillar value that reaches a file or a shell, checked strictly once.

Pillar SLS files do not see the pillar compiled before them (Salt 3008 renders each one without
the data merged so far: ``Pillar.render_pstate`` in salt/pillar/__init__.py), so the check runs
where the merged pillar exists: salt/site/schema.jinja, included by ``salt/site/init.sls`` (the
highstate) and by every formula's ``map.jinja``, renders salt/site/schema.sls, which calls
:func:`problems` and raises before any state renders (on the minion, and on the operator's
machine for salt-ssh); the acceptance suite (validation/pillars.py) calls :func:`problems` on
every node's rendered pillar.

Only the keys listed in :data:`FIELDS` are checked, each against a full-match pattern, a type and
a range; other keys are left to their formula. A key absent from pillar keeps its formula default.
``jetson_array/nodetable.py`` takes its patterns from here (one home per pattern).

Pure Python, no Salt import: jetson_array/nodetable.py, salt/site/schema.sls and the suite load this
file by path (so no state depends on the module being synced).

    salt astro3 pillar_schema.check
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

__virtualname__ = "pillar_schema"

# Full-match patterns. None of them lets a character through that a shell, a sudoers or an
# exports(5) line would interpret: no space, quote, '$', '`', ';', '|', '&', '(', ')', '\', newline.
NAME = r"[a-z_][a-z0-9_-]{0,31}"  # a user or group name (useradd's default NAME_REGEX)
NAME_PREFIX = r"[a-z][a-z0-9-]{0,29}"  # the start of a hostname label: <prefix><number>
HOSTNAME = r"[a-z][a-z0-9-]{0,62}"
# A whole disk by kernel name (/dev/sda, /dev/nvme0n1) or by a stable udev link.
DEVICE = r"/dev/[a-z][a-z0-9]{0,31}|/dev/disk/by-(?:id|path)/[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}"
# Path components that never start with '.': no '.', '..' or hidden names.
_PART = r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,63}"
REL_PATH = rf"{_PART}(?:/{_PART}){{0,7}}"
ABS_PATH = rf"(?:/{_PART}){{1,8}}"
IPV4 = r"(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
CIDR = rf"{IPV4}/(?:[0-9]|[12][0-9]|3[0-2])"
MOUNT_OPTION = r"[a-z_][a-z0-9_.-]{0,63}(?:=[A-Za-z0-9_./:-]{1,128})?"
PACKAGE = r"[a-z0-9][a-z0-9+.-]{0,63}"  # a Debian package name (Debian policy 5.6.1)
CRYPT_HASH = r"\$(?:1|5|6|2[abxy]|y)\$[A-Za-z0-9./$=,]{1,512}"  # crypt(3) output
GIT_URL = r"https://[A-Za-z0-9.-]{1,253}(?:/[A-Za-z0-9_.~+-]{1,128}){1,8}"
HTTPS_URL = r"https://[A-Za-z0-9.-]{1,253}(?:/[A-Za-z0-9_.~+%=-]{1,128}){0,12}"
APT_LINE = rf"deb (?:{HTTPS_URL}|file:{ABS_PATH}) [a-z0-9][a-z0-9_.-]{{0,31}}(?: [a-z0-9][a-z0-9_.-]{{0,31}}){{0,8}}"

# exports(5) options a site may set; the formula adds fsid= itself. Deliberately absent:
# no_root_squash (root on any host that holds a node's IP owns the share: NFS here is sec=sys),
# insecure (any unprivileged process on such a host may speak NFS as any uid), fsid (formula's).
EXPORT_OPTIONS = {
    "rw", "ro", "sync", "async", "root_squash", "all_squash", "no_subtree_check", "subtree_check",
    "secure", "sec", "mp", "wdelay", "no_wdelay", "anonuid", "anongid",
}
EXPORT_VALUES = {"sec": r"sys", "anonuid": r"[0-9]{1,5}", "anongid": r"[0-9]{1,5}"}
NFS_VERSIONS = ("3", "4", "4.1", "4.2")

# A sudoers rule after the user: ALL=(runas) [TAGS: ]/abs/command[ args | ""]. Arguments are plain
# words: sudoers treats , : = \ ( ) ! specially and * ? [ ] as wildcards, a shell neither.
SUDO_TAGS = r"(?:(?:NOPASSWD|PASSWD|NOEXEC|EXEC|NOSETENV):[ ]?)*"
SUDO_ARGS = r"(?P<args>(?: [A-Za-z0-9_./+@%-]{1,128}){1,16}| \"\")?"
SUDO_RULE = rf"ALL=\({NAME}(?::{NAME})?\) (?P<tags>{SUDO_TAGS}){ABS_PATH}{SUDO_ARGS}"
SUDO_FILE = r"[A-Za-z0-9_-]{1,64}"  # sudo skips drop-ins with '.' or '~' in the name

Check = Callable[[Any], "str | None"]


def __virtual__():
    return __virtualname__


def _type(value: Any, kind: type, name: str) -> str | None:
    if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
        return f"must be {name}, got {type(value).__name__} {value!r}"
    return None


def pattern(regex: str, what: str, nullable: bool = False, secret: bool = False) -> Check:
    """A string that matches ``regex`` in full; ``secret``: the message never shows the value."""
    compiled = re.compile(regex)

    def check(value: Any) -> str | None:
        if value is None and nullable:
            return None
        got = "a value that is not shown" if secret else f"{type(value).__name__} {value!r}"
        if not isinstance(value, str):
            return f"must be {what} (a string; quote it in YAML), got {got}"
        return None if compiled.fullmatch(value) else f"must be {what}, got {got}"

    return check


def integer(low: int, high: int, nullable: bool = False) -> Check:
    def check(value: Any) -> str | None:
        if value is None and nullable:
            return None
        problem = _type(value, int, f"an integer {low}..{high}")
        if problem or low <= value <= high:
            return problem
        return f"must be an integer {low}..{high}, got {value!r}"

    return check


def boolean(value: Any) -> str | None:
    return _type(value, bool, "true or false")


def choice(*allowed: Any) -> Check:
    def check(value: Any) -> str | None:
        if any(value == a and type(value) is type(a) for a in allowed):
            return None
        return f"must be one of {', '.join(map(repr, allowed))}, got {type(value).__name__} {value!r}"

    return check


def list_of(item: Check) -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, list):
            return f"must be a list, got {type(value).__name__} {value!r}"
        for index, entry in enumerate(value):
            problem = item(entry)
            if problem:
                return f"item {index}: {problem}"
        return None

    return check


# Groups whose members are root or read what makes them root (raw disks, memory, the hashes,
# container daemons that mount the host).
ROOT_GROUPS = ("root", "disk", "kmem", "shadow", "docker", "lxd")


def admin_group_refused(value: Any) -> str | None:
    """A group of the cluster user; the groups that give sudo rights are cluster_user:sudo_group's."""
    if value in ("sudo", "admin", "wheel"):
        return (f"{value!r}: sudo rights of the cluster user are pillar cluster_user:sudo_group "
                "(default false), not a group in the list")
    if value in ROOT_GROUPS:
        return f"{value!r}: membership is root (or reads secrets): never for the shared cluster user"
    return pattern(NAME, "a group name")(value)


def export_option(value: Any) -> str | None:
    problem = pattern(r"[a-z_]+(?:=[A-Za-z0-9:_]+)?", "an exports(5) option like sync or sec=sys")(value)
    if problem:
        return problem
    name, _, arg = value.partition("=")
    if name not in EXPORT_OPTIONS:
        return f"{value!r} is not an allowed export option ({', '.join(sorted(EXPORT_OPTIONS))})"
    if bool(arg) != (name in EXPORT_VALUES) or arg and not re.fullmatch(EXPORT_VALUES[name], arg):
        return f"{value!r}: option '{name}' takes " + (f"a value {EXPORT_VALUES[name]}" if name in EXPORT_VALUES
                                                         else "no value")
    return None


def sudo_rule(value: Any) -> str | None:
    problem = pattern(SUDO_RULE, 'a rule like ALL=(root) NOPASSWD: /abs/command arg ... (or "")')(value)
    if problem:
        return problem
    if not re.fullmatch(SUDO_RULE, value)["args"]:
        return f"{value!r}: a rule must list its arguments (\"\" for none): bare means any"
    return None


def sudoers_files(value: Any) -> str | None:
    if not isinstance(value, dict):
        return f"must be a mapping of drop-in name to rules, got {type(value).__name__} {value!r}"
    for name, rules in value.items():
        problem = pattern(SUDO_FILE, "a drop-in name (letters, digits, _ -)")(name) or list_of(sudo_rule)(rules)
        if problem:
            return f"drop-in {name!r} (sudoers:files:{name}): {problem}"
    return None


def host_entries(value: Any) -> str | None:
    check = {"name": pattern(HOSTNAME, "a host name"), "ip": pattern(IPV4, "an IPv4 address")}
    for index, entry in enumerate(value if isinstance(value, list) else [value]):
        if not isinstance(entry, dict) or set(entry) != set(check):
            return f"item {index}: must be a mapping with name and ip, got {entry!r}"
        problem = check["name"](entry["name"]) or check["ip"](entry["ip"])
        if problem:
            return f"item {index}: {problem}"
    return None


def manifest(value: Any) -> str | None:
    """Install package entries (file, role, package, requirement, sha256): the values that reach
    pip's and apt's command lines; other keys are the formula's."""
    checks = {
        "file": pattern(REL_PATH, "a relative path of plain names"),
        "role": pattern(r"[a-z][a-z0-9-]{0,63}", "a role name"),
        "package": pattern(PACKAGE, "a package name", nullable=True),
        "requirement": pattern(r"[A-Za-z0-9_.-]{1,64}==[A-Za-z0-9_.+!-]{1,64}", "a pip pin name==version"),
        "sha256": pattern(r"[0-9a-f]{64}", "a sha256 hex digest (or null)", nullable=True),
    }
    for index, entry in enumerate(value if isinstance(value, list) else [value]):
        if not isinstance(entry, dict) or "file" not in entry:
            return f"item {index}: must be a mapping with a file, got {entry!r}"
        for key in checks.keys() & entry.keys():
            problem = checks[key](entry[key])
            if problem:
                return f"item {index} ({entry['file']!r}): {key} {problem}"
    return None


def jetpacks(value: Any) -> str | None:
    """Each JetPack's artifacts and the CUDA/Python values its states put on command lines."""
    problem = manifests("artifacts")(value)
    if problem:
        return problem
    checks = {
        ("cuda", "home"): _ABS, ("cuda", "repo_dir"): _ABS, ("cuda", "repo_key"): _ABS,
        ("cuda", "toolkit_package"): pattern(PACKAGE, "a package name"),
        ("cuda", "version"): pattern(r"[0-9]{1,2}\.[0-9]{1,2}", "a quoted version like '8.0'"),
        ("python", "interpreter"): pattern(r"python[0-9]\.[0-9]{1,2}", "an interpreter like python3.6"),
    }
    for name, entry in value.items():
        for (group, key), check in checks.items():
            part = entry.get(group) if isinstance(entry, dict) else None
            problem = check(part[key]) if isinstance(part, dict) and key in part else None
            if problem:
                return f"{name!r} {group}:{key} {problem}"
    return None


def manifests(key: str) -> Check:
    """The ``key`` list of every entry of a mapping (gpu_stack:jetpacks:*:artifacts)."""

    def check(value: Any) -> str | None:
        if not isinstance(value, dict):
            return f"must be a mapping, got {type(value).__name__} {value!r}"
        for name, entry in value.items():
            problem = manifest(entry[key]) if isinstance(entry, dict) and key in entry else None
            if problem:
                return f"{name!r} {key}: {problem}"
        return None

    return check


def python_sources(value: Any) -> str | None:
    """Each Python source's debs, and the apt line and key URL its states hand to apt: a signed
    https (or local) repository, never an option like [trusted=yes]."""
    problem = manifests("debs")(value)
    if problem:
        return problem
    checks = {"repo": pattern(APT_LINE, "an apt line 'deb https://HOST/PATH SUITE COMPONENT...'"),
              "key_url": pattern(f"{HTTPS_URL}|salt://{REL_PATH}", "an https:// or salt:// URL")}
    for name, entry in value.items():
        for key, check in checks.items():
            problem = check(entry[key]) if isinstance(entry, dict) and entry.get(key) is not None else None
            if problem:
                return f"{name!r} {key}: {problem}"
    return None


_USER = pattern(NAME, "a user name")
_ABS = pattern(ABS_PATH, "an absolute path of plain names")
_MOUNT_OPTIONS = list_of(pattern(MOUNT_OPTION, "a mount option"))


def share_mount_options(value: Any) -> str | None:
    """Options of a mount that holds the users' data: never honour setuid bits or device nodes
    (with sec=sys a LAN host that claims a node's IP can write them as any uid but root)."""
    problem = _MOUNT_OPTIONS(value)
    if problem:
        return problem
    missing = [option for option in ("nosuid", "nodev") if option not in value]
    return f"must include {', '.join(missing)}, got {value!r}" if missing else None

# pillar key -> check. One place: extend it when a formula gets a key that reaches a shell or file.
FIELDS: dict[str, Check] = {
    "cluster_user:name": _USER,
    "cluster_user:uid": integer(1000, 59999),
    "cluster_user:gid": integer(1000, 59999),
    "cluster_user:groups": list_of(admin_group_refused),
    "cluster_user:shell": _ABS,
    "cluster_user:home": _ABS,
    "cluster_user:home_mode": pattern(r"07[0-5][0-5]", "a quoted octal mode like '0750', not group/other-writable"),
    "cluster_user:password_hash": pattern(CRYPT_HASH, "a crypt(3) hash ($6$salt$hash)", True, True),
    "cluster_user:packages": list_of(pattern(PACKAGE, "a package name")),
    "cluster_user:sudo_group": boolean,
    "cluster_user:lock_accounts": list_of(pattern(NAME, "a user name")),
    "swap:file": _ABS,
    "swap:size_mb": integer(1, 262144),
    "swap:activate": boolean,
    "nfs:version": choice("auto", *NFS_VERSIONS, None),
    "nfs:unknown_server_versions": list_of(choice(*NFS_VERSIONS)),
    "nfs:mount_now": boolean,
    "nfs:export_to": choice("nodes", "subnet"),
    "nfs:export_options": list_of(export_option),
    "nfs:server:enabled": boolean,
    "nfs:server:device": pattern(DEVICE, "a whole-disk /dev path", nullable=True),
    "nfs:server:format_device": boolean,
    "nfs:server:fs_label": pattern(r"[A-Za-z0-9_-]{1,16}", "an ext4 label (16 chars)"),
    "nfs:server:mountpoint": _ABS,
    "nfs:server:data_dir": pattern(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}", "a directory name under the export"),
    "nfs:server:unit": pattern(r"[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}\.service", "a systemd service unit"),
    "nfs:server:mount_options": share_mount_options,
    "nfs:server:fsid": integer(1, 255),
    "nfs:server:client_ips": list_of(pattern(IPV4, "an IPv4 address")),
    "nfs:server:subnet": pattern(CIDR, "a CIDR like 10.10.0.0/24", nullable=True),
    "nfs:client:owner": _USER,
    "nfs:client:options": share_mount_options,
    "nfs:client:bind_options": share_mount_options,
    "nfs:client:services": list_of(pattern(r"[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}", "a systemd unit name")),
    "sudoers:user": _USER,
    "sudoers:dir": _ABS,
    "sudoers:visudo": _ABS,
    "sudoers:files": sudoers_files,
    "hosts:hostname": pattern(HOSTNAME, "a host name", nullable=True),
    "hosts:entries": host_entries,
    "ssh_mesh:user": _USER,
    "ssh_mesh:home": _ABS,
    "ssh_mesh:key_type": choice("ed25519", "ecdsa", "rsa"),
    "gpu_stack:enabled": boolean,
    "gpu_stack:install_without_gpu": boolean,
    "gpu_stack:jetpack": pattern(r"[0-9]{1,2}\.[0-9]{1,2}", "a quoted JetPack version like '3.1'"),
    "gpu_stack:nvpmodel_mode": integer(0, 9, nullable=True),
    "gpu_stack:package_mount": pattern(ABS_PATH, "an absolute path", nullable=True),
    "gpu_stack:package_dir": pattern(ABS_PATH, "an absolute path", nullable=True),
    "gpu_stack:venv": _ABS,
    "gpu_stack:apt_keyring_dir": _ABS,
    "gpu_stack:cuda_link": _ABS,
    "gpu_stack:profile_file": _ABS,
    "gpu_stack:ldconf_file": _ABS,
    "gpu_stack:wheel_cache": _ABS,
    "gpu_stack:wheelhouse": manifest,
    "gpu_stack:jetpacks": jetpacks,
    "gpu_stack:python_sources": python_sources,
    "diagnosenet:source": pattern(f"{GIT_URL}|{REL_PATH}", "an https git URL or a relative path", nullable=True),
    "diagnosenet:revision": pattern(r"[0-9a-f]{40}", "a full commit SHA", nullable=True),
    "diagnosenet:target": _ABS,
    "diagnosenet:submodules": boolean,
    "diagnosenet:capture:tegrastats_source": pattern(f"{ABS_PATH}|{REL_PATH}", "a plain path (relative: checkout)"),
    "diagnosenet:capture:tegrastats": _ABS,
    "diagnosenet:capture:wrapper": _ABS,
    "diagnosenet:capture:recorder": _ABS,
}

# Where a top-level key may be set, for the error message (pillar/top.sls order; the site pillar
# lives outside git). Keys derived from the node table say so.
SOURCES = {
    "cluster_user": "pillar/nodes.yaml (name, uid, gid), pillar/stack.sls or the site pillar site.sls",
    "swap": "pillar/stack.sls or the site pillar site.sls",
    "nfs": "pillar/stack.sls, pillar/nodes.yaml (server, client) or the site pillar site.sls",
    "sudoers": "pillar/stack.sls or the site pillar site.sls",
    "hosts": "pillar/nodes.yaml or the site pillar site.sls",
    "ssh_mesh": "pillar/nodes.yaml or the site pillar site.sls",
    "gpu_stack": "pillar/gpu.sls, pillar/nodes.yaml (enabled, package_*) or the site pillar site.sls",
    "diagnosenet": "pillar/gpu.sls or the site pillar site.sls",
}

_ABSENT = object()


def _get(data: Any, path: str) -> Any:
    for key in path.split(":"):
        if not isinstance(data, dict) or key not in data:
            return _ABSENT
        data = data[key]
    return data


def _refused(node: str, path: str, why: str) -> str:
    """One refusal: the pillar file(s) the field may come from, the node, the field and why."""
    return f"{SOURCES[path.split(':')[0]]}: node {node}: field '{path}' {why}"


def problems(pillar: dict[str, Any], node: str) -> list[str]:
    """One message per bad value (and per retired key or broken relation, below)."""
    found = []
    parents = {path.rsplit(":", i)[0] for path in FIELDS for i in range(1, path.count(":") + 1)}
    for parent in sorted(parents):
        value = _get(pillar, parent)
        if value is not _ABSENT and not isinstance(value, dict):
            found.append(_refused(node, parent, f"must be a mapping, got {value!r}"))
    for path, check in FIELDS.items():
        value = _get(pillar, path)
        problem = None if value is _ABSENT else check(value)
        if problem:
            found.append(_refused(node, path, problem))
    return found + retired_problems(pillar, node) + relation_problems(pillar, node)


def user_home(name: str) -> str:
    """The cluster user's home: the one place ``/home/<name>`` is built (jetson_array/nodetable.py
    emits it as pillar cluster_user:home and ssh_mesh:home; the table's NFS mounts live under it)."""
    return f"/home/{name}"


# Keys that no longer do anything, and where their value lives now: set, they would be ignored.
RETIRED = {"gpu_stack:acceptance:min_gflops": "acceptance:references:gpu_gflops:floor"}


def retired_problems(pillar: dict[str, Any], node: str) -> list[str]:
    """One message per RETIRED key the pillar still sets."""
    return [_refused(node, path, f"is retired: set {moved}")
            for path, moved in RETIRED.items() if _get(pillar, path) is not _ABSENT]


def relation_problems(pillar: dict[str, Any], node: str) -> list[str]:
    """One message per field that breaks a relation with the node table's user (pillar
    cluster:user:name): any other home (/etc, /root) or mesh user (root) would hand a system
    folder or root's authorized_keys to the shared user."""
    name = _get(pillar, "cluster:user:name")
    if not isinstance(name, str):
        return []
    wanted = {"cluster_user:home": user_home(name), "ssh_mesh:home": user_home(name), "ssh_mesh:user": name}
    return [
        _refused(node, path, f"must be {want!r} (the node table's user, cluster:user:name), got {value!r}")
        for path, want in wanted.items()
        if (value := _get(pillar, path)) is not _ABSENT and value != want
    ]


class PillarSchemaError(ValueError):
    """The pillar holds a value the schema refuses; the message names file, node and field."""


def check() -> bool:
    """Raise (stopping the render of the calling SLS) if this node's pillar breaks the schema."""
    pillar = __pillar__.value() if hasattr(__pillar__, "value") else __pillar__  # noqa: F821 (loader global)
    found = problems(pillar, __opts__["id"])  # noqa: F821
    if found:
        raise PillarSchemaError("pillar refused by salt/_modules/pillar_schema.py: " + "; ".join(found))
    return True
