"""The fingerprint phase: every reachable node's performance jobs at the same time.

Run once by the controlling process after the preflight (full tier only, session.build):
one thread per node, each running its jobs one after another over the node's existing ssh
connection (so two jobs never share a node), every node at once: the CPU kernel, NFS
throughput per live mount, the GPU matmul with tegrastats sampled during it (gpu: true
nodes); then MPI ping-pong between ring neighbours in rounds where each node is in one pair.
What each job measured or why it failed lands in the run's State as plain JSON data.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import os
import secrets
import shlex
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import testinfra

from validation import inventory, pillars, preflight, probes

JOBS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "jobs")
JOB_FIGURES = {
    "cpu": ["cpu_mops"], "nfs": ["nfs_write_mbs", "nfs_read_mbs"], "mpi": ["mpi_latency_us", "mpi_bw_mbs"],
    "gpu": ["gpu_gflops", "gpu_gflops_per_w", "gpu_freq_mhz", "temp_max_c"],
}
ENERGY_FIGURES = ("gpu_gflops_per_w", "gpu_freq_mhz", "temp_max_c")  # from tegrastats, not the job
NFS_SIZE_MB = 32
MPI_SIZE, MPI_ITERATIONS = 1 << 20, 200
TEGRASTATS = "@@tegrastats"  # the line after which the GPU job's command prints tegrastats' lines
JOB_OUTPUT = "@@job-output"  # ... and after them the cluster user's job output (root frames both)
SYSTEM_PYTHON = "python3"
# The pillar switch of the GPU job (pillar/gpu.sls), and why a node has none where it is false.
GPU_JOB = "gpu_stack:acceptance:run_job"
NO_GPU_JOB = "no Tegra GPU here runs TensorFlow, e.g. the lab's arm64 nodes under qemu-user: no GPU job ran"


@dataclass
class Job:
    """One job of one node: what it measures (``kind``, ``subject``) and, once run, the result."""

    node: str
    kind: str  # cpu | nfs | gpu | mpi
    subject: str = ""  # the mount id (cloud/<i>) or the ring peer
    skip: str = ""  # why the job does not run here (then its figures' checks skip with it)
    ok: bool = False
    error: str = ""
    seconds: float = 0.0
    span: tuple[float, float] = (0.0, 0.0)  # start and end, monotonic seconds (which jobs ran at once)
    result: dict[str, Any] = field(default_factory=dict)
    tegrastats: list[str] = field(default_factory=list)



def figure_ids(job: dict[str, Any]) -> list[str]:
    """The figure ids a job (as a dict: kind, subject) measures: ``<name>`` or ``<name>/<subject>``."""
    return [f"{name}/{job['subject']}" if job["subject"] else name for name in JOB_FIGURES[job["kind"]]]


def staged(name: str) -> str:
    """Shell that writes the job ``name`` (validation/jobs/) to a fresh mktemp file (0600) ``$f``."""
    with open(os.path.join(JOBS, name), "rb") as handle:
        script = base64.b64encode(handle.read()).decode()
    return f"f=$(mktemp /tmp/jetson-{name.removesuffix('.py')}.XXXXXX) && echo {script} | base64 -d > $f"


def plan(state: Any, has_mpi: Callable[[str], bool]) -> list[Job]:
    """The jobs of every reachable node: CPU; NFS per mount (skipped where nfs:mount_now is
    false); GPU on gpu: true nodes unless their GPU_JOB switch is false; one MPI pair per ring
    neighbour among nodes with MPI."""
    jobs = []
    for position, name in enumerate(state.reachable()):
        pillar = state.pillars[name]
        jobs.append(Job(name, "cpu"))
        jobs += nfs_jobs(state, name, position)
        if pillar["node"]["gpu"] and pillars.switch(pillar, GPU_JOB):
            jobs.append(Job(name, "gpu"))
    ring = [name for name in state.reachable() if has_mpi(name)]
    if len(ring) > 1:
        pairs = [(name, ring[(index + 1) % len(ring)]) for index, name in enumerate(ring)]
        jobs += [Job(a, "mpi", b) for a, b in (pairs if len(ring) > 2 else pairs[:1])]
    return jobs


def nfs_jobs(state: Any, name: str, position: int) -> list[Job]:
    """One job per mount, starting at a different mount on each node (``position``) so the
    exports share the load; skipped where nfs:mount_now is false, failed at once where the
    preflight found the mount point not answering (a dead master: no job waits on it)."""
    pillar = state.pillars[name]
    mounts = pillars.get(pillar, "nfs:client:mounts", [])
    if not mounts:
        return []
    if not pillars.setting(pillar, "nfs:mount_now"):
        why = f"{name}: pillar nfs:mount_now is false (NFS throughput is not measured)"
        return [Job(name, "nfs", f"cloud/{mount['index']}", skip=why) for mount in mounts]
    probe = state.reach.get(name, {}).get("probes", {}).get("mount_points", {}).get("out", "")
    stuck = {path for rc, _, path in (line.partition(" ") for line in probe.splitlines()) if rc != "0"}
    start = position % len(mounts)
    jobs = []
    for mount in mounts[start:] + mounts[:start]:
        job = Job(name, "nfs", f"cloud/{mount['index']}")
        if mount["path"] in stuck:
            job.error = f"{mount['path']} did not answer in the preflight (its master is down?)"
        jobs.append(job)
    return jobs


def rounds(pairs: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """The ring's pairs in rounds where each node is in at most one pair: even, odd (and the
    closing pair of an odd ring alone)."""
    out: list[list[tuple[str, str]]] = []
    for pair in pairs:
        slot = next((r for r in out if not {n for p in r for n in p} & set(pair)), None)
        if slot is None:
            out.append([pair])
        else:
            slot.append(pair)
    return out


class Runner:
    """Runs jobs over the targets' (multiplexed) ssh connections, as root."""

    def __init__(self, targets: list[inventory.Target], pillars_of: dict[str, dict[str, Any]]):
        self.targets = {t.name: t for t in targets}
        self.pillars = pillars_of
        self.token = secrets.token_hex(8)
        self.path = f"/tmp/jetson-fingerprint-{self.token}.py"  # unguessable, the same on every node

    def run(self, name: str, command: str) -> tuple[int, str, str]:
        target = self.targets[name]
        try:
            result = testinfra.get_host(target.spec, **target.options).run(command)
        except Exception as err:  # testinfra raises RuntimeError(result) for ssh errors
            return 255, "", f"connection lost: {preflight.error_reason(err)}"
        return result.rc, result.stdout, result.stderr

    def user(self, name: str) -> str:
        return self.pillars[name]["cluster_user"]["name"]

    def as_user(self, name: str, command: str, timeout: int) -> str:
        return probes.as_user(self.user(name), command, timeout)

    def install(self, name: str) -> str:
        """Put fingerprint.py at self.path, the cluster user's (the MPI job's peer runs it too):
        written to a fresh mktemp file (0600), renamed over the path (a rename never follows a link)."""
        install = f"{staged('fingerprint.py')} && mv -f $f {self.path}"
        return self.as_user(name, install, 60)

    def command(self, job: Job) -> str:
        python = f"{SYSTEM_PYTHON} {self.path}"
        if job.kind == "cpu":
            return self.install(job.node) + " && " + self.as_user(job.node, f"{python} cpu", 300)
        if job.kind == "nfs":
            return self.as_user(job.node, f"{python} nfs {shlex.quote(self.data_dir(job))} {NFS_SIZE_MB}", 120)
        if job.kind == "mpi":
            return self.as_user(job.node, mpirun(job.node, job.subject, python), 120)
        return self.gpu_command(job.node)

    def data_dir(self, job: Job) -> str:
        """The cluster user's directory on the job's mount (the export root is root's; test_nfs)."""
        pillar = self.pillars[job.node]
        mount = next(m for m in pillars.get(pillar, "nfs:client:mounts", []) if f"cloud/{m['index']}" == job.subject)
        return f"{mount['path']}/{pillars.formula(pillar, 'nfs')['server']['data_dir']}"

    def gpu_command(self, name: str) -> str:
        """The GPU matmul as the cluster user, tegrastats running as root meanwhile through the
        diagnosenet formula's root-owned wrapper; its lines follow a TEGRASTATS line."""
        pillar = self.pillars[name]
        stack, capture = pillars.formula(pillar, "gpu_stack"), pillars.formula(pillar, "diagnosenet")["capture"]
        want = stack.get("acceptance") or {}
        flags = {"matmul_size": "--size", "repeat": "--repeat", "max_error": "--max-error"}
        args = " ".join(f"{flag} {shlex.quote(str(want[key]))}" for key, flag in flags.items() if key in want)
        job = (f"{staged('gpu_matmul.py')} && "
               f"{shlex.quote(stack['venv'] + '/bin/python')} $f --device gpu {args}; rc=$?; rm -f $f; exit $rc")
        # The user's job writes to root's file (never to this channel): its output comes after
        # root's markers and tegrastats' lines, so it can neither forge them nor hold ssh open.
        return (f"log=$(mktemp) && out=$(mktemp) && {{ {shlex.quote(capture['wrapper'])} > $log 2>/dev/null & "
                f"tp=$!; }}; {self.as_user(name, job, 900)} > $out 2>&1 < /dev/null; rc=$?; kill $tp 2>/dev/null; "
                f"wait $tp 2>/dev/null; echo {TEGRASTATS}; cat $log; echo {JOB_OUTPUT}; cat $out; rm -f $log $out; "
                "exit $rc")

    def cleanup(self, name: str) -> None:
        self.run(name, f"rm -f {self.path}")

    def execute(self, job: Job) -> Job:
        started = time.monotonic()
        rc, out, err = self.run(job.node, self.command(job))
        ended = time.monotonic()
        job.seconds, job.span = round(ended - started, 3), (started, ended)
        job.tegrastats, out = framed(out)
        lines = [line for line in out.splitlines() if line.startswith("{")]
        try:
            job.result = json.loads(lines[-1]) if lines else {}
        except ValueError:
            job.result = {}
        if not isinstance(job.result, dict):
            job.result = {}
        unfit = [key for key in result_keys(job.kind) if not finite(job.result.get(key))]
        job.ok = rc == 0 and bool(job.result.get("ok")) and not unfit
        if not job.ok:
            reason = job.result.get("error") or f"exit {rc}, no result"
            reason = f"{', '.join(unfit)} not a finite number" if job.result.get("ok") and unfit else reason
            said, tail = ("stderr", err.strip()) if err.strip() else ("output", out.strip())
            job.error = printable(f"{reason}; {said}: {tail[-300:]}" if tail else str(reason))
        return job


