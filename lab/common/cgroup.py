"""One cgroup per lab node (and one for the salt-master) in every v1 hierarchy nodes need.

This host is cgroup v1 hybrid with no host systemd. ``systemd-nspawn --keep-unit`` runs the
container in the cgroup of the process that starts it; 24 containers sharing one cgroup make
units fail at random with 219/CGROUP. So each node gets
``<own cgroup>/<CGROUP_NAME>/<node>`` in each hierarchy below and its launcher moves itself
there before exec'ing nspawn. The same groups
give per-node memory figures and let ``down`` find (and kill) every process the lab started.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from pathlib import Path

from lab.common.paths import CGROUP_NAME

CGROUP_FS = Path("/sys/fs/cgroup")
# mount folder -> controller name as it appears in /proc/<pid>/cgroup
HIERARCHIES = {
    "systemd": "name=systemd",
    "unified": "",
    "memory": "memory",
    "pids": "pids",
    "cpu": "cpu",
    "cpuacct": "cpuacct",
}


def _own_paths(pid: str = "self") -> dict[str, str]:
    """controller -> cgroup path of process ``pid``."""
    paths = {}
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(","):
            paths[controller] = path
    return paths


def lab_roots() -> list[Path]:
    """``<hierarchy>/<this process's cgroup>/<CGROUP_NAME>`` for each mounted hierarchy."""
    own = _own_paths()
    roots = []
    for folder, controller in HIERARCHIES.items():
        mount = CGROUP_FS / folder
        if (mount / "cgroup.procs").exists() and controller in own:
            roots.append(mount / own[controller].lstrip("/") / CGROUP_NAME)
    return roots


def find_lab_roots(depth: int = 4) -> list[Path]:
    """Every folder of this lab's CGROUP_NAME under the hierarchies (`down` from anywhere)."""
    found = []
    for folder in HIERARCHIES:
        mount = CGROUP_FS / folder
        for level in range(depth):
            found += [p for p in mount.glob("/".join(["*"] * level + [CGROUP_NAME])) if p.is_dir()]
    return found


def create(roots: list[Path], member: str) -> list[Path]:
    """Create ``<root>/<member>`` in every root; return the group folders."""
    groups = [root / member for root in roots]
    for group in groups:
        group.mkdir(parents=True, exist_ok=True)
    return groups


def enter(groups: list[Path], pid: int = 0) -> None:
    """Move ``pid`` (0: the calling process) into every group."""
    for group in groups:
        (group / "cgroup.procs").write_text(f"{pid or os.getpid()}\n")


def pids(group: Path) -> set[int]:
    """Every process in ``group`` and its sub-groups."""
    found: set[int] = set()
    for folder, _, _ in os.walk(group):
        procs = Path(folder) / "cgroup.procs"
        if procs.exists():
            found |= {int(p) for p in procs.read_text().split()}
    return found


def kill(group: Path, sig: int = signal.SIGKILL) -> int:
    """Send ``sig`` to every process in ``group``; return how many were signalled."""
    count = 0
    for pid in pids(group):
        try:
            os.kill(pid, sig)
            count += 1
        except ProcessLookupError:
            pass
    return count


def remove(root: Path) -> None:
    """Remove the (empty) group ``root`` and its sub-groups, deepest first."""
    if not root.exists():
        return
    for folder, _, _ in os.walk(root, topdown=False):
        _rmdir(Path(folder))


def _rmdir(folder: Path, timeout: float = 10) -> None:
    """rmdir a cgroup; its last killed processes may take a moment to leave it (EBUSY)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            folder.rmdir()
            return
        except OSError as err:
            if err.errno != errno.EBUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def memory_bytes(group: Path) -> dict[str, int]:
    """Memory of ``group`` from the v1 memory controller: usage, rss and page cache."""
    stat = dict(line.split() for line in (group / "memory.stat").read_text().splitlines())
    return {
        "usage": int((group / "memory.usage_in_bytes").read_text()),
        "rss": int(stat["total_rss"]),
        "cache": int(stat["total_cache"]),
    }
