"""Build the SSH mesh files from the nodes' published keys: who may log in, which host keys to trust.

The keys come from one of two sources, with the same shape (node name -> mine function -> data):

- the Salt mine (minion path): pillar/nodetable.py declares the mine functions
  ``ssh_mesh_user_keys`` (the cluster user's public keys of each node) and
  ``ssh_mesh_host_keys`` (each node's public host keys), the same calls as ``published``
  below;
- ``keys``: the pillar ``ssh_mesh:keys`` (agentless path: salt-ssh has no mine), written by
  ``salt/ssh/mesh_keys.py`` from ``published()`` of every node, passed in by the formula
  (under salt-ssh this module runs on the node, which has no master pillar). When it is
  given it is the only source.

Peers come from the node table, so a key of a host that is not in the table is never trusted.
"""

from __future__ import annotations

USER_KEYS = "ssh_mesh_user_keys"
HOST_KEYS = "ssh_mesh_host_keys"


def _mine(peers: list[dict], fun: str, keys: dict | None) -> dict:
    names = [peer["name"] for peer in peers]
    if not names:
        return {}
    if keys is not None:
        return {name: (keys.get(name) or {}).get(fun) for name in names}
    return __salt__["mine.get"](",".join(names), fun, tgt_type="list") or {}  # noqa: F821


def _key(line: str) -> str:
    """'type base64 [comment]' -> 'type base64' (comments differ, keys do not)."""
    return " ".join(line.split()[:2])


def published(user: str) -> dict:
    """What this node's mesh mine functions send (pillar/nodetable.py declares the same calls),
    in one call: salt/ssh/mesh_keys.py collects it over salt-ssh (a remote execution module
    sees no master pillar there, hence ``user``). Public keys only, no certificates."""
    return {
        USER_KEYS: __salt__["ssh.user_keys"](user=user, prvfile=False),  # noqa: F821
        HOST_KEYS: __salt__["ssh.host_keys"](keydir="/etc/ssh", private=False, certs=False),  # noqa: F821
    }


def authorized_keys(peers: list[dict], user: str, keys: dict | None = None) -> list[str]:
    """One line per peer that has published a key, in table order, tagged with its name."""
    data = _mine(peers, USER_KEYS, keys)
    lines = []
    for peer in peers:
        for key in sorted((data.get(peer["name"]) or {}).get(user, {}).values()):
            lines.append(f"{_key(key)} {user}@{peer['name']}")
    return lines


def known_hosts(peers: list[dict], keys: dict | None = None) -> list[str]:
    """'name,ip type base64' for every public host key of every peer, in table order."""
    data = _mine(peers, HOST_KEYS, keys)
    lines = []
    for peer in peers:
        keys = data.get(peer["name"]) or {}
        for fname in sorted(keys):
            if fname.endswith(".pub") and keys[fname]:
                lines.append(f"{peer['name']},{peer['ip']} {_key(keys[fname])}")
    return lines
