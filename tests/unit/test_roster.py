"""The salt-ssh roster and config dir generated from the node table (tools/).

Unit tests run everywhere. The proof runs salt-ssh for real against a throwaway sshd on
127.0.0.2 and 127.0.0.3, each address a node of a small loopback table: both "nodes" are
this host (Debian 12, python3.11), so salt-thin is used, not relenv. The lab test runs
salt-ssh against the container lab when it is up.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import configure
import mesh_keys
import pytest
import roster
import salt.config
import salt.roster
import yaml
from saltrender import REPO
from saltssh import CONFIGURE_PY, MESH_KEYS_PY, ROSTER_PY, SALT_SSH, cli, salt_ssh, update_roster
from sshd import public_key, throwaway_sshd

from jetson_array import nodetable

GOLDEN_MASTER = REPO / "tools" / "bootstrap" / "master.conf.example"
TABLES = {"real": None, "table5": REPO / "tests" / "data" / "table5.yaml"}


def load(table: Path | None) -> dict:
    return nodetable.load(str(table) if table else None)


@pytest.mark.parametrize("label", TABLES)
def test_roster_lists_every_table_node_at_its_ip(label: str) -> None:
    cluster = load(TABLES[label])
    entries = roster.entries(cluster)
    assert list(entries) == [row["name"] for row in cluster["nodes"]]
    assert [e["host"] for e in entries.values()] == [row["ip"] for row in cluster["nodes"]]


def test_roster_entries_carry_login_options_and_relenv_by_default() -> None:
    entries = roster.entries(load(None), user="nvidia", priv="/k/id", sudo=True, port=2222)
    for name, entry in entries.items():
        assert entry["user"] == "nvidia" and entry["priv"] == "/k/id", name
        assert entry["sudo"] is True and entry["port"] == 2222, name
        assert entry["relenv"] is True, f"{name}: relenv is the default for 16.04 nodes"
    thin = roster.entries(load(None), relenv=False)
    assert not any("relenv" in entry or "sudo" in entry for entry in thin.values())


@pytest.mark.parametrize("label", TABLES)
def test_salt_reads_the_generated_roster_and_the_prefix_glob_targets_every_node(
    label: str, tmp_path: Path
) -> None:
    table = TABLES[label]
    cluster = load(table)
    result = cli(ROSTER_PY, "--user", "nvidia", "--sudo", *(["--table", str(table)] if table else []))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# salt-ssh roster generated from ")
    (tmp_path / "roster").write_text(result.stdout)
    opts = salt.config.master_config(None)
    opts.update(roster_file=str(tmp_path / "roster"), cachedir=str(tmp_path / "cache"))
    targets = salt.roster.Roster(opts, "flat").targets(f"{cluster['name_prefix']}*", "glob")
    assert {name: t["host"] for name, t in targets.items()} == {
        row["name"]: row["ip"] for row in cluster["nodes"]
    }


def test_list_prints_name_and_ip_per_line_for_shell_loops() -> None:
    result = cli(ROSTER_PY, "--list", "--table", str(TABLES["table5"]))
    assert result.returncode == 0, result.stderr
    expected = [f"{row['name']} {row['ip']}" for row in load(TABLES["table5"])["nodes"]]
    assert result.stdout.splitlines() == expected


def test_masters_prints_the_table_masters_in_mount_index_order_for_list_targeting() -> None:
    result = cli(ROSTER_PY, "--masters", "--table", str(TABLES["table5"]))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ",".join(load(TABLES["table5"])["masters"]) + "\n"


def test_a_bad_table_stops_the_roster_and_names_the_file(tmp_path: Path) -> None:
    doc = yaml.safe_load(TABLES["table5"].read_text())
    doc["cluster"]["nodes"][1]["ip"] = doc["cluster"]["nodes"][0]["ip"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc))
    result = cli(ROSTER_PY, "--table", str(bad))
    assert result.returncode == 1 and result.stdout == ""
    assert str(bad) in result.stderr and "is also used by" in result.stderr


def test_ssh_config_dir_points_salt_at_this_repo_and_the_site_pillar(tmp_path: Path) -> None:
    out, site = tmp_path / "cfg", tmp_path / "site"
    (tmp_path / "known_hosts").write_text("")
    # relative paths, as an operator types them: salt-ssh runs from `out`, so they must be
    # written absolute
    result = cli(CONFIGURE_PY, "ssh", "--out", "cfg", "--site-pillar", "site", "--priv", "key",
                 "--known-hosts", "known_hosts", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    master = yaml.safe_load((out / "master").read_text())
    assert master["file_roots"]["base"] == [str(REPO / "salt"), str(REPO / "formulas")]
    assert master["pillar_roots"]["base"] == [str(REPO / "pillar"), str(site)]
    assert master["roster_file"] == str(out / "roster") and master["cachedir"].startswith(str(out))
    assert master["known_hosts_file"] == str(tmp_path / "known_hosts")
    assert yaml.safe_load((out / "Saltfile").read_text()) == {"salt-ssh": {"config_dir": str(out)}}
    entries = yaml.safe_load((out / "roster").read_text())
    assert list(entries) == list(roster.entries(load(None)))
    assert {entry["priv"] for entry in entries.values()} == {str(tmp_path / "key")}


def test_master_drop_in_matches_the_reviewed_golden_example() -> None:
    result = cli(CONFIGURE_PY, "master", "--repo", "/srv/jetson-array",
                 "--site-pillar", "/srv/jetson-site", "--interface", "10.10.0.10")
    assert result.returncode == 0, result.stderr
    assert result.stdout == GOLDEN_MASTER.read_text(), (
        f"regenerate {GOLDEN_MASTER.relative_to(REPO)} with the command above and review the diff"
    )


def test_master_listens_on_the_array_lan_only() -> None:
    """Salt's default interface is 0.0.0.0: 4505/4506 open on every network of the master host."""
    golden = yaml.safe_load(GOLDEN_MASTER.read_text())
    assert configure.master_interface(golden["interface"], load(None)) == golden["interface"]
    other = load(TABLES["table5"])["nodes"][0]["ip"]  # an address of that table's subnet
    result = cli(CONFIGURE_PY, "master", "--site-pillar", "/s", "--interface", other, "--table", str(TABLES["table5"]))
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(result.stdout)["interface"] == other
    refused = cli(CONFIGURE_PY, "master", "--site-pillar", "/s", "--interface", golden["interface"],
                  "--table", str(TABLES["table5"]))
    assert refused.returncode == 1 and f"subnet {load(TABLES['table5'])['subnet']}" in refused.stderr


