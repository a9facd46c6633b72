"""``python -m lab vm bench``: the VM lab's figures, written into docs/benchmarks.md.

Measures on this host: VM boot (cold, and restored from saved states), the first apply
(orch.rollout + state.apply), a no-op re-apply, the acceptance suite, and NFS write/read
throughput from the worker to each master's export. lab/common/bench.py writes the section
between the ``vm-lab`` markers of docs/benchmarks.md. Leaves the VM lab down.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from jetson_array import nodetable
from lab.common import converge, table, validate
from lab.common.bench import timed
from lab.common.paths import REPORTS_DIR
from lab.common.shell import LabError, say
from lab.vm import lifecycle as vm
from validation import pillars

NFS_MB = 64


def record(label: str, figures: dict[str, str], action: Callable[[], Any]) -> Any:
    """Run ``action``, keep its seconds in ``figures[label]``, say them; return its result."""
    seconds, result = timed(action)
    figures[label] = f"{seconds:.0f} s"
    say(f"bench: {label}: {figures[label]}")
    return result


def nfs_throughput(cluster: dict[str, Any], node: str) -> dict[str, str]:
    """MB/s of writing then reading NFS_MB MiB from ``node`` to each export (as the user)."""
    figures = {}
    user = cluster["user"]["name"]
    data_dir = pillars.formula({}, "nfs")["server"]["data_dir"]  # the export root is root's
    for mount in nodetable.mounts(cluster):
        if mount["master"] == node:
            continue
        path = f"{mount['path']}/{data_dir}/.bench-{node}"
        out = vm.ssh(node, (
            f"su {user} -c 'dd if=/dev/zero of={path} bs=1M count={NFS_MB} conv=fsync 2>&1' "
            f"&& echo 3 > /proc/sys/vm/drop_caches && su {user} -c 'dd if={path} of=/dev/null "
            f"bs=1M 2>&1; rm -f {path}'"), timeout=600).stdout
        rates = re.findall(r"([\d.]+) ([MG]B)/s", out)
        if len(rates) != 2:
            raise LabError(f"bench: {node} -> {mount['master']}: no dd rates in {out!r}")
        write, read = (float(v) * (1000 if unit == "GB" else 1) for v, unit in rates)
        figures[f"NFS {node} → {mount['master']} write / read"] = f"{write:.1f} / {read:.1f} MB/s"
    return figures


def outcome(results: dict[str, converge.NodeResult], rolled: bool | None = None) -> str:
    """'rollout ok; failed on no node; 0 changed states' (failed nodes named)."""
    failed = [node for node, result in results.items() if result.failed]
    changed = sum(len(result.changed) for result in results.values())
    rollout = "" if rolled is None else f"rollout {'ok' if rolled else 'FAILED'}; "
    return f"{rollout}failed on {', '.join(failed) or 'no node'}; {changed} changed states"


def measure() -> dict[str, str]:
    figures: dict[str, str] = {}
    vm.down()
    cluster = record("up, cold boot of all VMs (+ saving their states)", figures,
                     lambda: vm.up(cold=True))
    vm.down()
    record("up, restoring all VMs from saved states", figures, vm.up)
    names = table.names(cluster)
    (rolled, _), first = record("first apply (orch.rollout + state.apply)", figures,
                                lambda: (converge.rollout(), converge.apply_all(names, "bench first apply")))
    figures["first apply outcome"] = outcome(first, rolled)
    again = record("no-op re-apply (state.apply)", figures,
                   lambda: converge.apply_all(names, "bench re-apply"))
    figures["re-apply outcome"] = outcome(again)
    code, _ = record("acceptance suite (-n 4)", figures, lambda: validate.run_suite(
        REPORTS_DIR / "acceptance-bench.json", ["-n", "4"], quiet=True))
    figures["acceptance suite exit code"] = str(code)
    worker = next(n for n in names if n not in cluster["masters"])
    figures.update(nfs_throughput(cluster, worker))
    return figures


def section() -> str:
    """Measure (the VM lab is down afterwards, also on failure); the section's body."""
    try:
        figures = measure()
        count = len(table.names(vm.load_cluster()))
    finally:
        vm.down()
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    rows = "".join(f"| {label} | {value} |\n" for label, value in figures.items())
    return (
        f"## VM lab (qemu TCG, {count} VMs)\n\n"
        f"Measured by `python -m lab vm bench` on {when}, {os.cpu_count()} cores, "
        "TCG (no KVM): every guest instruction is emulated, so these are far below real "
        "hardware, and they vary with the host's load.\n\n"
        f"| what | time / rate |\n| --- | --- |\n{rows}"
    )
