"""salt/_modules/ssh_mesh.py: the mesh files come from the mine (or the keys collected over
salt-ssh), only for nodes of the table."""

from __future__ import annotations

import importlib.util
import sys

import pytest
from saltrender import PILLAR, REPO

sys.path.insert(0, str(PILLAR))
import nodetable  # noqa: E402

PEERS = [{"name": "astro0", "ip": "10.10.0.100"}, {"name": "astro1", "ip": "10.10.0.101"}]
MINE = {
    "ssh_mesh_user_keys": {
        "astro0": {"mpiuser": {"id_ed25519.pub": "ssh-ed25519 AAAAzero mpiuser@astro0"}},
        "astro1": {"mpiuser": {"id_ed25519.pub": "ssh-ed25519 AAAAone  comment with spaces"}},
        "intruder": {"mpiuser": {"id_ed25519.pub": "ssh-ed25519 AAAAevil x"}},
    },
    "ssh_mesh_host_keys": {
        "astro0": {"ed25519.pub": "ssh-ed25519 HOSTzero root@astro0", "rsa.pub": "ssh-rsa HOSTrsa0"},
        "astro1": {"ed25519.pub": "ssh-ed25519 HOSTone root@astro1"},
    },
}


@pytest.fixture
def mesh():
    spec = importlib.util.spec_from_file_location("ssh_mesh", REPO / "salt" / "_modules" / "ssh_mesh.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def mine_get(tgt, fun, tgt_type):
        assert tgt_type == "list"
        return {name: data for name, data in MINE[fun].items() if name in tgt.split(",")}

    module.__salt__ = {"mine.get": mine_get}
    return module


def test_authorized_keys_lists_each_peer_once_and_never_a_stranger(mesh):
    assert mesh.authorized_keys(PEERS, "mpiuser") == [
        "ssh-ed25519 AAAAzero mpiuser@astro0",
        "ssh-ed25519 AAAAone mpiuser@astro1",
    ]


def test_known_hosts_pins_every_host_key_under_name_and_ip(mesh):
    assert mesh.known_hosts(PEERS) == [
        "astro0,10.10.0.100 ssh-ed25519 HOSTzero",
        "astro0,10.10.0.100 ssh-rsa HOSTrsa0",
        "astro1,10.10.0.101 ssh-ed25519 HOSTone",
    ]


def test_a_peer_without_keys_in_the_mine_is_left_out(mesh):
    peers = [*PEERS, {"name": "astro2", "ip": "10.10.0.102"}]
    assert mesh.authorized_keys(peers, "mpiuser")[-1].endswith("mpiuser@astro1")
    assert not any(line.startswith("astro2,") for line in mesh.known_hosts(peers))


def test_collected_keys_are_the_only_source_when_given(mesh):
    def no_mine(*args, **kwargs):
        raise AssertionError("the mine was asked although collected keys were given")

    mesh.__salt__["mine.get"] = no_mine
    keys = {name: {fun: MINE[fun][name] for fun in MINE if name in MINE[fun]}
            for name in ("astro0", "astro1", "intruder")}
    assert mesh.authorized_keys(PEERS, "mpiuser", keys) == [
        "ssh-ed25519 AAAAzero mpiuser@astro0",
        "ssh-ed25519 AAAAone mpiuser@astro1",
    ]
    assert mesh.known_hosts(PEERS, keys)[-1] == "astro1,10.10.0.101 ssh-ed25519 HOSTone"
    # collected, but not these peers: nothing (the guard state then refuses), never the mine
    assert mesh.authorized_keys(PEERS, "mpiuser", {}) == [] and mesh.known_hosts(PEERS, {}) == []


def test_published_makes_the_same_calls_as_the_mine_functions_of_the_table(mesh):
    calls = []

    def record(name):
        return lambda **kwargs: calls.append((name, kwargs)) or {name: "keys"}

    mesh.__salt__ = {"ssh.user_keys": record("ssh.user_keys"), "ssh.host_keys": record("ssh.host_keys")}
    declared = nodetable.pillar_for(nodetable.load(None), "astro3")["mine_functions"]
    mine_calls = [(spec["mine_function"], {k: v for k, v in spec.items() if k != "mine_function"})
                  for spec in (declared["ssh_mesh_user_keys"], declared["ssh_mesh_host_keys"])]
    assert mesh.published("mpiuser") == {"ssh_mesh_user_keys": {"ssh.user_keys": "keys"},
                                         "ssh_mesh_host_keys": {"ssh.host_keys": "keys"}}
    assert calls == mine_calls, "salt-ssh (published) and the mine would collect different keys"
    assert mine_calls[0][1]["prvfile"] is False and mine_calls[1][1]["private"] is False
