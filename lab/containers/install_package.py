"""The install package on the NFS stand-in: the FIXTURE package built by lab/fixtures/build.py.

On the array the package lives on the export of the table's install_package master and every
node sees it at the pillar's ``gpu_stack:package_dir``. In the lab, host folder
lab/run/cloud/<i> is bind-mounted at mount path i on every node, so the package is built into
the folder of the install-package master's mount index. The builder also writes the pillar
that points the gpu_stack/diagnosenet formulas at the fixture files (their real sha256):
lab/run/pillar/lab_fixture.sls, a pillar root of the lab master, included by lab/files/pillar/site.sls.

With arm64 nodes (``up --arm64``) the package is built a second time for arm64, outside the
share (lab/run/install-package-arm64), and bind-mounted over the package directory on those
nodes only: the share serves each node the package of its architecture, under the real
file names. Its pillar (lab_fixture_arm64.sls, other sha256s and the board's tegrastats) is
merged over the amd64 one for those nodes by lab_arch.sls, which names them.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

import yaml

from jetson_array import nodetable
from lab.common.paths import CACHE, LAB, REPO, RUN, VENV_BIN, ensure
from lab.common.shell import LabError, run, step, write

BUILDER = LAB / "fixtures" / "build.py"
PILLAR_ROOT = RUN / "pillar"  # generated pillar root of the lab master
FIXTURE_PILLAR = PILLAR_ROOT / "lab_fixture.sls"
ARM64_PILLAR = PILLAR_ROOT / "lab_fixture_arm64.sls"
ARCH_PILLAR = PILLAR_ROOT / "lab_arch.sls"  # included by lab/files/pillar/site.sls
ARM64_PACKAGE = RUN / "install-package-arm64"
GPU_PILLAR = REPO / "pillar" / "gpu.sls"


def _mount(cluster: dict[str, Any]) -> dict[str, Any]:
    """The table's mount of the install package's master."""
    master = cluster["install_package"]["master"]
    return next(m for m in nodetable.mounts(cluster) if m["master"] == master)


def target(cluster: dict[str, Any], cloud: Path) -> Path:
    """Host folder that nodes see as gpu_stack:package_dir."""
    return cloud / str(_mount(cluster)["index"]) / cluster["install_package"]["dir"]


def node_path(cluster: dict[str, Any], node: str) -> str:
    """gpu_stack:package_dir of ``node`` as the table's pillar gives it: where the arm64
    package is bind-mounted."""
    return nodetable.pillar_for(cluster, node)["gpu_stack"]["package_dir"]


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


def _build(dest: Path, pillar: Path, arch: str) -> None:
    with step(f"install package: FIXTURE build ({arch}) into {dest}"):
        ensure(dest.parent)
        run([VENV_BIN / "python", BUILDER, "--out", dest, "--pip-wheel", pip_wheel(),
             "--pillar-out", pillar, "--arch", arch], what="lab/fixtures/build.py")
        seal(dest)


def provide(cluster: dict[str, Any], cloud: Path, arm64: list[str]) -> Path:
    """Build the fixture package where nodes expect it and its pillar, and the arm64 one if
    ``arm64`` names nodes; return the (amd64) package dir."""
    if not BUILDER.exists():
        raise LabError(f"{BUILDER} is missing: the lab needs it for the fixture install package")
    dest = target(cluster, cloud)
    _build(dest, FIXTURE_PILLAR, "amd64")
    if arm64:
        _build(ARM64_PACKAGE, ARM64_PILLAR, "arm64")
    write(ARCH_PILLAR, arch_pillar(arm64))
    return dest


def arch_pillar(arm64: list[str]) -> str:
    """lab_arch.sls: the arm64 package's pillar for the ``arm64`` nodes, nothing elsewhere."""
    names = json.dumps(sorted(arm64))
    return (
        "# DERIVED by `python -m lab up` (lab/containers/install_package.py): the arm64 nodes\n"
        "# install the arm64 FIXTURE package (bind-mounted at the same package_dir there).\n"
        f"{{%- if grains.get('id') in {names} %}}\n"
        "include:\n  - lab_fixture_arm64\n"
        "{%- else %}\n{}\n{%- endif %}\n"
    )
