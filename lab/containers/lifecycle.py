"""`up` and `down`: bring the lab cluster up on this host and take it away without a trace."""

from __future__ import annotations

import concurrent.futures
import fcntl
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lab.common import cgroup, hoststate, keys, master, table
from lab.common.paths import CLOUD_DIR, LAB_TABLE, LOCK_FILE, NODES_DIR, RUN, ensure
from lab.common.shell import LabError, run, say, step
from lab.containers import binfmt, image, install_package, net, nodes


@contextmanager
def locked() -> Iterator[None]:
    """One lab command at a time on this host (the lab is shared by everyone in the tree)."""
    ensure(LOCK_FILE.parent)
    with open(LOCK_FILE, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LabError(f"another lab command holds {LOCK_FILE}; wait for it") from None
        yield


def up(count: int | None = None, rebuild: bool = False,
       arm64: list[str] | None = None) -> dict[str, Any]:
    """Bring up ``count`` nodes (default: the whole table), the ``arm64`` ones TX2-like
    (an arm64 userland under qemu-user, gpu: true); return the derived cluster."""
    arm64 = list(arm64 or [])
    cluster = table.with_arm64(table.select(table.load(LAB_TABLE), count), arm64)
    names = table.names(cluster)
    hoststate.take_over("nodes", down)
    derived = table.write_derived(cluster)
    say(f"lab table: {len(names)} nodes ({', '.join(names)}) -> {derived}"
        + (f"; arm64: {', '.join(arm64)}" if arm64 else ""))
    images = {"amd64": image.ensure_image(rebuild)}
    if arm64:
        binfmt.register()
        images["arm64"] = image.ensure_image(rebuild, "arm64")
    address = table.host_address(cluster)
    with step("host: sysctls, bridge, keys, salt-master"):
        net.raise_sysctls()
        net.bridge_up(address)
        keys.write_ssh_files(cluster)
        master.write_config(str(address.ip), names)
        master.start(str(address.ip))
    install_package.provide(cluster, CLOUD_DIR, arm64)
    with step(f"nodes: booting {len(names)} containers"):
        for row in cluster["nodes"]:
            nodes.seed(row, cluster, str(address.ip))
            ssd = nodes.ssd_attach(row["name"]) if "ssd" in row else None
            foreign = row["name"] in arm64
            package = {install_package.ARM64_PACKAGE: install_package.node_path(cluster, row["name"])}
            nodes.launch(row, cluster, images["arm64" if foreign else "amd64"], ssd,
                         package if foreign else None)
    wait_ready(cluster, timeout=600 if arm64 else 300)
    return cluster


def wait_ready(cluster: dict[str, Any], timeout: float = 300) -> None:
    """Wait until every node answers test.ping and ssh (with the pinned host key)."""
    names = table.names(cluster)
    deadline = time.monotonic() + timeout
    with step(f"nodes: waiting for {len(names)} minions and sshd"):
        answered: set[str] = set()
        while answered != set(names):
            nodes.check_running(names)
            master.check_running()
            if time.monotonic() > deadline:
                missing = sorted(set(names) - answered)
                raise LabError(f"nodes {', '.join(missing)}: no answer to test.ping after "
                               f"{timeout:.0f}s; console: {nodes.node_dir(missing[0])}")
            reply = master.salt("-L", ",".join(sorted(set(names) - answered)), "test.ping",
                                "--timeout=5")
            answered |= {n for n, ok in reply.items() if ok is True}
            say(f"nodes: {len(answered)}/{len(names)} minions answer")
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            failed = [n for n, ok in zip(names, pool.map(ssh_ok, names), strict=False) if not ok]
        if failed:
            raise LabError(f"nodes {', '.join(failed)}: ssh as root with the lab key fails "
                           f"(see {keys.SSH_CONFIG})")


def ssh_ok(node: str, tries: int = 20) -> bool:
    """True once ``ssh node true`` works with the lab's pinned known_hosts."""
    for _ in range(tries):
        proc = run(["ssh", "-F", keys.SSH_CONFIG, "-o", "ControlMaster=no", "-o",
                    "BatchMode=yes", node, "true"], check=False, timeout=30)
        if proc.returncode == 0:
            return True
        time.sleep(1)
    return False


def down() -> list[str]:
    """Stop everything `up` started and undo its host changes; return what is left (empty)."""
    state = hoststate.load()
    running = sorted(state.get("nodes", {}))
    if running:
        with step(f"nodes: halting {len(running)} containers"):
            killed = nodes.stop_all(running)
            if killed:
                say(f"nodes: killed after timeout: {', '.join(killed)}")
    with step("host: salt-master, ssh connections, loop devices, cgroups, bridge, sysctls"):
        master.stop()
        keys.close_ssh_connections()
        for node in state.get("loops", {}):
            nodes.ssd_detach(node)
        _remove_cgroups(state)
        net.bridge_down()
        restored = net.restore_sysctls()
        if restored:
            say(f"host: restored {', '.join(restored)}")
        shutil.rmtree(NODES_DIR, ignore_errors=True)
        hoststate.clear("nodes", "loops", "master")
    undone = binfmt.restore()
    if undone:
        say(f"host: undone {', '.join(undone)}")
    leftovers = leftovers_on_host()
    for item in leftovers:
        say(f"down: LEFT BEHIND: {item}")
    return leftovers


def _remove_cgroups(state: dict[str, Any]) -> None:
    roots = {Path(g).parent for n in state.get("nodes", {}).values() for g in n["cgroups"]}
    roots |= {Path(g).parent for g in state.get("master", {}).get("cgroups", [])}
    roots |= set(cgroup.find_lab_roots())
    for root in sorted(roots):
        stragglers = cgroup.kill(root)
        if stragglers:
            say(f"host: killed {stragglers} stray processes in {root}")
            time.sleep(0.5)
        cgroup.remove(root)


def leftovers_on_host() -> list[str]:
    """Anything of the lab still on the host: processes, mounts, loops, cgroups, bridge."""
    found = [f"cgroup {p} ({len(cgroup.pids(p))} processes)" for p in cgroup.find_lab_roots()]
    mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    found += [f"mount {m.split()[4]}" for m in mounts if str(RUN) in m.split()[4]]
    loops = run(["losetup", "--list", "--noheadings", "--output", "NAME,BACK-FILE"]).stdout
    found += [f"loop {line}" for line in loops.splitlines() if str(RUN) in line]
    if net.bridge_exists() and net.bridge_owner() in ("", str(RUN)):
        found.append(f"bridge {net.BRIDGE}")
    for key, original in hoststate.load().get("sysctl", {}).items():
        found.append(f"sysctl {key} not restored to {original}")
    found += [f"process {pid} ({_cmd(pid)})" for pid in _lab_processes()]
    return found + binfmt.leftovers()


def _lab_processes() -> list[int]:
    """Processes whose command line runs from the lab's run folder (nspawn, salt-master)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            cmd = _cmd(int(entry.name))
            if str(RUN) in cmd and ("nspawn" in cmd or "salt-master" in cmd):
                found.append(int(entry.name))
    return found


def _cmd(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""
