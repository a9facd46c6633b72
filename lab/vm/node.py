"""One lab VM: its table row for VMs, seed, disks, qemu machine and saved booted state.

- The VM table is the lab table with each master's ``ssd`` set to the virtio disk the VM
  gets as its SSD (``vm_table``: the one place that knows VM device names).
- The seed is a tar of the node's own files (hostname, network, minion id and keys, ssh host
  key, root's authorized_keys) passed through fw_cfg; lab/files/vm/jetlab-seed.service unpacks it
  on the first boot. Built deterministically, so its hash keys the saved state.
- Disks per run (lab/run/vms/<node>/): a fresh qcow2 overlay of the cached disk image (or of
  the saved booted disk), and on masters a blank SSD and a blank spare disk (fault tests).
- Saved state (lab/cache/vm-states/<key>/<node>): after a cold boot the VM is paused, its
  RAM goes to a file and its disk layer is kept; later runs restore it in seconds.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import tarfile
from pathlib import Path
from typing import Any

from lab.common import keys, table
from lab.common.paths import (
    CACHE,
    GUEST_KERNEL_CONFIG,
    L4T_KERNEL_CONFIG,
    RUN,
    SALT_PUBLISH_PORT,
    SALT_RET_PORT,
    ensure,
)
from lab.common.shell import run, write
from lab.vm.qemu import GUEST_MASTER, Disk, Machine

VMS_DIR = RUN / "vms"
STATES_DIR = CACHE / "vm-states"
VDE_DIR = RUN / "vde"
# The L4T profile: the VMs run Debian kernels (NFS 4.2) but stand in for the array's L4T
# kernel, which builds NFS v3 only. Every minion's nfs_kernel grain reads this config instead
# of the kernel's own, and the masters' nfsd serves v3 only (nfs.conf [nfsd] vers4=n).
NFSD_V3_ONLY = "# Lab L4T profile: the L4T kernel's nfsd has no NFS v4.\n[nfsd]\nvers4=n\n"
SSH_PORT_BASE = 42200  # + node number, on 127.0.0.1
MEMORY_MB = 768
# Disks after the root disk, in guest order (/dev/vdb, /dev/vdc): masters only.
MASTER_DISKS = [("ssd", "2G"), ("spare", "64M")]


def guest_device(index: int) -> str:
    """The guest device of the ``index``-th virtio disk (0: the root disk, /dev/vda)."""
    return f"/dev/vd{'abcdefghij'[index]}"


def ssd_device() -> str:
    return guest_device(1 + [name for name, _ in MASTER_DISKS].index("ssd"))


def spare_device() -> str:
    return guest_device(1 + [name for name, _ in MASTER_DISKS].index("spare"))


def vm_table(cluster: dict[str, Any]) -> dict[str, Any]:
    """The cluster for VMs: each row with an ``ssd`` gets the VM's SSD device instead."""
    rows = [{**row, "ssd": ssd_device()} if "ssd" in row else row for row in cluster["nodes"]]
    return {**cluster, "nodes": rows}


def vm_dir(node: str) -> Path:
    return VMS_DIR / node


def _mac(prefix: str, number: int) -> str:
    return f"52:54:00:{prefix}:{number // 256:02x}:{number % 256:02x}"


def lan_mac(row: dict[str, Any]) -> str:
    """The MAC of the VM's NIC on the private LAN (the vde switch)."""
    return _mac("77", row["number"])


def seed_files(row: dict[str, Any], cluster: dict[str, Any]) -> dict[str, tuple[str, int]]:
    """Path in the VM -> (content, mode) of the node's own files."""
    name, number = row["name"], row["number"]
    prefix = table.host_address(cluster).network.prefixlen
    pem, pub = keys.minion_key(name)
    host_key = keys.host_key(name)
    network = "[Match]\nMACAddress={mac}\n\n[Network]\nAddress={address}\n" \
              "LinkLocalAddressing=no\nIPv6AcceptRA=no\n"
    return {
        "etc/hostname": (f"{name}\n", 0o644),
        "etc/systemd/network/10-lan.network":
            (network.format(mac=lan_mac(row), address=f"{row['ip']}/{prefix}"), 0o644),
        "etc/systemd/network/20-user.network":
            (network.format(mac=_mac("10", number), address="10.0.2.15/24"), 0o644),
        "etc/salt/minion.d/lab-node.conf": (
            f"id: {name}\nmaster: {GUEST_MASTER}\n"
            f"publish_port: {SALT_PUBLISH_PORT}\nmaster_port: {SALT_RET_PORT}\n"
            f"nfs_kernel_config: {GUEST_KERNEL_CONFIG}\n", 0o644),
        GUEST_KERNEL_CONFIG.lstrip("/"): (L4T_KERNEL_CONFIG.read_text(), 0o644),
        "etc/salt/pki/minion/minion.pem": (pem.read_text(), 0o400),
        "etc/salt/pki/minion/minion.pub": (pub.read_text(), 0o644),
        "etc/salt/pki/minion/minion_master.pub": (keys.master_key()[1].read_text(), 0o644),
        "etc/ssh/ssh_host_ed25519_key": (host_key.read_text(), 0o600),
        "etc/ssh/ssh_host_ed25519_key.pub": (host_key.with_suffix(".pub").read_text(), 0o644),
        "root/.ssh/authorized_keys": (keys.root_key().with_suffix(".pub").read_text(), 0o600),
        **({"etc/nfs.conf.d/jetlab-l4t.conf": (NFSD_V3_ONLY, 0o644)} if "ssd" in row else {}),
    }


