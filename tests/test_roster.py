"""The salt-ssh roster and config dir generated from the node table (salt/ssh/).

Unit tests run everywhere. The proof runs salt-ssh for real against a throwaway sshd on
127.0.0.2 and 127.0.0.3, each address a node of a small loopback table: both "nodes" are
this host (Debian 12, python3.11), so salt-thin is used, not relenv. The lab test runs
salt-ssh against the container lab when it is up.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import salt.config
import salt.roster
import yaml
from saltrender import REPO
from sshd import throwaway_sshd

sys.path.insert(0, str(REPO / "salt" / "ssh"))
import configure  # noqa: E402
import roster  # noqa: E402

ROSTER_PY = REPO / "salt" / "ssh" / "roster.py"
CONFIGURE_PY = REPO / "salt" / "ssh" / "configure.py"
GOLDEN_MASTER = REPO / "salt" / "bootstrap" / "master.conf.example"
TABLES = {"real": None, "table5": REPO / "tests" / "data" / "table5.yaml"}
SALT_SSH = str(Path(sys.executable).parent / "salt-ssh")
NODETABLE = roster.nodetable()


def load(table: Path | None) -> dict:
    return NODETABLE.load(str(table) if table else None)


def cli(script: Path, *args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(script), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


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
                 "--site-pillar", "/srv/jetson-site")
    assert result.returncode == 0, result.stderr
    assert result.stdout == GOLDEN_MASTER.read_text(), (
        f"regenerate {GOLDEN_MASTER.relative_to(REPO)} with the command above and review the diff"
    )


def test_relenv_tarball_is_checked_then_put_where_salt_ssh_looks(tmp_path: Path) -> None:
    tarball = tmp_path / "salt-onedir.tar.xz"
    tarball.write_bytes(b"not really a tarball")
    good = configure.sha256(tarball)
    with pytest.raises(ValueError, match=f"{tarball}: sha256 is {good}, expected 00"):
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
    NODETABLE.load(str(path))  # the table must pass the same check as the real one
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
        path = tmp / "cfg" / "roster"
        entries = yaml.safe_load(path.read_text())
        for name, entry in entries.items():
            entry.update(thin_dir=str(tmp / f"thin-{name}"), set_path="/usr/bin:/bin:/usr/sbin")
        path.write_text(yaml.safe_dump(entries))
        yield tmp / "cfg", load(table)


def salt_ssh(cfg: Path, *args: str) -> dict:
    """Run salt-ssh from the config dir (its Saltfile) and return the JSON per target."""
    result = subprocess.run([SALT_SSH, "--out", "json", "--static", "*", *args], cwd=cfg,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"salt-ssh {' '.join(args)}: {result.stdout}{result.stderr}"
    return json.loads(result.stdout)


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


def managed_contents(states: dict, name: str) -> object:
    """The `contents` argument of the file state that manages ``name`` (None: no such state)."""
    for state in states.values():
        args = {k: v for arg in state.get("file", []) if isinstance(arg, dict) for k, v in arg.items()}
        if args.get("name") == name:
            return args.get("contents")
    return None


# --- the lab: salt-ssh with a generated roster against the container lab ------------------


@pytest.fixture(scope="module")
def lab_ssh(request, tmp_path_factory) -> tuple[Path, dict]:
    """A salt-ssh config dir for the nodes the lab brought up (lab/run/nodes.yaml)."""
    sys.path.insert(0, str(REPO))
    from lab import hoststate, keys
    from lab.paths import DERIVED_TABLE

    try:
        request.getfixturevalue("lab_cluster")  # the shared lab fixture, once there is one
    except pytest.FixtureLookupError:
        if not hoststate.load().get("nodes"):
            pytest.skip("the container lab is not up: `python -m lab up --nodes 4` first")
    tmp = tmp_path_factory.mktemp("labssh")
    (tmp / "site").mkdir()
    result = cli(CONFIGURE_PY, "ssh", "--out", str(tmp / "cfg"), "--site-pillar", str(tmp / "site"),
                 "--table", str(DERIVED_TABLE), "--user", "root", "--priv", str(keys.ROOT_KEY),
                 "--known-hosts", str(keys.KNOWN_HOSTS), "--no-relenv")
    assert result.returncode == 0, result.stderr
    return tmp / "cfg", load(DERIVED_TABLE)


@pytest.mark.lab
def test_salt_ssh_reaches_every_lab_node_by_its_table_name(lab_ssh) -> None:
    cfg, cluster = lab_ssh
    assert salt_ssh(cfg, "grains.get", "id") == {r["name"]: r["name"] for r in cluster["nodes"]}


@pytest.mark.lab
def test_salt_ssh_state_apply_converges_the_lab_and_a_second_run_changes_nothing(lab_ssh) -> None:
    cfg, cluster = lab_ssh
    for attempt in ("first", "second"):
        results = salt_ssh(cfg, "state.apply", "hosts")
        for name in (r["name"] for r in cluster["nodes"]):
            states = results[name]
            assert isinstance(states, dict), f"{name}: {states}"
            failed = [sid for sid, s in states.items() if not s["result"]]
            assert not failed, f"{name}: {attempt} run failed {failed}"
            if attempt == "second":
                changed = [sid for sid, s in states.items() if s["changes"]]
                assert not changed, f"{name}: second run changed {changed}"
