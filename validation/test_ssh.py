"""SSH: authorized_keys holds exactly the cluster's keys (as published: the root-owned copy of
each node's checked key) and the pillar's extra keys, every node's host keys and the extra
known hosts are pinned, and the user reaches its peers with strict host key checking and no
prompt."""

from typing import Any

from validation import parse
from validation.session import Node, State


def test_authorized_keys_hold_exactly_the_cluster_keys(node: Node, state: State, record: Any) -> None:
    have = parse.key_lines(node.probe("authorized_keys").out)
    table = [peer["name"] for peer in node.pillar["ssh_mesh"]["peers"]]
    extra = {parse.key_of(line) for line in node.formula("ssh_mesh")["extra_authorized_keys"]}
    known = {name: parse.key_of(state.node(name).probe("user_key").out) for name in state.reachable()}
    record(keys=len(have), nodes=len(table), extra=len(extra))
    want = len(table) + len(extra)
    wrong = [f"{len(have)} keys for {len(table)} nodes + {len(extra)} extra"] if len(have) != want else []
    keys = {key for _comment, key in have}
    wrong += [f"{peer}'s key is missing" for peer, key in known.items() if key and key not in keys]
    wrong += [f"extra key {key[:40]}... is missing" for key in sorted(extra - keys)]
    foreign = keys - {key for key in known.values() if key} - extra
    if len(known) == len(table):  # every node was reached: any other key is foreign
        wrong += [f"foreign key {key[:40]}..." for key in sorted(foreign)]
    assert not wrong, f"{node.name}: authorized_keys of {node.user}: " + "; ".join(wrong)


def test_known_hosts_pin_every_node_by_name_and_ip(node: Node, state: State, record: Any) -> None:
    path = node.formula("ssh_mesh")["known_hosts_file"]
    pinned: dict[str, set[str]] = {}
    for hosts, key in parse.key_lines(node.probe("known_hosts").out):
        for host in hosts.split(","):
            pinned.setdefault(host, set()).add(key)
    wrong = []
    for peer in node.pillar["ssh_mesh"]["peers"]:
        actual = host_keys(state, peer["name"])
        for host in (peer["name"], peer["ip"]):
            if host not in pinned:
                wrong.append(f"{host} missing")
            elif actual and not actual <= pinned[host]:
                wrong.append(f"{host} pins other keys than {peer['name']} has")
    for entry in node.formula("ssh_mesh")["extra_known_hosts"]:
        key = parse.key_of(entry["key"])
        wrong += [f"{host} (extra) does not pin {key[:40]}..." for host in entry["names"]
                  if key not in pinned.get(host, set())]
    record(pinned_hosts=len(pinned))
    assert not wrong, f"{node.name}: {path}: " + "; ".join(wrong)


def host_keys(state: State, name: str) -> set[str]:
    """The public host keys the preflight read on ``name`` (empty if it was not reached)."""
    if name not in state.reachable():
        return set()
    return {parse.key_of(line) for line in state.node(name).probe("host_keys").out.splitlines() if line.strip()}


def test_user_reaches_peers_with_strict_host_keys(node: Node, state: State, record: Any) -> None:
    """By name, as MPI does (every name and IP is pinned in known_hosts: checked above). The
    hops ran in the preflight, every node's at once (validation/probes.py)."""
    peers = state.peers(node.name)
    answers = dict(line.split(" ", 1) for line in node.probe("mesh").out.splitlines() if " " in line)
    record(answers=answers)
    wrong = [f"{peer}: {answers.get(peer, 'no answer')!r}" for peer in peers if answers.get(peer) != peer]
    assert not wrong, f"{node.name}: ssh as {node.user} with BatchMode and strict keys: " + "; ".join(wrong)
