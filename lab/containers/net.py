"""Host side of the lab network and the kernel settings the lab needs.

The bridge carries the table's subnet with the host at its first address; node veths are
added by systemd-nspawn (--network-bridge) and vanish with the nodes. Nothing is routed or
forwarded: nodes reach the host (salt-master) and each other, nothing else.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from lab.common import hoststate
from lab.common.paths import BRIDGE, RUN
from lab.common.shell import LabError, run

# Each booted container's systemd takes several inotify instances; 128 runs out near 15 nodes.
SYSCTLS = {"fs.inotify.max_user_instances": 8192}


def _proc_path(key: str) -> Path:
    return Path("/proc/sys") / key.replace(".", "/")


def raise_sysctls() -> None:
    """Raise the lab's sysctls (never lower them), remembering the first original value."""
    saved = hoststate.load().get("sysctl", {})
    for key, wanted in SYSCTLS.items():
        current = int(_proc_path(key).read_text())
        if key not in saved:
            saved[key] = current
            hoststate.update(sysctl={key: current})
        if current < wanted:
            _proc_path(key).write_text(f"{wanted}\n")


def restore_sysctls() -> list[str]:
    """Put back the values saved by raise_sysctls; return what was restored."""
    saved = hoststate.load().get("sysctl", {})
    done = []
    for key, original in saved.items():
        _proc_path(key).write_text(f"{original}\n")
        done.append(f"{key}={original}")
    hoststate.clear("sysctl")
    return done


def bridge_exists(name: str = BRIDGE) -> bool:
    return Path(f"/sys/class/net/{name}").exists()


def bridge_owner(name: str = BRIDGE) -> str:
    """The run folder of the lab that made the bridge (its alias), "" if none is recorded."""
    alias = Path(f"/sys/class/net/{name}/ifalias")
    return alias.read_text().strip() if alias.exists() else ""


def bridge_up(address: ipaddress.IPv4Interface, name: str = BRIDGE) -> None:
    """Create the lab bridge with the host ``address`` (idempotent); refuse another lab's."""
    if bridge_exists(name) and bridge_owner(name) not in ("", str(RUN)):
        raise LabError(f"bridge {name} belongs to the lab in {bridge_owner(name)}: take that "
                       f"lab down first (JETLAB_RUN={bridge_owner(name)} python -m lab down)")
    if not bridge_exists(name):
        run(["ip", "link", "add", name, "type", "bridge"], what=f"create bridge {name}")
        run(["ip", "link", "set", name, "alias", str(RUN)], what=f"label bridge {name}")
    hoststate.update(bridge=name)
    have = run(["ip", "-o", "-4", "addr", "show", "dev", name]).stdout
    if str(address) not in have:
        run(["ip", "addr", "add", str(address), "dev", name], what=f"address {address} on {name}")
    run(["ip", "link", "set", name, "up"], what=f"bring up {name}")


def bridge_ports(name: str = BRIDGE) -> list[str]:
    folder = Path(f"/sys/class/net/{name}/brif")
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def bridge_down(name: str = BRIDGE) -> None:
    """Delete this lab's bridge (and any veth still attached to it); another lab's stays."""
    if bridge_exists(name) and bridge_owner(name) not in ("", str(RUN)):
        hoststate.update(bridge=None)
        return
    for port in bridge_ports(name):
        run(["ip", "link", "delete", port], check=False)
    if bridge_exists(name):
        run(["ip", "link", "delete", name], what=f"delete bridge {name}")
    hoststate.update(bridge=None)