def framed(out: str) -> tuple[list[str], str]:
    """(tegrastats' lines, the job's output) of a command's output: the GPU job's lines come
    between root's two markers (the first of each), every other job's output as it is."""
    lines = out.splitlines()
    if TEGRASTATS not in lines or JOB_OUTPUT not in lines[lines.index(TEGRASTATS):]:
        return [], out
    start = lines.index(TEGRASTATS)
    end = lines.index(JOB_OUTPUT, start)
    return lines[start + 1:end], "\n".join(lines[end + 1:])


def result_key(name: str) -> str:
    """The key of a job's JSON result that holds figure ``name``."""
    return "gflops" if name == "gpu_gflops" else name


def result_keys(kind: str) -> list[str]:
    """The result keys of a job's own figures (the GPU job's energy figures come from tegrastats)."""
    return [result_key(name) for name in JOB_FIGURES[kind] if name not in ENERGY_FIGURES]


def finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def printable(text: str) -> str:
    """Node output as one safe line for a terminal: control characters (ANSI escapes) shown as '?'."""
    return "".join(char if char.isprintable() else "?" for char in text)


def mpirun(node: str, peer: str, python: str) -> str:
    """mpirun of the ping-pong with one rank on ``node`` and one on ``peer``, as test_mpi starts it."""
    hosts = shlex.quote(f"{node},{peer}")
    return (f"mpirun -np 2 --host {hosts} --map-by node --mca plm_rsh_no_tree_spawn 1 "
            f"--mca plm_rsh_args {shlex.quote(probes.SSH_OPTIONS)} {python} pingpong {MPI_SIZE} {MPI_ITERATIONS}")