def write_seed(row: dict[str, Any], cluster: dict[str, Any]) -> Path:
    """The node's seed tar (root-owned, fixed mtimes: same files, same bytes)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for folder in ("root/.ssh", "etc/salt/pki/minion"):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o700
            tar.addfile(info)
        for path, (text, mode) in sorted(seed_files(row, cluster).items()):
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    seed = ensure(vm_dir(row["name"])) / "seed.tar"
    seed.write_bytes(buffer.getvalue())
    return seed


def machine(row: dict[str, Any], cluster: dict[str, Any], image: Path) -> Machine:
    """The qemu machine of ``row`` (disk files under its run folder)."""
    name, folder = row["name"], vm_dir(row["name"])
    disks = [Disk(folder / "root.qcow2", "jetlab-root")]
    if "ssd" in row:
        disks += [Disk(folder / f"{disk}.qcow2", f"jetlab-{disk}") for disk, _ in MASTER_DISKS]
    machine_id = hashlib.md5(name.encode()).hexdigest()
    return Machine(
        name=name, memory_mb=MEMORY_MB, kernel=image / "vmlinuz", initrd=image / "initrd.img",
        append=f"root=/dev/vda rw console=ttyS0 quiet systemd.machine_id={machine_id}",
        disks=disks, seed=folder / "seed.tar",
        lan_mac=lan_mac(row), user_mac=_mac("10", row["number"]),
        ssh_port=SSH_PORT_BASE + row["number"],
        forwards={SALT_PUBLISH_PORT: SALT_PUBLISH_PORT, SALT_RET_PORT: SALT_RET_PORT},
        vde_socket=VDE_DIR, qmp_socket=folder / "qmp.sock", console=folder / "console.log",
    )


def state_dir(spec: Machine, image: Path) -> Path:
    """Where the booted state of ``spec`` is cached: keyed by image, seed and devices."""
    digest = hashlib.sha256(image.name.encode())
    digest.update(spec.seed.read_bytes())
    digest.update("\0".join(spec.command()).replace(str(RUN), "@RUN").encode())
    digest.update(repr(MASTER_DISKS).encode())
    return STATES_DIR / digest.hexdigest()[:16] / spec.name


def fresh_disks(spec: Machine, backing: Path) -> None:
    """A new root overlay on ``backing`` and blank extra disks (old files are dropped)."""
    root, *extra = spec.disks
    root.path.unlink(missing_ok=True)
    backing_format = "raw" if backing.suffix == ".img" else "qcow2"
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", backing_format, "-b", backing,
         root.path], what=f"vm {spec.name}: root overlay")
    for disk, (_, size) in zip(extra, MASTER_DISKS, strict=False):
        disk.path.unlink(missing_ok=True)
        run(["qemu-img", "create", "-q", "-f", "qcow2", disk.path, size],
            what=f"vm {spec.name}: blank disk {disk.serial}")


def keep_state(spec: Machine, saved: Path, target: Path) -> None:
    """Move a just-saved state file and a copy of the VM's root layer into the cache."""
    work = ensure(target.with_name(target.name + ".tmp"))
    shutil.copy(spec.disks[0].path, work / "root.qcow2")
    shutil.move(saved, work / "state")
    write(work / "COMPLETE", f"{spec.name}\n")
    if target.exists():
        shutil.rmtree(target)
    work.rename(target)
    for old in STATES_DIR.glob(f"*/{spec.name}"):  # states of older images or devices
        if old != target:
            shutil.rmtree(old)
            if not any(old.parent.iterdir()):
                old.parent.rmdir()
