"""Build the SSH mesh files from the Salt mine: who may log in, which host keys to trust.

The mine functions are declared in pillar by pillar/nodetable.py (``mine_functions``):
``ssh_mesh_user_keys`` (the cluster user's public key of each node) and
``ssh_mesh_host_keys`` (each node's public host keys). Peers come from the node table,
so a key of a minion that is not in the table is never trusted.
"""

from __future__ import annotations

USER_KEYS = "ssh_mesh_user_keys"
HOST_KEYS = "ssh_mesh_host_keys"


def _mine(peers: list[dict], fun: str) -> dict:
    names = [peer["name"] for peer in peers]
    if not names:
        return {}
    return __salt__["mine.get"](",".join(names), fun, tgt_type="list") or {}  # noqa: F821


def _key(line: str) -> str:
    """'type base64 [comment]' -> 'type base64' (comments differ, keys do not)."""
    return " ".join(line.split()[:2])


def authorized_keys(peers: list[dict], user: str) -> list[str]:
    """One line per peer that has published a key, in table order, tagged with its name."""
    data = _mine(peers, USER_KEYS)
    lines = []
    for peer in peers:
        for key in sorted((data.get(peer["name"]) or {}).get(user, {}).values()):
            lines.append(f"{_key(key)} {user}@{peer['name']}")
    return lines


def known_hosts(peers: list[dict]) -> list[str]:
    """'name,ip type base64' for every public host key of every peer, in table order."""
    data = _mine(peers, HOST_KEYS)
    lines = []
    for peer in peers:
        keys = data.get(peer["name"]) or {}
        for fname in sorted(keys):
            if fname.endswith(".pub") and keys[fname]:
                lines.append(f"{peer['name']},{peer['ip']} {_key(keys[fname])}")
    return lines

