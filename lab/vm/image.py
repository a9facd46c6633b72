"""The VM disk image: the lab's node image (lab/containers/image.py) + a kernel, as an ext4 disk image.

Built from the cached lab rootfs: a copy gets ``linux-image-amd64`` (a small initrd with the
virtio and ext4 modules), ``netbase`` (``/etc/protocols``: mount.nfs needs it for
``proto=tcp``, and every stock Debian/Ubuntu system has it), the seed unit of lab/files/vm/ and
the lab apt repo copied in at the path nodes use (VMs cannot bind-mount it). Then
``mke2fs -d`` turns the tree into ``root.img`` (sparse, no partition table: root=/dev/vda)
and the kernel and initrd are copied beside it for direct kernel boot.

Cached under lab/cache/vm-image/<hash>/, keyed by the lab image's recipe hash and the files
of this recipe; VMs never write to it (each run puts a fresh qcow2 overlay on top).
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from lab.common.paths import CACHE, LAB, NODE_APT_REPO, VM_FILES, ensure
from lab.common.shell import LabError, run, say, step, write
from lab.containers import aptsources, image

RECIPE = [Path(__file__), VM_FILES / "jetlab-seed.service", VM_FILES / "initramfs.conf"]
IMAGE_ROOT = CACHE / "vm-image"
DISK_SIZE = "8G"  # sparse; room for the 4 GiB swap file of pillar swap:size_mb
PACKAGES = ["linux-image-amd64", "initramfs-tools", "netbase"]
INITRD_MODULES = ["virtio_pci", "virtio_blk", "ext4"]
DEBIAN_LIST = "etc/apt/sources.list.d/jetlab-vm-build.list"  # only while building


def recipe_hash() -> str:
    """Hash of the lab image recipe and this one; a new hash means a rebuild."""
    digest = hashlib.sha256(image.recipe_hash().encode())
    for path in RECIPE:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def image_dir() -> Path:
    return IMAGE_ROOT / recipe_hash()


def ensure_vm_image(rebuild: bool = False) -> Path:
    """The cached VM image dir (root.img, vmlinuz, initrd.img); build it first if missing."""
    target = image_dir()
    if (target / "COMPLETE").exists() and not rebuild:
        say(f"vm image: cached {target.relative_to(LAB.parent)}")
        return target
    base = image.ensure_image()
    with step(f"vm image: building {target.name} (kernel, ext4 disk; log in build.log)"):
        build(base, target)
    for old in IMAGE_ROOT.iterdir():
        if old != target and old.is_dir():
            say(f"vm image: removing outdated {old.name}")
            shutil.rmtree(old)
    return target


def build(base: Path, target: Path) -> None:
    """Build the VM image from the lab image ``base`` into ``target`` (via ``target``.tmp)."""
    work = target.with_name(target.name + ".tmp")
    if work.exists():
        shutil.rmtree(work)
    rootfs, log = work / "rootfs", ensure(work) / "build.log"
    run(["cp", "-a", "--reflink=auto", base / "rootfs", rootfs], what="vm image: copy rootfs")
    _add_kernel(rootfs, base / "apt", log)
    run(["cp", "-a", f"{base / 'apt'}/.", ensure(rootfs / NODE_APT_REPO.lstrip("/"))],
        what="vm image: copy the lab apt repo")
    _extract_boot(rootfs, work)
    with step(f"vm image: mke2fs -d ({DISK_SIZE} sparse)"):
        run(["mke2fs", "-q", "-t", "ext4", "-L", "jetlab-root", "-d", rootfs,
             work / "root.img", DISK_SIZE], what="vm image: mke2fs", log=log)
    shutil.rmtree(rootfs)
    write(work / "COMPLETE", f"base {base.name}\n")
    if target.exists():
        shutil.rmtree(target)
    work.rename(target)


def _add_kernel(rootfs: Path, apt_repo: Path, log: Path) -> None:
    """Install the kernel from the host's Debian mirror, then leave apt on the lab repo only."""
    debian = "".join(s.line() + "\n" for s in aptsources.debian_sources())
    write(rootfs / DEBIAN_LIST, debian)
    write(rootfs / "etc/initramfs-tools/conf.d/jetlab-vm.conf",
          (VM_FILES / "initramfs.conf").read_text())
    write(rootfs / "etc/initramfs-tools/modules", "".join(m + "\n" for m in INITRD_MODULES))
    write(rootfs / "etc/systemd/system/jetlab-seed.service",
          (VM_FILES / "jetlab-seed.service").read_text())
    write(rootfs / "etc/fstab", "/dev/vda / ext4 defaults,noatime 0 1\n")
    with step(f"vm image: install {' '.join(PACKAGES)}"):
        image.in_root(rootfs, (
            "apt-get update -q\n"
            f"DEBIAN_FRONTEND=noninteractive apt-get install -q -y {' '.join(PACKAGES)}\n"
            "systemctl enable jetlab-seed.service\n"
            f"rm -f /{DEBIAN_LIST}\n"
            "rm -rf /var/lib/apt/lists/*\n"
            "apt-get update -q\n"
            "apt-get clean\n"
        ), log, {apt_repo: NODE_APT_REPO})


def _extract_boot(rootfs: Path, work: Path) -> None:
    """Copy the (single) kernel and its initrd next to the disk image."""
    kernels = sorted((rootfs / "boot").glob("vmlinuz-*"))
    if len(kernels) != 1:
        raise LabError(f"vm image: expected one kernel in {rootfs}/boot, found {kernels}")
    version = kernels[0].name.removeprefix("vmlinuz-")
    shutil.copy(kernels[0], work / "vmlinuz")
    shutil.copy(rootfs / "boot" / f"initrd.img-{version}", work / "initrd.img")
    say(f"vm image: kernel {version}")
