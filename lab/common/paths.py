"""Where the lab keeps things, and the few names it gives to host objects.

Everything the lab creates at run time lives under ``lab/run/`` (never in git), caches
under ``lab/cache/``. Host objects (bridge, cgroups, machines) carry the ``jetlab`` name so
``down`` can find exactly what ``up`` made and nothing else.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

LAB = Path(__file__).resolve().parent.parent
REPO = LAB.parent
# JETLAB_RUN: another run folder, so a second lab (e.g. the VM lab under test) can live
# beside the container lab on one host without sharing keys, master or state.
RUN = Path(os.environ.get("JETLAB_RUN", LAB / "run"))
CACHE = LAB / "cache"
VENV_BIN = Path(os.environ.get("LAB_VENV_BIN", REPO / ".venv" / "bin"))

FILES = LAB / "files"  # the lab's data: node table, package list, pillar, image and VM files
LAB_TABLE = FILES / "nodes.yaml"  # hand-written lab node table (same shape as pillar/nodes.yaml)
DERIVED_TABLE = RUN / "nodes.yaml"  # the subset `up --nodes N` brought up (derived, not edited)
PACKAGES = FILES / "packages.txt"  # Debian packages the states install, served by the lab repo
LAB_PILLAR = FILES / "pillar"
VM_FILES = FILES / "vm"  # the VM image's extra files, the VM pillar, the L4T kernel config
# The NFS lines of the L4T kernel config, read on every node (container or VM) through the
# nfs_kernel_config minion option.
L4T_KERNEL_CONFIG = VM_FILES / "l4t-kernel-config"
GUEST_KERNEL_CONFIG = "/etc/jetlab/l4t-kernel-config"
STATE_FILE = RUN / "state.json"  # what `up` changed on the host, so `down` can undo it
LOCK_FILE = RUN / ".lock"

SALT_CONFIG_DIR = RUN / "etc" / "salt"  # holds `master`; `salt -c` points here
SSH_DIR = RUN / "ssh"  # lab root key, known_hosts, ssh_config
KEYS_DIR = RUN / "keys"  # per-node ssh host keys and minion keys (kept across runs)
NODES_DIR = RUN / "nodes"  # per-node overlay (upper/work/merged), log, SSD file
CLOUD_DIR = RUN / "cloud"  # NFS stand-in: cloud/<i> bind-mounted into every node
REPORTS_DIR = RUN / "reports"

NAME = "jetlab-ct"  # bridge name prefix
BRIDGE = f"{NAME}0"
# cgroup folder of this run folder's lab (one per JETLAB_RUN, so `down` of one lab never
# touches the processes of another lab on the same host).
CGROUP_NAME = f"jetlab-{hashlib.sha256(str(RUN).encode()).hexdigest()[:8]}"
NODE_APT_REPO = "/srv/lab-apt"  # where the lab apt repo is bind-mounted on each node
SALT_PUBLISH_PORT = 4605  # not 4505/4506: leave those to any other salt-master on the host
SALT_RET_PORT = 4606


def ensure(path: Path) -> Path:
    """Create ``path`` (a directory) if needed and return it."""
    path.mkdir(parents=True, exist_ok=True)
    return path
