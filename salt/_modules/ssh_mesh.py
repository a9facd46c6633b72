"""Build the SSH mesh files from the nodes' published keys: who may log in, which host keys to trust.

The keys come from one of two sources, with the same shape (node name -> mine function -> data):

- the Salt mine (minion path): jetson_array/nodetable.py declares the mine functions
  ``ssh_mesh_user_keys`` (the cluster user's public key of each node) and
  ``ssh_mesh_host_keys`` (each node's public host keys), the same calls as ``published``
  below;
- ``keys``: the pillar ``ssh_mesh:keys`` (agentless path: salt-ssh has no mine), written by
  ``tools/mesh_keys.py`` from ``published()`` of every node, passed in by the formula
  (under salt-ssh this module runs on the node, which has no master pillar). When it is
  given it is the only source.

What is published is never a file of the user's choosing: ``publish`` (state ssh_mesh.keys)
reads the one named public key file of the user without following a link (owned by the user,
a regular file, small, exactly one public key line) and writes that key to a root-owned copy
(pillar ``ssh_mesh:published_key``); the mine and ``published`` read only that copy. Whatever
the mine or the collected keys say, every line that reaches a mesh file is parsed as a public
key first (``parse_key``): anything else is dropped. Peers come from the node table, so a key
of a host that is not in the table is never trusted.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import logging
import os
import pwd
import re
import stat

USER_KEYS = "ssh_mesh_user_keys"
HOST_KEYS = "ssh_mesh_host_keys"
# Key types of OpenSSH 7.2 (Ubuntu 16.04) -> how many length-prefixed fields their blob holds.
KEY_FIELDS = {
    "ssh-ed25519": 2,
    "ssh-rsa": 3,
    "ssh-dss": 5,
    "ecdsa-sha2-nistp256": 3,
    "ecdsa-sha2-nistp384": 3,
    "ecdsa-sha2-nistp521": 3,
}
MAX_KEY_FILE = 16384  # bytes; an RSA-16384 public key is under 3 KiB
COMMENT = re.compile(r"[A-Za-z0-9@._+:=-]{1,128}")
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*")  # RFC 1123

log = logging.getLogger(__name__)


class KeyFileError(ValueError):
    """A public key file or pillar key that must not be published or trusted; the message says why."""


def _fields(blob: bytes) -> list[bytes] | None:
    """The SSH wire-format strings (uint32 length + bytes) that make up ``blob`` exactly, or None."""
    fields, at = [], 0
    while at < len(blob):
        size = int.from_bytes(blob[at:at + 4], "big")
        if at + 4 > len(blob) or at + 4 + size > len(blob):
            return None
        fields.append(blob[at + 4:at + 4 + size])
        at += 4 + size
    return fields


def parse_key(line: str) -> str | None:
    """'type base64' of one public key line ('type base64 [comment]'), or None unless the blob
    decodes into the fields of a known key type whose embedded type is the named one."""
    words = line.split() if isinstance(line, str) and "\n" not in line.strip() else []
    if len(words) < 2 or words[0] not in KEY_FIELDS or len(line) > MAX_KEY_FILE:
        return None
    try:
        blob = base64.b64decode(words[1], validate=True)
    except (binascii.Error, ValueError):
        return None
    fields = _fields(blob)
    if not fields or len(fields) != KEY_FIELDS[words[0]] or fields[0] != words[0].encode():
        return None
    if words[0] == "ssh-ed25519" and len(fields[1]) != 32:
        return None
    if words[0].startswith("ecdsa-") and fields[1] != words[0].rsplit("-", 1)[1].encode():
        return None
    return f"{words[0]} {words[1]}"


def key_lines(text: object, where: str) -> list[str]:
    """The public keys in a mine/collected value (one key file's text), each parsed; the rest is
    dropped, with a warning naming ``where``."""
    keys = []
    for line in str(text or "").splitlines():
        key = parse_key(line)
        if key:
            keys.append(key)
        elif line.strip():
            log.warning("ssh_mesh: %s: dropped a line that is not a public key", where)
    return keys


def read_public_key(path: str, user: str) -> str:
    """The one public key in ``path``, which must be a regular file owned by ``user``, not a
    link, at most MAX_KEY_FILE bytes, holding exactly one public key line; else KeyFileError."""
    uid = pwd.getpwnam(user).pw_uid
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as err:
        why = "is a symbolic link" if os.path.islink(path) else err.strerror
        raise KeyFileError(f"{path} {why}: not published") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise KeyFileError(f"{path} is not a regular file: not published")
        if info.st_uid != uid:
            raise KeyFileError(f"{path} is owned by uid {info.st_uid}, not by {user} ({uid}): not published")
        data = handle.read(MAX_KEY_FILE + 1)
    lines = [line for line in data.decode("utf-8", "replace").splitlines() if line.strip()]
    key = parse_key(lines[0]) if len(data) <= MAX_KEY_FILE and len(lines) == 1 else None
    if not key:
        raise KeyFileError(f"{path} does not hold exactly one public key line: not published")
    return key


def publish(user: str, source: str, dest: str) -> dict:
    """Write the checked key of ``source`` to ``dest`` (root-owned, 0644): what the mine reads."""
    node = __opts__.get("id", "?")  # noqa: F821 (Salt dunder)
    try:
        key = read_public_key(source, user)
    except (KeyFileError, KeyError) as err:
        return {"result": False, "comment": f"ssh_mesh on {node}: {err}"}
    os.makedirs(os.path.dirname(dest), mode=0o755, exist_ok=True)
    tmp = f"{dest}.tmp"
    if os.path.lexists(tmp):
        os.unlink(tmp)
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644), "w") as handle:
        handle.write(key + "\n")
    os.replace(tmp, dest)
    return {"result": True, "comment": f"ssh_mesh on {node}: published {source} as {dest}"}


def is_published(user: str, source: str, dest: str) -> bool:
    """True when ``dest`` is a root-owned file holding exactly the checked key of ``source``."""
    try:
        key = read_public_key(source, user)
        info = os.lstat(dest)
        with open(dest, encoding="ascii") as handle:
            text = handle.read()
    except (KeyFileError, KeyError, OSError, UnicodeDecodeError):
        return False
    return stat.S_ISREG(info.st_mode) and info.st_uid == 0 and text == key + "\n"


def _mine(peers: list[dict], fun: str, keys: dict | None) -> dict:
    names = [peer["name"] for peer in peers]
    if not names:
        return {}
    if keys is not None:
        return {name: (keys.get(name) or {}).get(fun) for name in names}
    return __salt__["mine.get"](",".join(names), fun, tgt_type="list") or {}  # noqa: F821


def published(user: str, pubfile: str) -> dict:
    """What this node's mesh mine functions send (jetson_array/nodetable.py declares the same calls),
    in one call: tools/mesh_keys.py collects it over salt-ssh (a remote execution module
    sees no master pillar there, hence ``user`` and ``pubfile``, the root-owned copy that
    ``publish`` wrote). Public keys only, no certificates."""
    return {
        USER_KEYS: __salt__["ssh.user_keys"](user=user, pubfile=pubfile, prvfile=False),  # noqa: F821
        HOST_KEYS: __salt__["ssh.host_keys"](keydir="/etc/ssh", private=False, certs=False),  # noqa: F821
    }


def authorized_keys(peers: list[dict], user: str, keys: dict | None = None) -> list[str]:
    """One line per public key a peer has published, in table order, tagged with its name."""
    data = _mine(peers, USER_KEYS, keys)
    lines = []
    for peer in peers:
        per_user = (data.get(peer["name"]) or {}).get(user) or {}
        found = [key for text in per_user.values() for key in key_lines(text, f"user key of {peer['name']}")]
        lines += [f"{key} {user}@{peer['name']}" for key in sorted(set(found))]
    return lines


def known_hosts(peers: list[dict], keys: dict | None = None) -> list[str]:
    """'name,ip type base64' for every public host key of every peer, in table order."""
    data = _mine(peers, HOST_KEYS, keys)
    lines = []
    for peer in peers:
        host_keys = data.get(peer["name"]) or {}
        for fname in sorted(host_keys):
            if fname.endswith(".pub"):
                for key in key_lines(host_keys[fname], f"host key {fname} of {peer['name']}"):
                    lines.append(f"{peer['name']},{peer['ip']} {key}")
    return lines


def extra_authorized_keys(entries: list) -> list[str]:
    """Pillar ``ssh_mesh:extra_authorized_keys`` (e.g. an operator's key), each checked: a public
    key line with at most a plain comment (default ``extra-<index>``); KeyFileError names the
    first bad entry."""
    lines = []
    for index, entry in enumerate(entries or []):
        where = f"pillar ssh_mesh:extra_authorized_keys[{index}]"
        key = parse_key(entry) if isinstance(entry, str) else None
        if not key:
            raise KeyFileError(f"{where}: not one public key line ('type base64 [comment]', type one of "
                               f"{', '.join(KEY_FIELDS)})")
        comment = entry.split()[2:]
        if len(comment) > 1 or (comment and not COMMENT.fullmatch(comment[0])):
            raise KeyFileError(f"{where}: the comment must be one word of {COMMENT.pattern}")
        lines.append(" ".join([key, *(comment or [f"extra-{index}"])]))
    return lines


def ipv4_ok(text: object) -> bool:
    """A dotted-quad IPv4 address, written canonically."""
    try:
        return isinstance(text, str) and str(ipaddress.IPv4Address(text)) == text
    except ValueError:
        return False


def host_name_ok(name: object) -> bool:
    """A hostname (RFC 1123 labels) or an IPv4 address: what may stand in a hosts or known_hosts line."""
    return isinstance(name, str) and bool(HOSTNAME.fullmatch(name) or ipv4_ok(name))


def extra_known_hosts(entries: list) -> list[str]:
    """Pillar ``ssh_mesh:extra_known_hosts`` ([{names: [host or IP, ...], key: 'type base64'}]),
    each checked; KeyFileError names the first bad entry."""
    lines = []
    for index, entry in enumerate(entries or []):
        where = f"pillar ssh_mesh:extra_known_hosts[{index}]"
        names = entry.get("names") if isinstance(entry, dict) else None
        if not isinstance(names, list) or not names or not all(host_name_ok(n) for n in names):
            raise KeyFileError(f"{where}: 'names' must be a non-empty list of host names or IPv4 addresses")
        key = parse_key(entry.get("key")) if isinstance(entry.get("key"), str) else None
        if not key:
            raise KeyFileError(f"{where}: 'key' is not a public key ('type base64', type one of "
                               f"{', '.join(KEY_FIELDS)})")
        lines.append(f"{','.join(names)} {key}")
    return lines


def extra_hosts(entries: list, taken: list[str]) -> list[str]:
    """Pillar ``hosts:extra_entries`` ([{ip: IPv4, names: [host, ...]}], e.g. the salt-master) as
    /etc/hosts lines (formula hosts; the same name rule as known_hosts). A name of ``taken`` (the
    table's) is refused: each table name resolves to its table IP only. KeyFileError names the entry."""
    lines = []
    for index, entry in enumerate(entries or []):
        where = f"pillar hosts:extra_entries[{index}]"
        ip = entry.get("ip") if isinstance(entry, dict) else None
        names = entry.get("names") if isinstance(entry, dict) else None
        if not ipv4_ok(ip):
            raise KeyFileError(f"{where}: 'ip' must be an IPv4 address")
        if not isinstance(names, list) or not names or not all(host_name_ok(n) and not ipv4_ok(n) for n in names):
            raise KeyFileError(f"{where}: 'names' must be a non-empty list of host names")
        clash = sorted(set(names) & set(taken))
        if clash:
            raise KeyFileError(f"{where}: {', '.join(clash)} is a node of the table")
        lines.append(" ".join([ip, *names]))
    return lines
