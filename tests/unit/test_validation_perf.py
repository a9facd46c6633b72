"""The acceptance gate's fingerprint: the on-node job (validation/jobs/fingerprint.py), the
phase's plan and rounds (validation/phase.py), the figures in the report, and the suite's gate
options end to end on the throwaway sshd of test_validation_preflight (tiers, --history,
--hostfile-out, --min-nodes)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest
import yaml
from saltrender import REPO
from test_validation_preflight import LIVE, lab, suite  # noqa: F401  (lab: the sshd fixture)

from validation import inventory, phase, report, session, tegrastats

JOB = REPO / "validation" / "jobs" / "fingerprint.py"
VERMIN = [str(Path(sys.executable).parent / "vermin"), "--target=3.5-", "--no-tips", "--violations"]
TEGRASTATS = REPO / "validation" / "testdata" / "tegrastats-r28.1-tx2.txt"


def job(*args: str) -> tuple[int, dict]:
    run = subprocess.run([sys.executable, str(JOB), *args], capture_output=True, text=True, timeout=120)
    lines = run.stdout.splitlines()
    assert len(lines) == 1, run.stdout + run.stderr
    return run.returncode, json.loads(lines[0])


def test_fingerprint_job_is_code_for_the_arrays_system_python_35() -> None:
    run = subprocess.run([*VERMIN, str(JOB)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_cpu_kernel_gives_its_checksum_and_a_rate() -> None:
    code, out = job("cpu")
    assert code == 0 and out["ok"] and out["checksum"] == 3487983616, out
    assert out["cpu_mops"] > 1 and 0 < out["seconds"] < 5


def test_a_wrong_cpu_checksum_fails_the_job(monkeypatch) -> None:
    from validation.jobs import fingerprint

    monkeypatch.setattr(fingerprint, "CPU_STEPS", 1000)
    result = fingerprint.cpu()
    assert not result["ok"] and "checksum" in result["error"]


def test_nfs_job_writes_reads_and_removes_its_file(tmp_path) -> None:
    code, out = job("nfs", str(tmp_path), "4")
    assert code == 0 and out["ok"], out
    assert out["nfs_write_mbs"] > 0 and out["nfs_read_mbs"] > 0 and out["size_mb"] == 4
    assert list(tmp_path.iterdir()) == []


def test_nfs_job_in_a_missing_dir_reports_the_error(tmp_path) -> None:
    code, out = job("nfs", str(tmp_path / "gone"), "1")
    assert code == 1 and not out["ok"] and "No such file" in out["error"]


def test_pingpong_without_open_mpi_reports_it_and_bad_usage_too() -> None:
    code, out = job("pingpong", "1024", "10")
    if out.get("ok"):
        pytest.skip("this machine has Open MPI and the job ran with one rank")
    assert code == 1 and out["error"]
    code, out = job("nonsense")
    assert code == 1 and out["error"].startswith("usage: fingerprint.py cpu | nfs DIR SIZE_MB | pingpong")


NAMES = ["n0", "n1", "n2", "n3", "n4"]


def make_state(mount_now: bool = False, gpu: tuple[str, ...] = ("n1",)) -> session.State:
    targets = [inventory.Target(name, f"ssh://{name}", {}) for name in NAMES]
    pillars = {
        name: {"node": {"gpu": name in gpu}, "cluster_user": {"name": "mpiuser"},
               "nfs": {"mount_now": mount_now, "client": {"mounts": [{"index": 0, "path": "/cloud/0"}]}}}
        for name in NAMES
    }
    state = session.State(targets, pillars)
    state.reach = {name: {"ok": name != "n4"} for name in NAMES}  # n4 did not answer
    return state


def test_plan_measures_every_reachable_node_and_its_ring_neighbour() -> None:
    jobs = phase.plan(make_state(), lambda name: True)
    kinds = {(job.node, job.kind, job.subject) for job in jobs}
    assert {(n, "cpu", "") for n in NAMES[:4]} <= kinds and not [j for j in jobs if j.node == "n4"]
    assert ("n1", "gpu", "") in kinds and ("n0", "gpu", "") not in kinds
    assert [(j.node, j.subject) for j in jobs if j.kind == "mpi"] == [("n0", "n1"), ("n1", "n2"), ("n2", "n3"),
                                                                       ("n3", "n0")]
    nfs = [job for job in jobs if job.kind == "nfs"]
    assert len(nfs) == 4 and all("pillar nfs:mount_now is false" in job.skip for job in nfs)
    assert not [job for job in phase.plan(make_state(mount_now=True), lambda name: True) if job.skip]
    assert phase.figure_ids({"kind": "nfs", "subject": "cloud/0"}) == ["nfs_write_mbs/cloud/0", "nfs_read_mbs/cloud/0"]


def test_plan_runs_no_gpu_job_where_the_pillar_switch_is_false_and_keeps_the_other_jobs() -> None:
    state = make_state(gpu=("n1", "n2"))
    state.pillars["n1"]["gpu_stack"] = {"acceptance": {"run_job": False}}
    kinds = {(job.node, job.kind) for job in phase.plan(state, lambda name: True)}
    assert ("n1", "gpu") not in kinds and ("n2", "gpu") in kinds
    assert {("n1", "cpu"), ("n1", "nfs"), ("n1", "mpi")} <= kinds


def test_a_pillar_without_the_gpu_job_switch_runs_the_job() -> None:
    state = make_state()
    assert phase.GPU_JOB == "gpu_stack:acceptance:run_job"
    state.pillars["n1"]["gpu_stack"] = {"acceptance": {"matmul_size": 64}}  # the block, not the key
    assert ("n1", "gpu") in {(job.node, job.kind) for job in phase.plan(state, lambda name: True)}
    assert yaml.safe_load((REPO / "pillar" / "gpu.sls").read_text())["gpu_stack"]["acceptance"]["run_job"] is True


def test_plan_without_mpi_peers_has_no_mpi_job() -> None:
    assert not [job for job in phase.plan(make_state(), lambda name: name == "n0") if job.kind == "mpi"]


@pytest.mark.parametrize("count", [2, 3, 4, 5, 24])
def test_ring_pairs_run_in_rounds_where_each_node_is_in_one_pair(count: int) -> None:
    ring = [f"n{i}" for i in range(count)]
    pairs = [(name, ring[(i + 1) % count]) for i, name in enumerate(ring)]
    rounds = phase.rounds(pairs)
    assert sorted(pair for r in rounds for pair in r) == sorted(pairs)
    for one in rounds:
        busy = [node for pair in one for node in pair]
        assert len(busy) == len(set(busy)), one
    assert len(rounds) == (2 if count % 2 == 0 else 3)


def test_figures_come_from_succeeded_jobs_and_energy_from_tegrastats() -> None:
    lines = [line for line in TEGRASTATS.read_text().splitlines() if not line.startswith("#")]
    jobs = [
        {"node": "n0", "kind": "cpu", "subject": "", "ok": True, "result": {"cpu_mops": 30.5}, "tegrastats": []},
        {"node": "n1", "kind": "cpu", "subject": "", "ok": False, "result": {"cpu_mops": 1.0}, "tegrastats": []},
        {"node": "n0", "kind": "mpi", "subject": "n1", "ok": True, "tegrastats": [],
         "result": {"mpi_latency_us": 50.0, "mpi_bw_mbs": 110.0}},
        {"node": "n0", "kind": "gpu", "subject": "", "ok": True, "result": {"gflops": 600.0},
         "tegrastats": ["tegrastats: a line of something else", *lines]},
    ]
    figures = phase.figures({"jobs": jobs}, tegrastats.summarize)
    summary = tegrastats.summarize(lines)
    assert set(figures) == {"n0"}
    mine = figures["n0"]
    assert mine["cpu_mops"] == 30.5 and mine["mpi_latency_us/n1"] == 50.0 and mine["mpi_bw_mbs/n1"] == 110.0
    assert mine["gpu_gflops"] == 600.0 and mine["gpu_freq_mhz"] == summary["gpu_freq_mhz"]
    if summary["gpu_power_w"]:
        assert mine["gpu_gflops_per_w"] == pytest.approx(600.0 / summary["gpu_power_w"])


def test_state_carries_the_phase_to_the_workers() -> None:
    state = make_state()
    state.phase = {"wall_s": 1.0, "jobs": [{"node": "n0", "kind": "cpu", "subject": ""}]}
    state.figures, state.history = {"n0": {"cpu_mops": 3.0}}, {"n0": {"cpu_mops": [2.0]}}
    state.verdicts = [{"node": "n0", "figure": "cpu_mops", "severity": "warn", "text": "t"}]
    again = session.State.from_json(json.loads(json.dumps(state.to_json())))
    assert (again.phase, again.figures, again.history, again.verdicts) == (
        state.phase, state.figures, state.history, state.verdicts)
    assert again.figure_ids("n0") == ["cpu_mops"] and again.verdicts_of("n0", "cpu_mops") == state.verdicts


def test_report_figures_and_their_table_mark_verdicts() -> None:
    summary = report.summarize([report.Record("n0", "perf", "test_figure[cpu_mops]")], ["n0", "n1"])
    figures = {"n0": {"cpu_mops": 3.0, "mpi_bw_mbs/n1": 100.0}, "n1": {"cpu_mops": 30.0, "mpi_bw_mbs/n0": 90.0}}
    verdict = {"node": "n0", "figure": "cpu_mops", "kind": "outlier", "severity": "fail", "text": "x",
               "reference": 30.0, "value": 3.0}
    report.add_figures(summary, figures, {"cpu_mops": "Mop/s", "mpi_bw_mbs": "MB/s"},
                       {"n0": {"cpu_mops": [29.0]}}, [verdict])
    assert summary["hosts"]["n0"]["figures"]["cpu_mops"] == {
        "value": 3.0, "unit": "Mop/s", "history": [29.0],
        "verdicts": [{"kind": "outlier", "severity": "fail", "text": "x", "reference": 30.0}]}
    table = report.figures_table(summary).splitlines()
    assert table[0].split() == ["host", "cpu_mops", "mpi_bw_mbs"]
    assert table[2].split() == ["n0", "3!", "100"] and table[3].split() == ["n1", "30", "90"]
    assert "perf" in report.table(summary).splitlines()[0]


# --- the suite end to end on the throwaway sshd (LIVE: this machine, no cluster user) ---

@pytest.fixture(scope="module")
def gate_runs(lab):  # noqa: F811
    """The suite on LIVE in both tiers with the gate options; (process, report, paths)."""
    done: dict[str, tuple] = {}

    def run(tier: str) -> tuple:
        if tier not in done:
            out, hostfile, db = lab / f"gate-{tier}.json", lab / f"hosts-{tier}", lab / "gate-history.sqlite"
            hostfile.write_text("stale-node slots=1\n")  # an earlier run's: must not outlive this one
            proc = suite(f"--salt-config={lab}", f"--ssh-config={lab / 'ssh_config'}", f"--hosts={LIVE}", "-n", "0",
                         f"--report-json={out}", f"--history={db}", f"--hostfile-out={hostfile}", "--min-nodes=1",
                         f"--tier={tier}", tmpdir=(lab / "tmp").resolve())
            done[tier] = (proc, json.loads(out.read_text()) if out.exists() else None, hostfile, db)
        return done[tier]

    return run


def test_full_tier_runs_the_jobs_and_a_job_error_fails_its_check_naming_node_and_stderr(gate_runs) -> None:
    proc, rep, _hostfile, _db = gate_runs("full")
    assert rep, proc.stdout[-3000:] + proc.stderr[-2000:]
    checks = {c["check"]: c for c in rep["hosts"][LIVE]["checks"] if c["area"] == "perf"}
    cpu = checks["test_figure[cpu_mops]"]
    # the pillar's cluster user does not exist here: sudo -u refuses, the check names the node and says so
    assert cpu["outcome"] == "failed" and cpu["reason"].startswith(f"{LIVE}: the cpu job") and "stderr" in cpu["reason"]
    assert "pillar nfs:mount_now is false" in checks["test_figure[nfs_write_mbs/cloud/0]"]["reason"]
    assert "test_gpu_clock_and_temperature_during_the_gpu_job" in checks  # LIVE is gpu: true
    assert rep["hosts"][LIVE]["areas"]["perf"] == "failed" and "perf" in proc.stdout
    assert "fingerprint phase" in proc.stdout


def test_record_names_the_run_in_the_history_database(gate_runs) -> None:
    _proc, rep, _hostfile, db = gate_runs("full")
    record = rep["record"]
    assert set(record) >= {"run_id", "time", "revision", "pillar_hash", "tier", "versions", "power_modes", "history"}
    assert record["tier"] == "full" and record["history"] == str(db) and record["run_id"]
    with sqlite3.connect(db) as conn:
        assert conn.execute("select count(*) from runs").fetchone()[0] >= 1


def test_min_nodes_fails_the_run_and_the_hostfile_holds_only_passed_nodes(gate_runs) -> None:
    proc, rep, hostfile, _db = gate_runs("full")
    assert rep["hosts"][LIVE]["status"] == "failed"
    assert proc.returncode == 1 and "only 0 node(s) passed" in proc.stdout
    assert not hostfile.exists(), "no node passed, yet a hostfile is left"


def test_quick_tier_runs_no_job_and_no_perf_gpu_job_or_mpi_check(gate_runs) -> None:
    proc, rep, _hostfile, _db = gate_runs("quick")
    assert rep, proc.stdout[-3000:] + proc.stderr[-2000:]
    checks = {c["check"] for c in rep["hosts"][LIVE]["checks"]}
    assert not {c for c in checks if c.startswith("test_figure")}
    assert not {"test_tensorflow_matmul_runs_on_the_gpu", "test_mpirun_starts_one_rank_per_node"} & checks
    assert "test_cloud_mount_has_its_fstab_entry[cloud/0]" in checks and rep["hosts"][LIVE]["figures"] == {}
    assert rep["record"]["tier"] == "quick" and "fingerprint phase" not in proc.stdout


def test_gpu_job_switch_false_skips_the_job_s_checks_naming_the_key_and_the_other_gpu_checks_run(lab) -> None:  # noqa: F811
    """LIVE (gpu: true) with pillar gpu_stack:acceptance:run_job false: no GPU job, no GPU figure,
    the job's two checks skipped with the switch's reason; the static GPU checks still run."""
    root = lab / "pillar-no-gpu-job"
    root.mkdir(exist_ok=True)
    site = yaml.safe_load((lab / "pillar" / "site.sls").read_text())
    (root / "site.sls").write_text(yaml.safe_dump({**site, "gpu_stack": {"acceptance": {"run_job": False}}}))
    master = yaml.safe_load((lab / "master").read_text())
    master["pillar_roots"]["base"].insert(0, str(root))
    (root / "master").write_text(yaml.safe_dump(master))
    out = lab / "no-gpu-job.json"
    proc = suite(f"--salt-config={root / 'master'}", f"--ssh-config={lab / 'ssh_config'}", f"--hosts={LIVE}", "-n", "0",
                 f"--report-json={out}", f"--history={lab / 'no-gpu-job.sqlite'}", "-k", "gpu",
                 tmpdir=(lab / "tmp").resolve())
    assert out.exists(), proc.stdout[-3000:] + proc.stderr[-2000:]
    checks = {c["check"]: c for c in json.loads(out.read_text())["hosts"][LIVE]["checks"]}
    why = f"{LIVE}: pillar gpu_stack:acceptance:run_job is false ({phase.NO_GPU_JOB})"
    for check in ("test_tensorflow_matmul_runs_on_the_gpu", "test_gpu_clock_and_temperature_during_the_gpu_job"):
        assert (checks[check]["outcome"], checks[check]["reason"]) == ("skipped", why), checks[check]
    assert "Tegra GPU" in why and not [c for c in checks if c.startswith("test_figure[gpu")]
    assert checks["test_nvcc_reports_the_cuda_release"]["outcome"] == "failed"  # runs (no CUDA here)


def test_hostfile_holds_the_passed_nodes_with_their_slots() -> None:
    state = make_state()
    state.pillars["n1"]["acceptance"] = {"slots": 4}
    statuses = {"n0": "passed", "n1": "passed", "n2": "failed", "n3": "unreachable", "n4": "passed"}
    assert session.passed_hosts(state, statuses) == [("n0", 1), ("n1", 4), ("n4", 1)]


def live_nfs_state(stuck: str = "") -> session.State:
    state = make_state(mount_now=True)
    for name in NAMES:
        mounts = [{"index": i, "path": f"/cloud/{i}"} for i in range(3)]
        state.pillars[name]["nfs"]["client"]["mounts"] = mounts
        out = "\n".join(f"{137 if m['path'] == stuck else 0} {m['path']}" for m in mounts)
        state.reach[name]["probes"] = {"mount_points": {"rc": 0, "out": out}}
    return state


def test_nfs_jobs_spread_over_the_exports_and_a_dead_mount_fails_without_waiting() -> None:
    state = live_nfs_state(stuck="/cloud/1")
    first = {node: phase.nfs_jobs(state, node, position)[0].subject for position, node in enumerate(NAMES[:3])}
    assert first == {"n0": "cloud/0", "n1": "cloud/1", "n2": "cloud/2"}
    jobs = {job.subject: job for job in phase.nfs_jobs(state, "n0", 0)}
    assert "/cloud/1 did not answer in the preflight" in jobs["cloud/1"].error and not jobs["cloud/0"].error


def test_job_commands_run_as_the_cluster_user_where_researchers_write() -> None:
    state = live_nfs_state()
    runner = phase.Runner(state.targets, state.pillars)
    nfs = runner.command(phase.Job("n0", "nfs", "cloud/2"))
    assert "sudo -n -H -u mpiuser" in nfs and f"{runner.path} nfs /cloud/2/data 32" in nfs
    cpu = runner.command(phase.Job("n0", "cpu"))
    assert "base64 -d > $f && mv -f $f " in cpu and f"{runner.path} cpu" in cpu
    mpi = runner.command(phase.Job("n0", "mpi", "n1"))
    assert "mpirun -np 2 --host n0,n1" in mpi and "pingpong" in mpi and "StrictHostKeyChecking=yes" in mpi
    gpu = runner.command(phase.Job("n1", "gpu"))
    assert gpu.startswith("log=$(mktemp) && out=$(mktemp) && { /opt/enerGyPU/bin/tegrastats-root > $log")
    assert "> $out 2>&1 < /dev/null;" in gpu, "the user's job must write to root's file, not the channel"
    assert f"echo {phase.TEGRASTATS}; cat $log; echo {phase.JOB_OUTPUT}; cat $out" in gpu and "--device gpu" in gpu


class FakeRunner(phase.Runner):
    """A Runner whose nodes answer with a canned (exit status, stdout, stderr)."""

    def __init__(self, answer: tuple[int, str, str]):
        super().__init__([], {})
        self.answer = answer

    def run(self, name: str, command: str) -> tuple[int, str, str]:
        return self.answer

    def command(self, job: phase.Job) -> str:
        return ""


@pytest.mark.parametrize("value", ["NaN", "Infinity", "[1]", "true", '"7"'])
def test_a_figure_that_is_not_a_finite_number_fails_its_job(value: str) -> None:
    """A job's output is the cluster user's to write: NaN would pass every bound (and break the
    history), a list would crash the run. The job fails naming the figure."""
    job = FakeRunner((0, f'{{"ok": true, "cpu_mops": {value}}}\n', "")).execute(phase.Job("n0", "cpu"))
    assert not job.ok and "cpu_mops not a finite number" in job.error
    assert phase.figures({"jobs": [asdict(job)]}, None) == {}


def test_the_users_gpu_job_cannot_forge_root_s_tegrastats_lines() -> None:
    """Root prints tegrastats' lines first, then the job's output: markers and lines the job
    prints are its output, not tegrastats'."""
    root = "RAM 1/2MB CPU [1%@345] GR3D_FREQ 99%@114 VDD_GPU 1000/1000"
    forged = f"{phase.TEGRASTATS}\nRAM 1/2MB GR3D_FREQ 99%@1300 VDD_GPU 1/1\n1 x\n"
    out = f"{phase.TEGRASTATS}\n{root}\n{phase.JOB_OUTPUT}\n{forged}" + '{"ok": true, "gflops": 250.0}\n'
    job = FakeRunner((0, out, "")).execute(phase.Job("n1", "gpu"))
    assert job.ok and job.tegrastats == [root]
    assert phase.figures({"jobs": [asdict(job)]}, tegrastats.summarize)["n1"]["gpu_freq_mhz"] == 114


