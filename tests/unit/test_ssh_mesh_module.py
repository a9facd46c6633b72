"""salt/_modules/ssh_mesh.py: the mesh files come from the mine (or the keys collected over
salt-ssh), only for nodes of the table, only lines that parse as public keys; what a node
publishes is one named key file of the user, read without following a link."""

from __future__ import annotations

import base64
import importlib.util
import os
import subprocess
from pathlib import Path

import pytest
from saltrender import PILLAR, REPO
from sshd import public_key

from jetson_array import nodetable

ZERO, ONE, EVIL = public_key("zero"), public_key("one"), public_key("evil")
HOST0, HOST0B, HOST1 = public_key("host0"), public_key("host0b"), public_key("host1")
SHADOW = "root:$6$salt$hash:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::"
PEERS = [{"name": "astro0", "ip": "10.10.0.100"}, {"name": "astro1", "ip": "10.10.0.101"}]
MINE = {
    "ssh_mesh_user_keys": {
        "astro0": {"mpiuser": {"mpiuser.pub": f"{ZERO} mpiuser@astro0"}},
        "astro1": {"mpiuser": {"mpiuser.pub": f"{ONE}  comment with spaces"}},
        "intruder": {"mpiuser": {"mpiuser.pub": f"{EVIL} x"}},
    },
    "ssh_mesh_host_keys": {
        "astro0": {"ed25519.pub": f"{HOST0} root@astro0", "rsa.pub": HOST0B},
        "astro1": {"ed25519.pub": f"{HOST1} root@astro1"},
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
    assert mesh.authorized_keys(PEERS, "mpiuser") == [f"{ZERO} mpiuser@astro0", f"{ONE} mpiuser@astro1"]


def test_known_hosts_pins_every_host_key_under_name_and_ip(mesh):
    assert mesh.known_hosts(PEERS) == [
        f"astro0,10.10.0.100 {HOST0}",
        f"astro0,10.10.0.100 {HOST0B}",
        f"astro1,10.10.0.101 {HOST1}",
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
    assert mesh.authorized_keys(PEERS, "mpiuser", keys) == [f"{ZERO} mpiuser@astro0", f"{ONE} mpiuser@astro1"]
    assert mesh.known_hosts(PEERS, keys)[-1] == f"astro1,10.10.0.101 {HOST1}"
    # collected, but not these peers: nothing (the guard state then refuses), never the mine
    assert mesh.authorized_keys(PEERS, "mpiuser", {}) == [] and mesh.known_hosts(PEERS, {}) == []


def test_published_makes_the_same_calls_as_the_mine_functions_of_the_table(mesh):
    calls = []

    def record(name):
        return lambda **kwargs: calls.append((name, kwargs)) or {name: "keys"}

    mesh.__salt__ = {"ssh.user_keys": record("ssh.user_keys"), "ssh.host_keys": record("ssh.host_keys")}
    pillar = nodetable.pillar_for(nodetable.load(None), "astro3")
    declared, pubfile = pillar["mine_functions"], pillar["ssh_mesh"]["published_key"]
    mine_calls = [(spec["mine_function"], {k: v for k, v in spec.items() if k != "mine_function"})
                  for spec in (declared["ssh_mesh_user_keys"], declared["ssh_mesh_host_keys"])]
    assert mesh.published("mpiuser", pubfile) == {"ssh_mesh_user_keys": {"ssh.user_keys": "keys"},
                                                  "ssh_mesh_host_keys": {"ssh.host_keys": "keys"}}
    assert calls == mine_calls, "salt-ssh (published) and the mine would collect different keys"
    assert mine_calls[0][1]["prvfile"] is False and mine_calls[1][1]["private"] is False
    # one named file, the root-owned copy: never ~/.ssh/id_*.pub, which the user can point anywhere
    assert mine_calls[0][1]["pubfile"] == pubfile and pubfile.startswith("/var/lib/")


# --- what the consumer accepts, whatever the mine says ----------------------------------------

@pytest.mark.parametrize("text", [
    SHADOW,                                                   # a link to /etc/shadow, read as root
    "ssh-ed25519 not-base64!",                                # type + garbage
    "ssh-ed25519 " + base64.b64encode(b"AAAA").decode(),      # decodes, but no key fields
    public_key("x").replace("ssh-ed25519", "ssh-rsa", 1),     # embedded type differs from the named one
    'from="*" ' + public_key("x"),                            # options: never from the mine
    "ssh-ed25519-cert-v01@openssh.com " + public_key("x").split()[1],
], ids=["shadow", "garbage", "no-fields", "type-differs", "options", "certificate"])
def test_the_consumer_drops_every_line_that_is_not_a_public_key(mesh, text):
    mesh.__salt__["mine.get"] = lambda tgt, fun, tgt_type: {
        "astro0": {"mpiuser": {"mpiuser.pub": text}} if fun == "ssh_mesh_user_keys" else {"ed25519.pub": text}}
    assert mesh.authorized_keys(PEERS[:1], "mpiuser") == []
    assert mesh.known_hosts(PEERS[:1]) == []


def test_a_key_file_with_a_leaked_line_keeps_only_the_key(mesh):
    mine = {"astro0": {"mpiuser": {"id_rsa.pub": f"{SHADOW}\n{ZERO} mpiuser@astro0"}}}
    mesh.__salt__["mine.get"] = lambda tgt, fun, tgt_type: mine
    assert mesh.authorized_keys(PEERS[:1], "mpiuser") == [f"{ZERO} mpiuser@astro0"]


def test_real_openssh_keys_parse(mesh, tmp_path):
    for kind in ("ed25519", "rsa", "ecdsa", "dsa"):
        path = tmp_path / f"id_{kind}"
        subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", str(path)], check=True)
        line = path.with_suffix(".pub").read_text().strip()
        assert mesh.parse_key(line) == " ".join(line.split()[:2]), kind


# --- the publisher: one named file of the user, read without following a link ----------------

@pytest.fixture
def user_pub(tmp_path) -> Path:
    """A good ~/.ssh/id_ed25519.pub of the user 'nobody' (owned by that user)."""
    (tmp_path / "home" / ".ssh").mkdir(parents=True)
    pub = tmp_path / "home" / ".ssh" / "id_ed25519.pub"
    pub.write_text(f"{ZERO} nobody@astro0\n")
    os.chown(pub, 65534, 65534)
    return pub


def _publish(mesh, pub: Path, dest: Path) -> dict:
    mesh.__opts__ = {"id": "astro3"}
    return mesh.publish("nobody", str(pub), str(dest))


def test_publish_writes_the_checked_key_to_a_root_owned_copy(mesh, user_pub, tmp_path):
    dest = tmp_path / "published" / "nobody.pub"
    assert mesh.is_published("nobody", str(user_pub), str(dest)) is False
    result = _publish(mesh, user_pub, dest)
    assert result["result"] is True, result
    assert dest.read_text() == ZERO + "\n" and dest.stat().st_uid == 0
    assert mesh.is_published("nobody", str(user_pub), str(dest)) is True


@pytest.mark.parametrize("attack", ["link-to-root-only-file", "link-to-dev-zero", "fifo", "root-owned",
                                    "huge", "two-keys", "not-a-key"])
def test_publish_refuses_what_the_user_points_it_at(mesh, user_pub, tmp_path, attack):
    """Each is refused naming the node; nothing is published (a link to /dev/zero or a FIFO
    would hang a reader that follows it: the call returns at once)."""
    secret = tmp_path / "root-only"
    secret.write_text(SHADOW + "\n")
    secret.chmod(0o600)
    user_pub.unlink()
    if attack == "link-to-root-only-file":
        user_pub.symlink_to(secret)
    elif attack == "link-to-dev-zero":
        user_pub.symlink_to("/dev/zero")
    elif attack == "fifo":
        os.mkfifo(user_pub)
    else:
        user_pub.write_text({"root-owned": f"{ZERO}\n", "huge": f"{ZERO} " + "x" * 20000 + "\n",
                             "two-keys": f"{ZERO}\n{ONE}\n", "not-a-key": SHADOW + "\n"}[attack])
    if attack != "root-owned" and not user_pub.is_symlink():
        os.chown(user_pub, 65534, 65534)
    dest = tmp_path / "published" / "nobody.pub"
    result = _publish(mesh, user_pub, dest)
    assert result["result"] is False and result["comment"].startswith("ssh_mesh on astro3: "), result
    assert str(user_pub) in result["comment"] and "not published" in result["comment"]
    assert not dest.exists()
    assert mesh.is_published("nobody", str(user_pub), str(dest)) is False


# --- extra entries of the whole-file mesh files and /etc/hosts -------------------------------

def test_extra_authorized_keys_and_known_hosts_are_checked(mesh):
    assert mesh.extra_authorized_keys([f"{ONE} operator@admin", ZERO]) == [f"{ONE} operator@admin",
                                                                           f"{ZERO} extra-1"]
    assert mesh.extra_known_hosts([{"names": ["salt-master", "10.10.0.1"], "key": f"{HOST1} x"}]) == [
        f"salt-master,10.10.0.1 {HOST1}"]
    for bad in ([SHADOW], [f"{ONE} two words"], [f"{ONE} a$(id)"], [f'command="sh" {ONE}'], [{"key": ONE}]):
        with pytest.raises(mesh.KeyFileError, match=r"pillar ssh_mesh:extra_authorized_keys\[0\]"):
            mesh.extra_authorized_keys(bad)
    for bad in ({"names": ["a b"], "key": ONE}, {"names": [], "key": ONE}, {"names": ["h"], "key": "x y"},
                {"names": "salt", "key": ONE}, {"names": ["h$(id)"], "key": ONE}, "salt " + ONE):
        with pytest.raises(mesh.KeyFileError, match=r"pillar ssh_mesh:extra_known_hosts\[0\]"):
            mesh.extra_known_hosts([bad])


def test_extra_hosts_are_checked_and_never_rebind_a_table_name(mesh):
    table = ["astro0", "astro1"]
    assert mesh.extra_hosts([{"ip": "10.10.0.1", "names": ["salt-master", "salt"]}], table) == [
        "10.10.0.1 salt-master salt"]
    for bad, why in [({"ip": "10.10.0.300", "names": ["x"]}, "'ip' must be an IPv4"),
                     ({"ip": "10.10.0.1\n0.0.0.0", "names": ["x"]}, "'ip' must be an IPv4"),
                     ({"ip": "10.10.0.1", "names": ["x y"]}, "'names' must be"),
                     ({"ip": "10.10.0.1", "names": ["10.0.0.2"]}, "'names' must be"),
                     ({"ip": "10.10.0.1", "names": ["astro1"]}, "astro1 is a node of the table"),
                     ("10.10.0.1 salt", "'ip' must be an IPv4")]:
        with pytest.raises(mesh.KeyFileError, match=r"pillar hosts:extra_entries\[0\]: " + why):
            mesh.extra_hosts([bad], table)


def test_mesh_keys_keeps_only_public_key_lines_of_what_nodes_answer():
    """The salt-ssh path (tools/mesh_keys.py) applies the consumer's rule before writing pillar."""

    import mesh_keys

    answers = {"astro0": {mesh_keys.USER_KEYS: {"mpiuser": {"mpiuser.pub": f"{SHADOW}\n{ZERO} x"}},
                          mesh_keys.HOST_KEYS: {"ed25519.pub": f"{HOST0} root@x", "ed25519": "private"}},
               "astro1": {mesh_keys.USER_KEYS: {"mpiuser": {"mpiuser.pub": SHADOW}},
                          mesh_keys.HOST_KEYS: {"ed25519.pub": HOST1}}}
    with pytest.raises(mesh_keys.MeshKeysError, match="astro1: the cluster user has no key yet") as err:
        mesh_keys.check(["astro0", "astro1"], answers)
    assert "root:" not in str(err.value) and "astro0" not in str(err.value)
    keys = mesh_keys.check(["astro0"], answers)
    assert keys["astro0"] == {mesh_keys.USER_KEYS: {"mpiuser": {"mpiuser.pub": ZERO}},
                              mesh_keys.HOST_KEYS: {"ed25519.pub": HOST0}}


# --- rendered: the formulas ssh_mesh and hosts ------------------------------------------------

def _render(tmp_path: Path, site: dict) -> dict:
    """astro0's highstate (real table) with the collected keys of every node and ``site`` merged in."""
    import yaml
    from saltrender import by_id, lowstate

    cluster = nodetable.load()
    keys = {row["name"]: {"ssh_mesh_user_keys": {"mpiuser": {"mpiuser.pub": public_key(f"U{row['name']}")}},
                          "ssh_mesh_host_keys": {"ed25519.pub": public_key(f"H{row['name']}")}}
            for row in cluster["nodes"]}
    doc = {**site, "ssh_mesh": {**site.get("ssh_mesh", {}), "keys": keys}}
    (tmp_path / "site.sls").write_text(yaml.safe_dump(doc))
    return by_id(lowstate("astro0", "ubuntu1604-aarch64", pillar_roots=(PILLAR, tmp_path)))


EXTRAS = {
    "ssh_mesh": {"extra_authorized_keys": [f"{EVIL} operator@admin"],
                 "extra_known_hosts": [{"names": ["salt-master", "10.10.0.250"], "key": HOST1}]},
    "hosts": {"extra_entries": [{"ip": "10.10.0.250", "names": ["salt-master", "salt"]}]},
}


def test_extra_keys_and_hosts_are_kept_in_the_whole_files(tmp_path):
    from saltrender import contents

    chunks = _render(tmp_path, EXTRAS)
    authorized = contents(chunks["ssh-mesh-authorized-keys"]).splitlines()
    assert authorized[-1] == f"{EVIL} operator@admin" and len(authorized) == 1 + 24 + 2
    known = contents(chunks["ssh-mesh-known-hosts"]).splitlines()
    assert known[-1] == f"salt-master,10.10.0.250 {HOST1}"
    hosts = contents(chunks["hosts-file"]).splitlines()
    assert hosts[-1] == "10.10.0.250 salt-master salt"
    assert [line for line in hosts if " astro0" in line] == [f"{nodetable.load()['nodes'][0]['ip']} astro0"]


@pytest.mark.parametrize(("site", "field"), [
    ({"ssh_mesh": {"extra_authorized_keys": [SHADOW.splitlines()[0]]}}, "ssh_mesh:extra_authorized_keys[0]"),
    ({"ssh_mesh": {"extra_known_hosts": [{"names": ["x;id"], "key": ONE}]}}, "ssh_mesh:extra_known_hosts[0]"),
    ({"hosts": {"extra_entries": [{"ip": "10.10.0.250", "names": ["astro3"]}]}}, "hosts:extra_entries[0]"),
], ids=["authorized", "known", "hosts"])
def test_a_bad_extra_entry_stops_the_render_naming_the_field(tmp_path, site, field):
    from saltrender import RenderError

    with pytest.raises(RenderError) as err:
        _render(tmp_path, site)
    assert field in str(err.value)


def test_the_mine_reads_only_the_copy_the_publish_state_checked(tmp_path):
    chunks = _render(tmp_path, {})
    published = nodetable.pillar_for(nodetable.load(), "astro0")["ssh_mesh"]["published_key"]
    call = {k: v for arg in chunks["ssh-mesh-user-key-published"]["ssh_mesh.publish"] for k, v in arg.items()}
    assert call == {"user": "mpiuser", "source": "/home/mpiuser/.ssh/id_ed25519.pub", "dest": published}
    assert chunks["ssh-mesh-user-key-published"]["unless"][0]["fun"] == "ssh_mesh.is_published"
    assert {"module": "ssh-mesh-user-key-published"} in chunks["ssh-mesh-mine-update"]["onchanges"]


# --- the acceptance suite's checks of the mesh files and /etc/hosts (validation/) ------------

def _suite_state(extras: dict, files: dict[str, dict[str, str]]):
    """A two-node suite State whose preflight 'read' ``files`` (probe name -> output) per node."""
    from validation import inventory, session

    peers = [{"name": "tx0", "ip": "10.1.0.10"}, {"name": "tx1", "ip": "10.1.0.11"}]
    pillar = {"cluster_user": {"name": "mpiuser"}, "node": {"gpu": False},
              "ssh_mesh": {"user": "mpiuser", "peers": peers, **extras.get("ssh_mesh", {})},
              "hosts": {"hostname": "tx0", "entries": peers, **extras.get("hosts", {})}}
    names = ["tx0", "tx1"]
    reach = {name: {"ok": True, "probes": {probe: {"rc": 0, "out": out} for probe, out in files[name].items()}}
             for name in names}
    targets = [inventory.Target(name, f"ssh://{name}", {}) for name in names]
    return session.State(targets, {name: pillar for name in names}, reach)


def _files(extra_auth: str = "", extra_known: str = "", extra_hosts: str = "") -> dict[str, dict[str, str]]:
    authorized = f"# Managed\n{ZERO} mpiuser@tx0\n{ONE} mpiuser@tx1\n{extra_auth}"
    known = f"tx0,10.1.0.10 {HOST0}\ntx1,10.1.0.11 {HOST1}\n{extra_known}"
    hosts = f"127.0.0.1 localhost\n10.1.0.10 tx0\n10.1.0.11 tx1\n{extra_hosts}"
    common = {"authorized_keys": authorized, "known_hosts": known, "hosts_file": hosts}
    return {"tx0": {**common, "user_key": ZERO + "\n", "host_keys": HOST0 + "\n"},
            "tx1": {**common, "user_key": ONE + "\n", "host_keys": HOST1 + "\n"}}


SUITE_EXTRAS = {"ssh_mesh": {"extra_authorized_keys": [f"{EVIL} operator@admin"],
                             "extra_known_hosts": [{"names": ["salt-master", "10.1.0.1"], "key": HOST0B}]},
                "hosts": {"extra_entries": [{"ip": "10.1.0.1", "names": ["salt-master"]}]}}


def test_the_suite_passes_the_extra_entries_and_names_a_missing_one():
    from validation import test_names, test_ssh

    def run(state, check, name="tx0"):
        try:
            check(state.node(name), *([state] if check is not test_names.test_hosts_file_keeps_the_extra_entries
                                      else []), lambda **_: None)
        except AssertionError as err:
            return str(err)
        return None

    good = _files(f"{EVIL} operator@admin\n", f"salt-master,10.1.0.1 {HOST0B}\n", "10.1.0.1 salt-master\n")
    state = _suite_state(SUITE_EXTRAS, good)
    for check in (test_ssh.test_authorized_keys_hold_exactly_the_cluster_keys,
                  test_ssh.test_known_hosts_pin_every_node_by_name_and_ip,
                  test_names.test_hosts_file_keeps_the_extra_entries):
        assert run(state, check) is None, check.__name__
    missing = _suite_state(SUITE_EXTRAS, _files())
    assert "extra key" in run(missing, test_ssh.test_authorized_keys_hold_exactly_the_cluster_keys)
    assert "salt-master (extra) does not pin" in run(missing, test_ssh.test_known_hosts_pin_every_node_by_name_and_ip)
    assert "salt-master on [] (pillar: 10.1.0.1)" in run(missing, test_names.test_hosts_file_keeps_the_extra_entries)
    # without extras in pillar, an extra key in the file is foreign
    assert "foreign key" in run(_suite_state({}, good), test_ssh.test_authorized_keys_hold_exactly_the_cluster_keys)


# --- the user's ~/.ssh is the user's: root must never write through a link planted there ---------

def _apply_as_rendered(chunk: dict, name: Path) -> dict:
    """Salt's own state function of ``chunk`` with every argument the formula renders, on ``name``."""
    from saltrender import call

    skip = {"name", "user", "group", "require", "require_in", "state", "fun", "order"}
    args = {k: v for k, v in chunk.items() if k not in skip and not k.startswith("__")}
    result = call("astro0", "ubuntu1604-aarch64", "state.single", f"{chunk['state']}.{chunk['fun']}",
                  name=str(name), **args)
    return next(iter(result.values()))


def test_a_symlinked_authorized_keys_is_replaced_never_written_through(tmp_path):
    """mpiuser links ~/.ssh/authorized_keys to /etc/passwd: root's write must not follow it
    (Salt's file.managed follows links unless told not to: /etc/passwd rewritten, chowned)."""
    chunk = _render(tmp_path, {})["ssh-mesh-authorized-keys"]
    victim = tmp_path / "passwd"
    victim.write_text("root:x:0:0::/root:/bin/bash\n")
    link = tmp_path / "home" / ".ssh" / "authorized_keys"
    link.parent.mkdir(parents=True)
    link.symlink_to(victim)
    _apply_as_rendered(chunk, link)
    assert victim.read_text() == "root:x:0:0::/root:/bin/bash\n", "root wrote through the user's link"
    assert not link.is_symlink() and link.read_text().startswith("# Managed by Salt")


def test_a_symlinked_ssh_dir_is_refused(tmp_path):
    """mpiuser makes ~/.ssh a link to /root/.ssh: the directory state fails, named, and writes nothing."""
    chunk = _render(tmp_path, {})["ssh-mesh-user-dir"]
    target = tmp_path / "root-ssh"
    target.mkdir(mode=0o700)
    link = tmp_path / "home" / ".ssh"
    link.parent.mkdir()
    link.symlink_to(target)
    result = _apply_as_rendered(chunk, link)
    assert result["result"] is False, result
    assert link.is_symlink() and list(target.iterdir()) == [] and (target.stat().st_mode & 0o777) == 0o700
