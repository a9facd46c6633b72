"""The install package on the NFS stand-in: the fixture package built by lab/fixtures/.

On the array the package lives on the export of the table's install_package master and
every node sees it at the pillar's ``gpu_stack:package_dir``. In the lab, host folder
lab/run/cloud/<i> is bind-mounted at mount path i on every node, so the package is copied
into the folder of the install-package master's mount index.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lab import table
from lab.paths import LAB, ensure
from lab.shell import say

FIXTURES = LAB / "fixtures"


def target(cluster: dict[str, Any], cloud: Path) -> Path:
    """Host folder that nodes see as gpu_stack:package_dir."""
    package = cluster["install_package"]
    index = cluster["masters"].index(package["master"])
    mounts = table.nodetable().mounts(cluster)
    assert mounts[index]["master"] == package["master"], "mount index order changed"
    return cloud / str(index) / package["dir"]


def provide(cluster: dict[str, Any], cloud: Path) -> Path | None:
    """Put the fixture install package where nodes expect it; None if there is no builder."""
    dest = target(cluster, cloud)
    if not (FIXTURES / "README.md").exists():
        say(f"install package: no builder in {FIXTURES} yet; {dest} stays empty")
        ensure(dest.parent)
        return None
    raise NotImplementedError("fixture builder interface: see lab/fixtures/README.md")
