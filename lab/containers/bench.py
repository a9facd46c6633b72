"""``python -m lab bench``: the container lab's figures, written into docs/benchmarks.md.

For N = 4 and N = 24 (``--nodes``): nodes up (image cached), first apply (orch.rollout +
state.apply), no-op re-apply, acceptance run, memory per node; once: image build cold
(``--cold``: image, debootstrap and wheel caches removed first) and cached. lab/common/bench.py
writes the section between the ``lab`` markers of docs/benchmarks.md. Leaves the lab down.
Goals: no-op re-apply <= 25 % of the first apply; acceptance t(24)/t(4) <= 3.

``--arm64 NODES`` measures instead one lab of ``--nodes`` nodes with those nodes TX2-like
(qemu-user) into the ``lab-arm64`` section: the image of each architecture built again (the
download caches kept), the lab up, and per node the seconds until its first apply and its
re-apply returned (after the rollout's preparation: keys, modules, mine) with their outcome,
and a run of the suite on that node alone; the arm64 nodes against the median of the other
nodes (an x86 worker for the suite), as a ratio measured in the same run.
"""

from __future__ import annotations

import os
import shutil
import statistics
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lab.common import cgroup, converge, hoststate, master, table, validate
from lab.common.bench import timed
from lab.common.paths import CACHE, REPORTS_DIR
from lab.containers import binfmt, image, lifecycle

REAPPLY_GOAL, ACCEPTANCE_GOAL = 0.25, 3.0


def image_figures(cold: bool) -> dict[str, float]:
    """Seconds to build the image from nothing (if ``cold``) and to find it cached."""
    figures = {}
    if cold:
        for folder in ("image", "debootstrap", "wheels"):
            shutil.rmtree(CACHE / folder, ignore_errors=True)
        figures["image build, cold"], _ = timed(image.ensure_image)
    figures["image build, cached"], _ = timed(image.ensure_image)
    return figures


def memory_mib() -> dict[str, float]:
    """Mean and max memory per node (usage incl. page cache, and rss) from the node cgroups."""
    usage, rss = [], []
    for info in hoststate.load().get("nodes", {}).values():
        group = next(Path(g) for g in info["cgroups"] if "/memory/" in g)
        figures = cgroup.memory_bytes(group)
        usage.append(figures["usage"] / 2**20)
        rss.append(figures["rss"] / 2**20)
    return {"mean usage": statistics.mean(usage), "max usage": max(usage),
            "mean rss": statistics.mean(rss)}


def first_apply(names: list[str]) -> str:
    ok, summary = converge.rollout()
    results = converge.apply_all(names, "bench first apply")
    failed = sorted(n for n, r in results.items() if not r.ok)
    rollout = "rollout ok" if ok else "rollout FAILED (" + summary.splitlines()[-1].strip() + ")"
    return f"{rollout}; state.apply failed on {failed or 'no node'}"


def run_size(count: int) -> dict[str, Any]:
    """All figures of one lab size; the lab is taken down afterwards."""
    figures: dict[str, Any] = {}
    try:
        figures["nodes up"], cluster = timed(lambda: lifecycle.up(count))
        names = table.names(cluster)
        figures["first apply"], figures["first apply outcome"] = timed(lambda: first_apply(names))
        figures["no-op re-apply"], results = timed(
            lambda: converge.apply_all(names, "bench re-apply"))
        figures["re-apply changes"] = sum(len(r.changed) for r in results.values())
        figures["acceptance run"], (code, _) = timed(lambda: validate.run_suite(
            REPORTS_DIR / f"acceptance-bench-{count}.json", quiet=True))
        figures["acceptance exit code"] = code
        figures["memory per node (MiB)"] = memory_mib()
    finally:
        lifecycle.down()
    return figures


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.0f} s"
    if isinstance(value, dict):
        return ", ".join(f"{k} {v:.0f}" for k, v in value.items())
    return str(value)


def body(images: dict[str, float], sizes: dict[int, dict[str, Any]]) -> str:
    """The markdown section's body: one column per lab size, then the goals with their verdicts."""
    counts = sorted(sizes)
    rows = [f"| {label} | {_cell(value)} |" + " |" * (len(counts) - 1)
            for label, value in images.items()]
    for label in sizes[counts[0]]:
        rows.append(f"| {label} | " + " | ".join(_cell(sizes[n].get(label)) for n in counts) + " |")
    verdicts = []
    for n in counts:
        ratio = sizes[n]["no-op re-apply"] / sizes[n]["first apply"]
        verdicts.append(f"- N={n}: no-op re-apply / first apply = {ratio:.0%} "
                        f"({'meets' if ratio <= REAPPLY_GOAL else 'MISSES'} the goal "
                        f"<= {REAPPLY_GOAL:.0%})")
    if len(counts) > 1:
        ratio = sizes[counts[-1]]["acceptance run"] / sizes[counts[0]]["acceptance run"]
        verdicts.append(f"- acceptance t({counts[-1]})/t({counts[0]}) = {ratio:.2f} "
                        f"({'meets' if ratio <= ACCEPTANCE_GOAL else 'MISSES'} the goal "
                        f"<= {ACCEPTANCE_GOAL:g})")
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join([
        "## Container lab (systemd-nspawn)", "",
        f"Measured by `python -m lab bench` on {when}, {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.1f} at the end (the host is shared: figures vary with its load).",
        "", "| what | " + " | ".join(f"N={n}" for n in counts) + " |",
        "| --- |" + " --- |" * len(counts), *rows, "", *verdicts, ""])