@pytest.mark.parametrize(
    ("address", "message"),
    [
        (None, "the following arguments are required: --interface"),
        ("0.0.0.0", "--interface 0.0.0.0 is not a host address of the node table's subnet 10.10.0.0/24"),
        ("192.168.1.5", "--interface 192.168.1.5 is not a host address"),
        ("10.10.0.255", "is not a host address"),
        ("master.lan", "--interface 'master.lan' is not an IP address"),
    ],
)
def test_master_drop_in_refuses_an_interface_off_the_array_lan(address: str | None, message: str) -> None:
    result = cli(CONFIGURE_PY, "master", "--site-pillar", "/s", *(["--interface", address] if address else []))
    assert result.returncode != 0 and message in result.stderr, result.stderr
    assert result.stdout == ""


def test_relenv_tarball_is_checked_then_put_where_salt_ssh_looks(tmp_path: Path) -> None:
    tarball = tmp_path / "salt-onedir.tar.xz"
    tarball.write_bytes(b"not really a tarball")
    good = configure.sha256(tarball)
    with pytest.raises(configure.ConfigureError, match=f"{tarball}: sha256 is {good}, expected 00"):
        configure.seed_relenv(tmp_path / "cache", tarball, "00" * 32, "aarch64")
    placed = configure.seed_relenv(tmp_path / "cache", tarball, good.upper(), "aarch64")
    assert placed == tmp_path / "cache/relenv/linux/arm64/salt-relenv.tar.xz"
    assert placed.read_bytes() == tarball.read_bytes()


