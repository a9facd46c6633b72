"""The acceptance suite end to end on this machine: the preflight, exit codes and the report.

A throwaway sshd on 127.0.0.1 stands for a reachable node and an unused 127.0.0.1 port for a
dead one; the table is tests/data/table5.yaml behind a lab-like master config. This machine
is not a provisioned node, so its checks fail: what is tested is that they run, name the
node and reach the report, that a dead host is one failure with its checks skipped, and
that pillar switches skip the live checks with their reason.
"""

from __future__ import annotations

import ctypes
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from saltrender import REPO

from validation import inventory, parse, preflight, session
from validation import plugin as suite_hooks

TABLE5 = REPO / "tests" / "data" / "table5.yaml"
ROWS = {row["name"]: row for row in yaml.safe_load(TABLE5.read_text())["cluster"]["nodes"]}
NAMES = list(ROWS)
LIVE, DEAD = NAMES[0], NAMES[1]  # a node on the throwaway sshd, a node on a closed port
PROBES = {
    "uid": "id -u",
    "hostname": "hostname",
    "host_keys": "cat /etc/ssh/ssh_host_*_key.pub",
    "missing": "cat /nope",
}
HASH = "$6$saltsalt$" + "h" * 86  # a site password hash: must never land in a file of the suite
SWITCHES = {"nfs": {"mount_now": False}, "swap": {"activate": False}, "cluster_user": {"password_hash": HASH}}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def keygen(path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return (path.parent / f"{path.name}.pub").read_text().strip()


def die_with_parent() -> None:
    """In the sshd child: SIGTERM when this test process dies, even if killed (PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)


def wait_listening(port: int, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"sshd did not listen on 127.0.0.1:{port}")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """sshd on 127.0.0.1 for LIVE, a closed port for DEAD, and the ssh + salt configs."""
    if os.geteuid() != 0:
        pytest.skip("needs root: the suite logs in as root on the throwaway sshd")
    tmp = tmp_path_factory.mktemp("sshlab")
    host_pub, client_pub = keygen(tmp / "host_key"), keygen(tmp / "client_key")
    (tmp / "authorized_keys").write_text(client_pub + "\n")
    port, closed = free_port(), free_port()
    (tmp / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {tmp}/host_key\nAuthorizedKeysFile {tmp}/authorized_keys\n"
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        f"UsePAM no\nStrictModes no\nPidFile {tmp}/sshd.pid\n"
    )
    (tmp / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub}\n")
    client = f"  HostName 127.0.0.1\n  User root\n  IdentityFile {tmp}/client_key\n  IdentitiesOnly yes\n"
    client += f"  UserKnownHostsFile {tmp}/known_hosts\n  ConnectTimeout 5\n"
    (tmp / "ssh_config").write_text(f"Host {LIVE}\n  Port {port}\n{client}Host {DEAD}\n  Port {closed}\n{client}")
    (tmp / "pillar").mkdir()
    # the suite's TMPDIR, what it leaves there is checked; short: ssh control sockets go there too
    (tmp / "tmp").symlink_to(tempfile.mkdtemp(prefix="jv-t-", dir="/tmp"))
    (tmp / "pillar" / "site.sls").write_text(yaml.safe_dump(SWITCHES))
    roots = {"base": [str(tmp / "pillar"), str(REPO / "pillar")]}
    master = {"pillar_roots": roots, "jetson_node_table": str(TABLE5), "cachedir": str(tmp / "cache")}
    (tmp / "master").write_text(yaml.safe_dump(master))
    sshd = subprocess.Popen(
        ["/usr/sbin/sshd", "-D", "-e", "-f", str(tmp / "sshd_config")],
        stderr=subprocess.DEVNULL,
        preexec_fn=die_with_parent,
    )
    try:
        wait_listening(port)
        yield tmp
    finally:
        sshd.terminate()
        sshd.wait(timeout=10)
        shutil.rmtree((tmp / "tmp").resolve())


def suite_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "validation/", "-p", "no:cacheprovider", *args]


def suite(*args: str, tmpdir: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "TMPDIR": str(tmpdir)} if tmpdir else None
    return subprocess.run(suite_command(*args), cwd=REPO, capture_output=True, text=True, timeout=300, env=env)


def ssh_options(lab) -> inventory.SshOptions:
    return inventory.SshOptions(config=str(lab / "ssh_config"), control_dir=str(lab / "ctl"))


def test_preflight_reports_a_closed_port_as_unreachable(lab) -> None:
    target = inventory.ssh_target(DEAD, "127.0.0.1", ssh_options(lab))
    result = preflight.reach(target.spec, target.options, PROBES)
    assert result["ok"] is False
    assert result["reason"].startswith("unreachable: ") and "Connection refused" in result["reason"]


def test_preflight_reaches_sshd_as_root_and_collects_facts(lab) -> None:
    ssh = ssh_options(lab)
    os.makedirs(ssh.control_dir, mode=0o700, exist_ok=True)
    target = inventory.ssh_target(LIVE, "127.0.0.1", ssh)
    result = preflight.reach(target.spec, target.options, PROBES)
    try:
        assert result["ok"] is True, result["reason"]
        assert os.listdir(ssh.control_dir), "no ssh control master socket was created"
    finally:
        for command in inventory.control_exit_commands([target]):
            subprocess.run(command, capture_output=True, check=False)
    assert not os.listdir(ssh.control_dir), "the control master is still running"
    found = result["probes"]
    assert (found["uid"], found["hostname"]["out"]) == ({"rc": 0, "out": "0"}, socket.gethostname())
    on_disk = {parse.key_of(Path(path).read_text()) for path in glob.glob("/etc/ssh/ssh_host_*_key.pub")}
    assert {parse.key_of(line) for line in found["host_keys"]["out"].splitlines()} == on_disk
    assert found["missing"]["rc"] != 0 and found["missing"]["out"] == ""


@pytest.fixture(scope="module")
def runs(lab):
    """The suite on LIVE and DEAD, once per mode: serial (salt config as a dir) and with the
    default xdist workers (salt config as a file); returns (process, JSON report or None)."""
    done: dict[str, tuple] = {}

    def run(mode: str) -> tuple:
        if mode not in done:
            out = lab / f"report-{mode}.json"
            config, workers = (lab, ["-n", "0"]) if mode == "serial" else (lab / "master", [])
            proc = suite(
                f"--salt-config={config}",
                f"--ssh-config={lab / 'ssh_config'}",
                f"--hosts={LIVE},{DEAD}",
                f"--report-json={out}",
                f"--report-html={out.with_suffix('.html')}",
                f"--history={lab / 'history.sqlite'}",
                *workers,
                tmpdir=(lab / "tmp").resolve(),
            )
            done[mode] = (proc, json.loads(out.read_text()) if out.exists() else None)
        return done[mode]

    return run


@pytest.mark.parametrize("mode", ["serial", "xdist-default"])
def test_dead_host_is_one_failure_and_the_run_goes_on(runs, lab, mode: str) -> None:
    run, report = runs(mode)
    assert run.returncode == 1 and report, run.stdout[-3000:] + run.stderr[-2000:]
    dead = report["hosts"][DEAD]
    assert dead["status"] == "unreachable" and "Connection refused" in dead["first_failure"]
    failed = [c for c in dead["checks"] if c["outcome"] == "failed"]
    assert [c["check"] for c in failed] == ["test_host_answers_as_root"]
    others = [c for c in dead["checks"] if c["area"] != "reach"]
    assert others and all(c["outcome"] == "skipped" and "Connection refused" in c["reason"] for c in others)
    live = report["hosts"][LIVE]
    assert live["areas"]["reach"] == "passed" and live["status"] == "failed"
    assert "jetson-array acceptance report" in run.stdout and f"{DEAD} " in run.stdout
    assert f'data-node="{DEAD}" data-status="unreachable"' in (lab / f"report-{mode}.html").read_text()


def test_checks_of_a_reached_node_run_and_name_it(runs) -> None:
    """This machine is not a provisioned node: its checks run for real and fail naming it."""
    _run, report = runs("serial")
    failed = [c for c in report["hosts"][LIVE]["checks"] if c["outcome"] == "failed"]
    assert {c["area"] for c in failed} >= {"users", "names", "sudo", "swap", "ssh"}
    assert all(c["reason"].startswith(f"{LIVE}: ") for c in failed)
    # its mesh probe ran in the preflight, to the only node that answered: itself, as a user it lacks
    mesh = next(c for c in failed if c["check"] == "test_user_reaches_peers_with_strict_host_keys")
    assert f"strict keys: {LIVE}: " in mesh["reason"], mesh
    if ROWS[LIVE]["gpu"]:  # a gpu: true node without a GPU fails, the job included
        assert "test_tensorflow_matmul_runs_on_the_gpu" in {c["check"] for c in failed}


def test_pillar_switches_skip_live_checks_with_their_reason(runs) -> None:
    _run, report = runs("serial")
    checks = report["hosts"][LIVE]["checks"]
    skipped = {c["check"].split("[")[0]: c["reason"] for c in checks if c["outcome"] == "skipped"}
    assert "pillar nfs:mount_now is false" in skipped["test_nfs_write_is_read_on_next_node_and_master"]
    assert "pillar nfs:mount_now is false" in skipped["test_nfs_lock_taken_on_one_node_is_refused_on_another"]
    assert "pillar swap:activate is false" in skipped["test_swap_is_active_with_pillar_size"]
    if ROWS[LIVE]["gpu"]:  # the L4T check runs (and fails: no L4T here), never skipped
        assert "test_l4t_release_matches_the_jetpack" not in skipped
    else:
        assert "pillar node:gpu is false" in skipped["test_l4t_release_matches_the_jetpack"]
    ran = {c["check"].split("[")[0] for c in checks if c["outcome"] != "skipped"}
    assert {"test_cloud_mount_has_its_fstab_entry", "test_swap_file_has_fstab_entry"} <= ran
    # the other live NFS checks do not exist where nfs:mount_now is false
    assert not {"test_cloud_mount_is_writable_by_user", "test_exportfs_serves_pillar_clients"} & (set(skipped) | ran)


def test_the_state_file_is_private_and_removed(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(suite_hooks.tempfile, "tempdir", str(tmp_path))
    state = session.State([], {"n1": session.redact({"cluster_user": {"password_hash": HASH}})})
    path = suite_hooks.write_state_file(state)
    directory = Path(path).parent
    assert directory.parent == tmp_path and directory.stat().st_mode & 0o777 == 0o700
    assert HASH not in Path(path).read_text() and json.loads(Path(path).read_text())["pillars"]["n1"]
    suite_hooks.remove_state_file(path)
    suite_hooks.remove_state_file(path)  # at exit again, after the session end did it
    assert tmp_path.is_dir() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("mode", ["serial", "xdist-default"])
def test_a_finished_run_leaves_no_state_file_and_no_secret(runs, lab, mode: str) -> None:
    run, report = runs(mode)
    assert report, run.stdout[-2000:]
    assert not list((lab / "tmp").glob("jetson-validation-*")), "a state file outlived the run"
    assert HASH not in json.dumps(report) and HASH not in run.stdout + run.stderr


def test_a_killed_run_leaves_no_secret_in_tmp(lab) -> None:
    """SIGKILL: no exit handler runs, so what the controller wrote for its workers stays; it
    must hold no password hash and sit in a directory only its owner can open."""
    tmpdir = (lab / "tmp").resolve() / "killed"
    tmpdir.mkdir()
    args = suite_command(f"--salt-config={lab}", f"--ssh-config={lab / 'ssh_config'}", f"--hosts={LIVE},{DEAD}",
                         f"--history={lab / 'history.sqlite'}", "-n", "2")
    run = subprocess.Popen(args, cwd=REPO, env={**os.environ, "TMPDIR": str(tmpdir)}, start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not list(tmpdir.glob("jetson-validation-*/state.json")) and run.poll() is None:
            assert time.monotonic() < deadline, "the suite wrote no state file for its workers"
            time.sleep(0.05)
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait(timeout=30)
        ssh = inventory.SshOptions(config=str(lab / "ssh_config"), control_dir=str(tmpdir / f"jv-ssh-{os.getuid()}"))
        for command in inventory.control_exit_commands([inventory.ssh_target(LIVE, "127.0.0.1", ssh)]):
            subprocess.run(command, capture_output=True, check=False)  # the killed run's ssh master
    left = list(tmpdir.glob("jetson-validation-*/state.json"))
    assert left, "the run ended before it could be killed: nothing proven"
    assert left[0].parent.stat().st_mode & 0o777 == 0o700
    text = left[0].read_text()
    assert "password_hash" in text and HASH not in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "no hosts: pass --hosts"),
        (["--hosts=nomatch*"], "'nomatch*' matches no node of the table"),
        (["--hosts=x*", "--salt-config=/nonexistent/master"], "no master config file at /nonexistent/master"),
        (["--hosts=ssh://root@127.0.0.1:1"], "cannot tell which node"),
        (["--hosts=*", "--report-json=/nonexistent/dir/r.json"], "its directory does not exist"),
        (["--hosts=*", "--report-html=/nonexistent/dir/r.html"], "--report-html /nonexistent/dir/r.html: its"),
    ],
)
def test_broken_environment_exits_2_naming_the_culprit(args: list[str], message: str) -> None:
    run = suite(*args)
    assert run.returncode == 2, run.stdout[-2000:] + run.stderr[-2000:]
    assert message in run.stdout + run.stderr