def run(state: Any, has_mpi: Callable[[str], bool]) -> dict[str, Any]:
    """Plan and run every job; return {wall_s, job_s, overlap, jobs: [Job as dict]}."""
    jobs = plan(state, has_mpi)
    runner = Runner(state.targets, state.pillars)
    by_node: dict[str, list[Job]] = {}
    for job in jobs:
        if job.kind != "mpi" and not job.skip and not job.error:
            by_node.setdefault(job.node, []).append(job)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=min(32, max(1, len(by_node)))) as pool:
        list(pool.map(lambda mine: [runner.execute(job) for job in mine], by_node.values()))
        mpi = {(job.node, job.subject): job for job in jobs if job.kind == "mpi"}
        for round_ in rounds(list(mpi)):
            list(pool.map(lambda pair: runner.execute(mpi[pair]), round_))
        list(pool.map(runner.cleanup, by_node))
    wall = time.monotonic() - started
    busy = sum(job.seconds for job in jobs)
    return {"wall_s": round(wall, 2), "job_s": round(busy, 2), "overlap": round(busy / wall, 2) if wall else 0.0,
            "peak": peak(jobs), "jobs": [asdict(job) for job in jobs]}


def peak(jobs: list[Job]) -> int:
    """The most jobs that were running at one moment (at some job's start)."""
    ran = [job.span for job in jobs if job.span[1] > 0]
    return max((sum(1 for other in ran if other[0] <= start < other[1]) for start, _end in ran), default=0)


def figures(phase: dict[str, Any], summarize: Callable[[list[str]], dict[str, Any]] | None) -> dict[str, dict]:
    """node -> figure id -> value, from the jobs that succeeded (the energy figures from the
    GPU job's tegrastats lines through ``summarize``)."""
    out: dict[str, dict[str, float]] = {}
    for job in phase.get("jobs", []):
        if not job["ok"]:
            continue
        mine = out.setdefault(job["node"], {})
        for figure in figure_ids(job):
            name = figure.partition("/")[0]
            if name not in ENERGY_FIGURES:
                mine[figure] = float(job["result"][result_key(name)])
        lines = [line for line in job["tegrastats"] if line.startswith(("RAM ", *"0123456789"))]
        if job["kind"] == "gpu" and summarize and lines:
            with contextlib.suppress(ValueError):  # not tegrastats' lines: no energy figure (its check says so)
                mine.update(energy(summarize(lines), mine.get("gpu_gflops")))
    return out


def energy(summary: dict[str, Any], gflops: float | None) -> dict[str, float]:
    """The energy figures of a tegrastats summary: GPU clock, hottest zone, GFLOP/s per watt."""
    out = {name: float(summary[name]) for name in ("gpu_freq_mhz", "temp_max_c") if summary.get(name) is not None}
    power = summary.get("gpu_power_w")
    if gflops is not None and power:
        out["gpu_gflops_per_w"] = gflops / power
    return out