def test_job_errors_reach_the_terminal_without_control_characters() -> None:
    job = FakeRunner((1, "", "boom \x1b]0;owned\x07\x1b[2J")).execute(phase.Job("n0", "cpu"))
    assert "\x1b" not in job.error and "\x07" not in job.error and "boom" in job.error


# --- the phase for real: three table nodes on the one throwaway sshd, root as the cluster user ---

@pytest.fixture(scope="module")
def three(lab):  # noqa: F811
    """tx0, tx2, tx4 all on the sshd of ``lab`` (this machine), with root standing for the
    cluster user so the jobs can run; two full runs into one history."""
    config = (lab / "ssh_config").read_text()
    port = config.split(f"Host {LIVE}\n  Port ")[1].split()[0]
    client = config.split(f"Host {LIVE}\n  Port {port}\n")[1].split("Host ")[0]
    (lab / "ssh_config_three").write_text("".join(f"Host {n}\n  Port {port}\n{client}" for n in ("tx0", "tx2", "tx4")))
    known = (lab / "known_hosts").read_text()
    assert known.startswith(f"[127.0.0.1]:{port} ")
    root = lab / "pillar-three"
    root.mkdir(exist_ok=True)
    site = yaml.safe_load((lab / "pillar" / "site.sls").read_text())
    (root / "site.sls").write_text(yaml.safe_dump({**site, "cluster_user": {"name": "root"}}))
    master = yaml.safe_load((lab / "master").read_text())
    master["pillar_roots"]["base"].insert(0, str(root))
    (root / "master").write_text(yaml.safe_dump(master))
    runs = []
    for attempt in range(2):
        out = lab / f"three-{attempt}.json"
        proc = suite(f"--salt-config={root / 'master'}", f"--ssh-config={lab / 'ssh_config_three'}",
                     "--hosts=tx0,tx2,tx4", "-n", "0", f"--report-json={out}", f"--history={lab / 'three.sqlite'}",
                     f"--junitxml={lab / f'three-{attempt}.xml'}", "-k", "perf", tmpdir=(lab / "tmp").resolve())
        runs.append((proc, json.loads(out.read_text()) if out.exists() else None))
    return runs


