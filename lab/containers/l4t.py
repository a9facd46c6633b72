"""The FIXTURE L4T R28.1 stand-ins (lab/files/l4t/) staged into the arm64 node image.

The lab's arm64 nodes must look like a Jetson TX2 on L4T R28.1 to the Salt states and to the
acceptance suite: the release file the tegra grain reads, nvpmodel and its conf, tegrastats in
the nvidia user's home. The image builder calls ``stage(rootfs)``; ``FILES`` goes into its
recipe hash, so an edited stand-in rebuilds the image. What each file does: lab/files/l4t/README.md.
"""

from __future__ import annotations

import os
from pathlib import Path

from lab.common.paths import FILES as LAB_FILES
from lab.common.shell import write

SOURCE = LAB_FILES / "l4t"
# source file -> (path in the node's rootfs, mode), as on an R28.1 TX2
STAGED: dict[Path, tuple[str, int]] = {
    SOURCE / "nv_tegra_release": ("etc/nv_tegra_release", 0o644),
    SOURCE / "nvpmodel": ("usr/sbin/nvpmodel", 0o755),
    SOURCE / "nvpmodel.conf": ("etc/nvpmodel.conf", 0o644),
    SOURCE / "tegrastats": ("home/nvidia/tegrastats", 0o755),
}
FILES: list[Path] = list(STAGED)
# nvpmodel -m writes its status file there; empty, so -q reports the conf's default until then
STATE_DIR = "var/lib/nvpmodel"


def stage(rootfs: Path) -> None:
    """Write every stand-in into ``rootfs`` with its mode, root-owned (the diagnosenet formula
    copies tegrastats from there to the root-owned copy its sudo wrapper runs)."""
    for source, (dest, mode) in STAGED.items():
        _make_dirs(rootfs, Path(dest).parent)
        os.chown(write(rootfs / dest, source.read_text(encoding="utf-8"), mode), 0, 0)
    _make_dirs(rootfs, Path(STATE_DIR))


def _make_dirs(rootfs: Path, rel: Path) -> None:
    """Create the missing directories of ``rel`` under ``rootfs``, root's and 0755 whatever the
    umask (/home/nvidia must stay readable); existing ones are left as they are."""
    for part in reversed([rel, *rel.parents][:-1]):
        path = rootfs / part
        if not path.is_dir():
            path.mkdir()
            path.chmod(0o755)
            os.chown(path, 0, 0)
