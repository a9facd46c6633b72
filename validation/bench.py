"""Benchmark of the acceptance suite: wall time for 1 host and for N hosts, ratio t(N)/t(1).

    python -m validation.bench --salt-config lab/run/etc/salt [--repeat 3] [--write docs/benchmarks.md] \
        -- --ssh-config lab/run/ssh/config -n 4

The first node of the table is the 1-host run, every node of the table (``<prefix>*``) the
N-host run, unless --one/--all say otherwise; everything after ``--`` goes to both pytest
runs unchanged. Each size runs --repeat times; the best time counts (noise only adds time).
The result replaces this benchmark's own section of docs/benchmarks.md. Goal: ratio <= 3 at N = 24.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from validation import inventory, pillars

GOAL = 3.0
BEGIN, END = "<!-- validation-bench:begin -->", "<!-- validation-bench:end -->"
DOC_HEADER = "# Benchmarks\n\nFigures measured by the benchmark scripts; each script owns its section.\n"


def measure(hosts: str, salt_config: str | None, extra: list[str], repeat: int, cgroups: str | None) -> dict:
    """Run the suite ``repeat`` times on ``hosts``: wall times, the best, exit codes, the CPU
    seconds of the best run on this side (pytest and its ssh clients) and on the nodes (cgroups),
    and the best run's fingerprint phase (its report's record: wall time, overlap of its jobs)."""
    command = [sys.executable, "-m", "pytest", "validation/", "-p", "no:cacheprovider", "-q", f"--hosts={hosts}"]
    command += [f"--salt-config={salt_config}"] if salt_config else []
    runs = []
    with tempfile.TemporaryDirectory(prefix="jetson-bench-") as scratch:
        # its own history: the benchmark's runs are no acceptance runs of the array
        own = [f"--report-json={scratch}/report.json", f"--history={scratch}/history.sqlite"]
        for attempt in range(1, repeat + 1):
            runs.append(_timed(command + own + extra, cgroups, f"{scratch}/report.json"))
            print(f"bench: --hosts={hosts} run {attempt}/{repeat}: {runs[-1]['wall']:.1f} s, "
                  f"exit {runs[-1]['code']}", flush=True)
            if runs[-1]["code"] == 2:
                sys.exit(f"bench: the suite cannot run (exit 2):\n{runs[-1]['output'][-4000:]}")
    best = min(runs, key=lambda r: r["wall"])
    times = [r["wall"] for r in runs]
    return {
        "hosts": hosts,
        "times": times,
        "best": best["wall"],
        "median": statistics.median(times),
        "codes": [r["code"] for r in runs],
        "suite_cpu": best["suite_cpu"],
        "node_cpu": best["node_cpu"],
        "phase": best["phase"],
    }


def _timed(command: list[str], cgroups: str | None, report: str) -> dict:
    """One suite run: wall time, exit code, CPU (this side, nodes), its fingerprint phase."""
    before, nodes_before = _children_cpu(), _cgroup_cpu(cgroups)
    started = time.monotonic()
    run = subprocess.run(command, cwd=pillars.REPO, capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    try:
        with open(report, encoding="utf-8") as handle:
            phase = json.load(handle).get("record", {}).get("phase") or {}
    except (OSError, ValueError):
        phase = {}
    return {
        "wall": wall,
        "code": run.returncode,
        "suite_cpu": _children_cpu() - before,
        "node_cpu": _cgroup_cpu(cgroups) - nodes_before if cgroups else None,
        "phase": phase,
        "output": run.stdout + run.stderr,
    }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cgroup_cpu(pattern: str | None) -> float:
    """CPU seconds so far of the cgroups whose cpuacct.usage files match ``pattern`` (the nodes)."""
    if not pattern:
        return 0.0
    return sum(int(Path(path).read_text()) for path in glob.glob(pattern)) / 1e9


def section(one: dict, many: dict, count: int, extra: list[str]) -> str:
    ratio = many["best"] / one["best"]
    verdict = "meets" if ratio <= GOAL else "MISSES"
    failed = [f"--hosts={r['hosts']} exited {sorted(set(r['codes']))}" for r in (one, many) if any(r["codes"])]
    lines = [
        BEGIN,
        "## Acceptance suite: 1 host vs N hosts (validation/bench.py)",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()} ({os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f} at the end), `pytest validation/ -q {' '.join(extra)}`.",
        "",
        "| hosts | runs (s) | best (s) | median (s) | CPU of the best run: suite side / nodes (s) "
        "| fingerprint phase of the best run: wall (s), overlap |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for label, run in (("1", one), (str(count), many)):
        times = ", ".join(f"{t:.1f}" for t in run["times"])
        nodes = f"{run['node_cpu']:.1f}" if run.get("node_cpu") is not None else "not measured"
        cpu = f"{run.get('suite_cpu', 0):.1f} / {nodes}"
        phase = run.get("phase") or {}
        jobs = f"{phase['wall_s']:.1f}, {phase['overlap']:.2f}" if phase else "not run (quick tier or no report)"
        lines.append(f"| {label} (`{run['hosts']}`) | {times} | {run['best']:.1f} | {run['median']:.1f} | {cpu} "
                     f"| {jobs} |")
    lines += ["", f"**t({count})/t(1) = {ratio:.2f}** (best times): {verdict} the goal <= {GOAL:g}."]
    if many.get("phase"):
        lines += ["", "Overlap: the fingerprint jobs' summed time over the phase's wall time, i.e. how many "
                  f"jobs ran at once on average ({count} nodes: at most {count}, one job per node at a time)."]
    if many.get("node_cpu") is not None:
        cpu = many["node_cpu"] + many["suite_cpu"]
        floor = cpu / (os.cpu_count() or 1)
        lines += [
            "",
            f"The nodes here share this machine's {os.cpu_count()} CPUs: {many['node_cpu'] / cpu:.0%} of the CPU "
            f"of the {count}-host run was spent on the nodes (sshd, the preflight probes, ssh between nodes, "
            "mpirun's daemons), which on the array runs on each node's own CPU, in parallel. "
            f"Its {cpu:.1f} CPU-seconds take at least {floor:.1f} s on {os.cpu_count()} CPUs even if both "
            f"stay busy the whole run: t({count})/t(1) >= {floor / one['best']:.2f} here, whatever the suite's "
            "scheduling.",
        ]
    if failed:
        lines += ["", "Runs with failing checks (times still count the whole run): " + "; ".join(failed) + "."]
    return "\n".join(lines + [END]) + "\n"


def write(path: str, text: str) -> None:
    """Replace this benchmark's section of ``path`` (or append it); other sections stay."""
    old = Path(path).read_text(encoding="utf-8") if os.path.exists(path) else DOC_HEADER
    if BEGIN in old and END in old:
        new = old[: old.index(BEGIN)] + text + old[old.index(END) + len(END) + 1 :]
    else:
        new = old.rstrip("\n") + "\n\n" + text
    Path(path).write_text(new, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--salt-config", help="as for the suite (default: the repo's pillar/)")
    parser.add_argument("--one", help="--hosts of the 1-host run (default: the table's first node)")
    parser.add_argument("--all", help="--hosts of the N-host run (default: every node of the table)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write", metavar="MD", help="write the section into this file (docs/benchmarks.md)")
    parser.add_argument(
        "--node-cgroups",
        metavar="GLOB",
        help="cpuacct.usage files of the nodes (lab), to split the CPU: suite side / nodes",
    )
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    table = pillars.table(pillars.salt_opts(args.salt_config))
    one = measure(args.one or table["nodes"][0]["name"], args.salt_config, extra, args.repeat, args.node_cgroups)
    many = measure(args.all or f"{table['name_prefix']}*", args.salt_config, extra, args.repeat, args.node_cgroups)
    count = len(inventory.expand(many["hosts"], table, inventory.SshOptions()))
    text = section(one, many, count, extra)
    print(text)
    if args.write:
        write(args.write, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