def test_phase_runs_every_nodes_cpu_job_at_once_and_the_history_grows(three) -> None:
    (first, one), (_second, two) = three
    assert one and two, first.stdout[-3000:] + first.stderr[-2000:]
    for rep in (one, two):
        for name in ("tx0", "tx2", "tx4"):
            figure = rep["hosts"][name]["figures"].get("cpu_mops")
            assert figure and figure["value"] > 0 and figure["unit"] == "Mop/s", rep["hosts"][name]["figures"]
    phase_ = one["record"]["phase"]
    assert phase_["peak"] == 3, f"the three nodes' jobs never ran at one moment: {phase_}"
    assert len(two["hosts"]["tx2"]["figures"]["cpu_mops"]["history"]) == 1  # the first run's value
    assert two["record"]["run_id"] == one["record"]["run_id"] + 1
    passed = {c["check"] for c in two["hosts"]["tx0"]["checks"] if c["outcome"] == "passed"}
    assert "test_figure[cpu_mops]" in passed


def test_junit_carries_each_figure_as_a_property(three, lab) -> None:  # noqa: F811
    _proc, rep = three[0]
    value = rep["hosts"]["tx2"]["figures"]["cpu_mops"]["value"]
    xml = (lab / "three-0.xml").read_text()
    assert f'<property name="cpu_mops" value="{value:g} Mop/s"' in xml


