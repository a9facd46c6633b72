"""The install package on the NFS stand-in: the FIXTURE package built by lab/fixtures/build.py.

On the array the package lives on the export of the table's install_package master and every
node sees it at the pillar's ``gpu_stack:package_dir``. In the lab, host folder
lab/run/cloud/<i> is bind-mounted at mount path i on every node, so the package is built into
the folder of the install-package master's mount index. The builder also writes the pillar
that points the gpu_stack/diagnosenet formulas at the fixture files (their real sha256):
lab/run/pillar/lab_fixture.sls, a pillar root of the lab master, included by lab/files/pillar/site.sls.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Any

import yaml

from jetson_array import nodetable
from lab.common.paths import CACHE, LAB, REPO, RUN, VENV_BIN, ensure
from lab.common.shell import LabError, run, step

BUILDER = LAB / "fixtures" / "build.py"
PILLAR_ROOT = RUN / "pillar"  # generated pillar root of the lab master
FIXTURE_PILLAR = PILLAR_ROOT / "lab_fixture.sls"
GPU_PILLAR = REPO / "pillar" / "gpu.sls"


def target(cluster: dict[str, Any], cloud: Path) -> Path:
    """Host folder that nodes see as gpu_stack:package_dir."""
    package = cluster["install_package"]
    mount = next(m for m in nodetable.mounts(cluster) if m["master"] == package["master"])
    return cloud / str(mount["index"]) / package["dir"]


def pip_wheel() -> Path:
    """The real pip wheel the manifest names (pillar/gpu.sls), from PyPI, sha256-checked."""
    wheelhouse = yaml.safe_load(GPU_PILLAR.read_text())["gpu_stack"]["wheelhouse"]
    entry = next((w for w in wheelhouse if w.get("role") == "pip-wheel"), None)
    if entry is None:
        raise LabError(f"{GPU_PILLAR}: gpu_stack:wheelhouse has no entry with role pip-wheel")
    folder = ensure(CACHE / "fixtures")
    wheel = folder / Path(entry["file"]).name
    if not wheel.exists():
        run([VENV_BIN / "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
             "--dest", folder, entry["requirement"]], what=f"pip download {entry['requirement']}")
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if entry.get("sha256") and digest != entry["sha256"]:
        wheel.unlink()
        raise LabError(f"{wheel}: sha256 {digest} is not the {entry['sha256']} of {GPU_PILLAR}")
    return wheel


def seal(package: Path) -> None:
    """Make the package tree root-owned and writable by root only, as on the array's export:
    a user of the nodes must not be able to swap a file the states install."""
    for path in [package, *package.rglob("*")]:
        os.lchown(path, 0, 0)
        if not path.is_symlink():
            path.chmod(stat.S_IMODE(path.lstat().st_mode) & ~0o022)


def provide(cluster: dict[str, Any], cloud: Path) -> Path:
    """Build the fixture package where nodes expect it and its pillar; return the package dir."""
    dest = target(cluster, cloud)
    if not BUILDER.exists():
        raise LabError(f"{BUILDER} is missing: the lab needs it for the fixture install package")
    with step(f"install package: FIXTURE build into {dest}"):
        ensure(dest.parent)
        run([VENV_BIN / "python", BUILDER, "--out", dest, "--pip-wheel", pip_wheel(),
             "--pillar-out", FIXTURE_PILLAR], what="lab/fixtures/build.py")
        seal(dest)
    return dest