# --- the proof: salt-ssh over real ssh, roster from a loopback table ----------------------

LOOPBACK = ["127.0.0.2", "127.0.0.3"]


def loopback_table(path: Path) -> Path:
    """table5 with its first nodes moved to the loopback addresses the sshd listens on."""
    doc = yaml.safe_load(TABLES["table5"].read_text())
    cluster = doc["cluster"]
    masters = [row for row in cluster["nodes"] if row["name"] == cluster["masters"][0]]
    rows = (masters + [row for row in cluster["nodes"] if row not in masters])[: len(LOOPBACK)]
    for row, address in zip(rows, LOOPBACK, strict=True):
        row["ip"] = address
    cluster.update(subnet="127.0.0.0/24", nodes=rows, masters=cluster["masters"][:1])
    cluster["install_package"]["master"] = cluster["masters"][0]
    path.write_text(yaml.safe_dump(doc))
    nodetable.load(str(path))  # the table must pass the same check as the real one
    return path


@pytest.fixture(scope="module")
def ssh_proof(tmp_path_factory) -> tuple[Path, dict]:
    """A salt-ssh config dir made by configure.py for the loopback table, sshd running."""
    if os.geteuid() != 0:
        pytest.skip("needs root: the throwaway sshd lets root log in with a temp key")
    tmp = tmp_path_factory.mktemp("saltssh")
    table = loopback_table(tmp / "table.yaml")
    (tmp / "site").mkdir()
    with throwaway_sshd(tmp, LOOPBACK) as sshd:
        result = cli(CONFIGURE_PY, "ssh", "--out", str(tmp / "cfg"), "--site-pillar",
                     str(tmp / "site"), "--table", str(table), "--user", "root", "--priv",
                     str(sshd.client_key), "--port", str(sshd.port), "--known-hosts",
                     str(sshd.known_hosts), "--no-relenv")
        assert result.returncode == 0, result.stderr
        # Both "nodes" are this host: a thin dir each (else they share one minion config),
        # and the system python3 (root's PATH here starts with pyenv shims, which the
        # salt-ssh shim cannot run through). Real nodes need neither.
        update_roster(tmp / "cfg", lambda name: {"thin_dir": str(tmp / f"thin-{name}"),
                                                 "set_path": "/usr/bin:/bin:/usr/sbin"})
        yield tmp / "cfg", load(table)


def test_salt_ssh_pings_every_roster_node_over_real_ssh(ssh_proof) -> None:
    cfg, cluster = ssh_proof
    assert salt_ssh(cfg, "test.ping") == {row["name"]: True for row in cluster["nodes"]}


def test_salt_ssh_minion_id_is_the_table_name(ssh_proof) -> None:
    cfg, cluster = ssh_proof
    assert salt_ssh(cfg, "grains.get", "id") == {row["name"]: row["name"] for row in cluster["nodes"]}


def test_salt_ssh_renders_each_nodes_pillar_and_states_from_the_table(ssh_proof) -> None:
    cfg, cluster = ssh_proof
    assert salt_ssh(cfg, "pillar.get", "node:ip") == {r["name"]: r["ip"] for r in cluster["nodes"]}
    shown = salt_ssh(cfg, "state.show_sls", "hosts")
    for row in cluster["nodes"]:
        assert managed_contents(shown[row["name"]], "/etc/hostname") == row["name"], row["name"]


def test_salt_ssh_ships_the_utils_the_execution_modules_call(ssh_proof) -> None:
    """salt/_modules/install_package.py reaches salt/_utils/install_manifest.py through __utils__
    (it does not load without it): salt-ssh ships both to the node, as saltutil.sync_all does."""
    cfg, cluster = ssh_proof
    answers = salt_ssh(cfg, "install_package.local_dir")
    assert answers == {row["name"]: "/var/cache/jetson-array/install-package" for row in cluster["nodes"]}
    # a non-GPU node has no manifest: the library's own error, raised on the node
    refused = salt_ssh(cfg, "install_package.manifest", check=False)
    for row in cluster["nodes"]:
        assert "install_manifest.ManifestError: gpu_stack:jetpacks has no entry" in str(refused[row["name"]])