def test_a_ring_pair_broken_by_a_peer_that_fails_its_own_figures_is_the_peers_fault() -> None:
    """A node held to 1% of a CPU times out its ring neighbour's ping-pong: the neighbour's pair
    figure is not judged (skipped naming the peer), so the gate keeps the neighbour; a pair whose
    peer is sound still fails."""
    from validation import test_perf

    state = make_state()
    state.phase = {"jobs": [
        {"node": "n0", "kind": "cpu", "subject": "", "ok": True, "error": ""},
        {"node": "n3", "kind": "mpi", "subject": "n0", "ok": False, "error": "timed out after 120 s"},
        {"node": "n1", "kind": "mpi", "subject": "n2", "ok": False, "error": "timed out after 120 s"},
    ]}
    slow = "n0: cpu_mops 0.4 Mop/s is 99% below"
    state.verdicts = [{"node": "n0", "figure": "cpu_mops", "severity": "fail", "text": slow}]
    assert slow in test_perf._peer_at_fault(state, state.phase["jobs"][1])
    assert test_perf._peer_at_fault(state, state.phase["jobs"][2]) == ""
    assert test_perf._peer_at_fault(state, state.phase["jobs"][0]) == ""


@pytest.mark.parametrize(("status", "options", "stopped", "whole"), [
    (0, {}, False, True),
    (1, {}, False, True),
    (1, {}, True, False),  # -x / --maxfail stopped the run: later checks never ran
    (2, {}, False, False),  # interrupted
    (0, {"keyword": "ssh"}, False, False),  # -k chose some checks only
    (0, {"deselect": ["validation/test_users.py"]}, False, False),
])
def test_only_a_whole_run_certifies_nodes_for_the_hostfile(status, options, stopped, whole) -> None:
    from types import SimpleNamespace

    from validation import plugin

    config = SimpleNamespace(getoption=lambda name: options.get(name))
    session = SimpleNamespace(config=config, exitstatus=pytest.ExitCode(status), shouldstop=stopped, shouldfail=False)
    assert plugin.complete(session) is whole


def test_peak_counts_the_jobs_running_at_one_moment() -> None:
    def job(start: float, end: float) -> phase.Job:
        return phase.Job("n0", "cpu", span=(start, end))

    assert phase.peak([job(0, 1), job(1, 2), job(2, 3)]) == 1  # one after another
    assert phase.peak([job(0, 3), job(1, 2), job(1.5, 4), job(5, 6)]) == 3
    assert phase.peak([phase.Job("n0", "cpu")]) == 0  # never ran