def section(counts: list[int], cold: bool, arm64: list[str] | None = None) -> str:
    """Image figures (from scratch too if ``cold``), then each lab size of ``counts``; with
    ``arm64``, the arm64 section of one lab of ``counts[0]`` nodes instead."""
    if arm64:
        return arm64_body(arm64_figures(counts[0], arm64), arm64, counts[0])
    lifecycle.down()
    images = image_figures(cold)
    sizes = {count: run_size(count) for count in counts}
    return body(images, sizes)



def _split(times: dict[str, float], arm64: list[str]) -> tuple[float, float]:
    """(mean of the arm64 nodes, median of the x86 nodes) of per-node seconds."""
    return (statistics.mean(times[n] for n in arm64),
            statistics.median(t for n, t in times.items() if n not in arm64))


def _per_node(label: str, names: list[str]) -> tuple[dict[str, float], str]:
    """Seconds until each node's state.apply returned (all nodes at once), and its outcome."""
    times: dict[str, float] = {}
    results = converge.apply_all(names, label, returned_after=times)
    failed = sorted(n for n, r in results.items() if r.failed)
    changed = sum(len(r.changed) for r in results.values())
    return times, f"failed on {failed or 'no node'}, {changed} changed states"


def _prepare(names: list[str]) -> None:
    """What orch.rollout does before its highstates (salt/orch/rollout.sls): each node's keys,
    the custom modules, the mine; the first apply then needs no rollout."""
    target = ("-L", ",".join(names))
    master.salt(*target, "state.apply", "ssh_mesh.keys", "--timeout=600")
    master.salt(*target, "saltutil.sync_all", "--timeout=600")
    master.salt(*target, "mine.update", "--timeout=600")


def _suite_alone(node: str) -> float:
    seconds, _ = timed(lambda: validate.run_suite(REPORTS_DIR / f"bench-{node}.json", [f"--hosts={node}"],
                                                  quiet=True))
    return seconds


def arm64_figures(count: int, arm64: list[str]) -> dict[str, tuple[float, float | None]]:
    """{what: (arm64 seconds, x86 seconds)} of one lab with the ``arm64`` nodes; left down."""
    lifecycle.down()
    binfmt.register()
    built = {}
    for arch in ("amd64", "arm64"):
        for old in (CACHE / "image").glob(f"{arch}-*"):
            shutil.rmtree(old)
        built[arch], _ = timed(lambda: image.ensure_image(arch=arch))  # noqa: B023 (called at once)
    figures: dict[str, tuple[float, float | None]] = {
        "image build (download caches kept)": (built["arm64"], built["amd64"])}
    try:
        up, cluster = timed(lambda: lifecycle.up(count, arm64=arm64))
        names = table.names(cluster)
        figures["lab up (every node)"] = (up, None)
        _prepare(names)
        for what, label in (("first apply", "bench first apply"), ("no-op re-apply", "bench re-apply")):
            times, outcome = _per_node(label, names)
            figures[f"{what}: the node returned after ({outcome})"] = _split(times, arm64)
        x86 = sorted((n for n in names if n not in arm64), key=lambda n: n in cluster["masters"])
        alone = {node: _suite_alone(node) for node in [*arm64, x86[0]]}  # a worker if there is one
        figures["acceptance suite on the node alone"] = _split(alone, arm64)
    finally:
        lifecycle.down()
    return figures


def arm64_body(figures: dict[str, tuple[float, float | None]], arm64: list[str], count: int) -> str:
    """The lab-arm64 section: the arm64 nodes, the x86 ones, their ratio."""
    rows = [f"| {what} | {mine:.0f} s | {f'{x86:.0f} s' if x86 else 'n/a'} | "
            f"{f'{mine / x86:.1f}' if x86 else 'n/a'} |" for what, (mine, x86) in figures.items()]
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join([
        "## Container lab with arm64 nodes (qemu-user)", "",
        f"Measured by `python -m lab bench --arm64 {','.join(arm64)} --nodes {count}` on {when}, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end. arm64: the mean of "
        "the arm64 nodes; x86: the median of the other nodes (the amd64 image for the image row, "
        "one x86 worker for the suite); every figure from the same run.",
        "", "| what | arm64 | x86 | arm64 / x86 |", "| --- | --- | --- | --- |", *rows, ""])