def test_salt_ssh_refuses_a_hostile_site_pillar_before_any_state(ssh_proof) -> None:
    """The agentless path checks the same pillar schema (salt/site/schema.sls renders on this
    machine, where salt-ssh compiles pillar): the render stops naming node and field."""
    cfg, cluster = ssh_proof
    site = cfg.parent / "site" / "site.sls"
    site.write_text("gpu_stack: {nvpmodel_mode: '2; touch /tmp/p'}\n")
    try:
        shown = salt_ssh(cfg, "state.show_sls", "hosts", check=False)
    finally:
        site.unlink()
    for row in cluster["nodes"]:
        text = json.dumps(shown.get(row["name"]))
        assert f"node {row['name']}: field 'gpu_stack:nvpmodel_mode'" in text, (row["name"], text[-2000:])


def managed_contents(states: dict, name: str) -> object:
    """The `contents` argument of the file state that manages ``name`` (None: no such state)."""
    for state in states.values():
        args = {k: v for arg in state.get("file", []) if isinstance(arg, dict) for k, v in arg.items()}
        if args.get("name") == name:
            return args.get("contents")
    return None


# --- tools/mesh_keys.py: the mesh keys for the agentless path -------------------------

HOST = {"ssh_host_ed25519_key.pub": f"{public_key('host')} root@x"}
USER = {"mpiuser": {"mpiuser.pub": f"{public_key('user')} mpiuser@x"}}


def test_mesh_keys_are_kept_in_roster_order_when_every_node_answers() -> None:
    answers = {name: {mesh_keys.USER_KEYS: USER, mesh_keys.HOST_KEYS: HOST} for name in ("b", "a")}
    assert list(mesh_keys.check(["a", "b"], answers)) == ["a", "b"]


def test_mesh_keys_names_every_node_that_cannot_give_its_keys() -> None:
    answers = {
        "good": {mesh_keys.USER_KEYS: USER, mesh_keys.HOST_KEYS: HOST},
        "nouser": {mesh_keys.USER_KEYS: {"mpiuser": {}}, mesh_keys.HOST_KEYS: HOST},
        "nohost": {mesh_keys.USER_KEYS: USER, mesh_keys.HOST_KEYS: {"ssh_host_rsa_key": "private?"}},
        "broken": "Unable to connect: Connection refused",
    }
    with pytest.raises(mesh_keys.MeshKeysError) as err:
        mesh_keys.check(["good", "nouser", "nohost", "broken", "silent"], answers)
    message = str(err.value)
    assert "good" not in message
    for name, why in [("nouser", "has no key yet"), ("nohost", "no public host key"),
                      ("broken", "Connection refused"), ("silent", "no keys")]:
        assert f"{name}: " in message and why in message, (name, message)


def test_mesh_keys_over_real_salt_ssh_refuses_nodes_without_user_keys_and_keeps_the_file(
    ssh_proof,
) -> None:
    # The loopback "nodes" are this host, which has no cluster user: no user keys to collect.
    cfg, cluster = ssh_proof
    site = mesh_keys.site_pillar(mesh_keys.master_config(cfg))
    out = site / "ssh_mesh_keys.sls"
    out.write_text("# the previous collection\n")
    result = cli(MESH_KEYS_PY, "--config-dir", str(cfg), "--salt-ssh", SALT_SSH, timeout=300)
    assert result.returncode == 1, result.stdout + result.stderr
    for row in cluster["nodes"]:
        assert f"{row['name']}: the cluster user has no key yet" in result.stderr
    assert f"{out} left as it was" in result.stderr
    assert out.read_text() == "# the previous collection\n"
