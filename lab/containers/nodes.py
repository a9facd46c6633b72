"""Lab nodes: one booted systemd-nspawn container per row of the lab table.

Each node runs on its own overlay (lower: the cached image, upper: lab/run/nodes/<node>/upper,
wiped at every `up`), mounted in a private mount namespace of its launcher so no mount is
left on the host. Per-node files (machine-id, network, minion id and keys, ssh host key, root's
authorized_keys) are seeded into the upper layer before boot. Every node also gets the lab apt
repo (read-only) and the NFS stand-in: host folders lab/run/cloud/<i> bind-mounted at each
mount path of the table (nodetable.mounts()). A master gets a loop-file "SSD" as a block
device at its table ``ssd`` path.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shlex
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from jetson_array import nodetable
from lab.common import cgroup, hoststate, keys, table
from lab.common.paths import (
    BRIDGE,
    CLOUD_DIR,
    GUEST_KERNEL_CONFIG,
    L4T_KERNEL_CONFIG,
    NODE_APT_REPO,
    NODES_DIR,
    SALT_PUBLISH_PORT,
    SALT_RET_PORT,
    ensure,
)
from lab.common.shell import LabError, run, write
from lab.containers.image import NSPAWN_BASE

SSD_SIZE = "2G"  # sparse loop file standing in for a master's 1 TB SATA SSD


def node_dir(node: str) -> Path:
    return NODES_DIR / node


def seed(row: dict[str, Any], cluster: dict[str, Any], master_ip: str) -> Path:
    """A fresh upper layer for ``row`` holding the node's own files; return it."""
    name = row["name"]
    upper = node_dir(name) / "upper"
    for part in ("upper", "work", "merged"):
        shutil.rmtree(node_dir(name) / part, ignore_errors=True)
        ensure(node_dir(name) / part)
    prefix = table.host_address(cluster).network.prefixlen
    write(upper / "etc/machine-id", hashlib.md5(name.encode()).hexdigest() + "\n", 0o444)
    write(upper / "etc/systemd/network/10-lab.network", (
        f"[Match]\nName=host0\n\n[Network]\nAddress={row['ip']}/{prefix}\n"
        "LinkLocalAddressing=no\nIPv6AcceptRA=no\n"
    ))
    # the same address for lab-net-qemu.service of the arm64 image (no networkd under qemu-user)
    write(upper / "etc/lab-net.env", f"ADDRESS={row['ip']}/{prefix}\n")
    # The nodes' nfs_kernel grain reads the L4T stand-in config (this host's kernel has no NFS).
    write(upper / GUEST_KERNEL_CONFIG.lstrip("/"), L4T_KERNEL_CONFIG.read_text())
    write(upper / "etc/salt/minion.d/lab-node.conf", (
        f"id: {name}\nmaster: {master_ip}\n"
        f"publish_port: {SALT_PUBLISH_PORT}\nmaster_port: {SALT_RET_PORT}\n"
        f"nfs_kernel_config: {GUEST_KERNEL_CONFIG}\n"
    ))
    pki = upper / "etc/salt/pki/minion"
    pem, pub = keys.minion_key(name)
    write(pki / "minion.pem", pem.read_text(), 0o400)
    write(pki / "minion.pub", pub.read_text())
    write(pki / "minion_master.pub", keys.master_key()[1].read_text())
    host_key = keys.host_key(name)
    write(upper / "etc/ssh/ssh_host_ed25519_key", host_key.read_text(), 0o600)
    write(upper / "etc/ssh/ssh_host_ed25519_key.pub", host_key.with_suffix(".pub").read_text())
    write(upper / "root/.ssh/authorized_keys", keys.root_key().with_suffix(".pub").read_text(),
          0o600)
    (upper / "root/.ssh").chmod(0o700)
    _seed_home(upper, cluster)
    return upper


def _seed_home(upper: Path, cluster: dict[str, Any]) -> None:
    """The cluster user's home, owned by the table's uid/gid: the NFS stand-in's bind mounts
    under it would otherwise create it root-owned before the cluster_user state runs."""
    user = cluster["user"]
    home = upper / nodetable.user_home(cluster).lstrip("/")
    for folder in (home, home / "cloud"):
        folder.mkdir(parents=True, exist_ok=True)
        os.chown(folder, user["uid"], user["gid"])


def ssd_attach(node: str) -> str:
    """A fresh sparse loop file for ``node``; return the loop device it is attached to."""
    image = node_dir(node) / "ssd.img"
    ssd_detach(node)
    image.unlink(missing_ok=True)
    run(["truncate", "-s", SSD_SIZE, image], what=f"node {node}: SSD file")
    device = run(["losetup", "--find", "--show", image], what=f"node {node}: losetup").stdout
    hoststate.update(loops={node: device.strip()})
    return device.strip()


def ssd_detach(node: str) -> None:
    """Detach every loop device backed by ``node``'s SSD file."""
    image = node_dir(node) / "ssd.img"
    if image.exists():
        for line in run(["losetup", "--associated", image]).stdout.splitlines():
            run(["losetup", "--detach", line.split(":", 1)[0]], what=f"node {node}: detach SSD")
    hoststate.update(loops={node: None})


def nspawn_command(row: dict[str, Any], cluster: dict[str, Any], image: Path,
                   ssd: str | None, extra: dict[Path, str] | None = None) -> list[str]:
    """The launcher: mount the overlay in a private mount namespace, then boot the node.
    ``extra``: read-only binds (host path: node path) over the NFS stand-in's."""
    name, folder = row["name"], node_dir(row["name"])
    binds = [f"--bind-ro={image / 'apt'}:{NODE_APT_REPO}"]
    for mount in nodetable.mounts(cluster):
        binds.append(f"--bind={ensure(CLOUD_DIR / str(mount['index']))}:{mount['path']}")
    binds += [f"--bind-ro={src}:{dst}" for src, dst in (extra or {}).items()]
    if ssd:
        binds.append(f"--bind={ssd}:{row['ssd']}")
    nspawn = [
        *NSPAWN_BASE, "--boot", f"--machine={name}", f"--directory={folder / 'merged'}",
        f"--network-bridge={BRIDGE}", "--resolv-conf=off", "--timezone=off",
        "--link-journal=no", "--console=read-only", *binds,
    ]
    overlay = (f"lowerdir={image / 'rootfs'},upperdir={folder / 'upper'},"
               f"workdir={folder / 'work'}")
    script = (f"mount -t overlay overlay -o {shlex.quote(overlay)} "
              f"{shlex.quote(str(folder / 'merged'))} && exec {shlex.join(nspawn)}")
    return ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script]


def launch(row: dict[str, Any], cluster: dict[str, Any], image: Path, ssd: str | None,
           extra: dict[Path, str] | None = None) -> int:
    """Boot ``row`` in its own cgroups; return the launcher's pid (becomes nspawn's)."""
    name = row["name"]
    groups = cgroup.create(cgroup.lab_roots(), name)
    with open(node_dir(name) / "console.log", "w") as out:
        proc = subprocess.Popen(
            nspawn_command(row, cluster, image, ssd, extra), stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=lambda: cgroup.enter(groups),
        )
    hoststate.update(nodes={name: {"pid": proc.pid, "cgroups": [str(g) for g in groups]}})
    return proc.pid


def pids_group(node: str) -> Path | None:
    """The node's group in the pids hierarchy (from the saved state)."""
    groups = hoststate.load().get("nodes", {}).get(node, {}).get("cgroups", [])
    return next((Path(g) for g in groups if "/pids/" in g), None)


def alive(node: str) -> bool:
    group = pids_group(node)
    return bool(group and group.exists() and cgroup.pids(group))


def stop_all(nodes: list[str], timeout: float = 60) -> list[str]:
    """Halt ``nodes`` (SIGTERM to nspawn: clean poweroff), kill what is left after ``timeout``.

    Returns the nodes that had to be killed.
    """
    state = hoststate.load().get("nodes", {})
    for node in nodes:
        pid = state.get(node, {}).get("pid")
        if pid and alive(node):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 15)
    deadline = time.monotonic() + timeout
    while any(alive(n) for n in nodes) and time.monotonic() < deadline:
        time.sleep(0.5)
    killed = [n for n in nodes if alive(n)]
    for node in killed:
        group = pids_group(node)
        if group:
            cgroup.kill(group)
    return killed


def console_tail(node: str, lines: int = 20) -> str:
    log = node_dir(node) / "console.log"
    text = log.read_text(errors="replace") if log.exists() else "(no console log)"
    return "\n".join(text.splitlines()[-lines:])


def check_running(nodes: list[str]) -> None:
    """Raise naming the first node whose container has exited, with its console tail."""
    for node in nodes:
        if not alive(node):
            raise LabError(f"node {node}: container exited during boot; console "
                           f"({node_dir(node) / 'console.log'}):\n{console_tail(node)}")
