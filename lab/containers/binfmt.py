"""qemu-user for the lab's arm64 nodes: the kernel runs their aarch64 binaries through Debian's
qemu-user-static once binfmt_misc knows the interpreter.

`up` mounts binfmt_misc if the host has not, and registers Debian's qemu-aarch64 entry
(/usr/lib/binfmt.d/qemu-aarch64.conf, flags OPF: F opens the interpreter at registration, so
it runs inside a container's root too); each change is recorded in the lab state and `down`
undoes exactly what `up` did. An entry that was there before the lab is used, not removed.
"""

from __future__ import annotations

from pathlib import Path

from lab.common import hoststate
from lab.common.shell import LabError, run

MISC = Path("/proc/sys/fs/binfmt_misc")
NAME = "qemu-aarch64"
CONF = Path("/usr/lib/binfmt.d") / f"{NAME}.conf"


def _flags(entry: Path) -> str:
    """The flags line of a registered entry ('flags: POF')."""
    lines = entry.read_text().splitlines()
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("flags:")), "")


def register() -> None:
    """Make the host run aarch64 binaries (record what changed); LabError if it cannot."""
    if not CONF.exists():
        raise LabError(f"arm64 nodes need qemu-user-static ({CONF} is missing): `make deps`")
    if not (MISC / "register").exists():
        run(["mount", "-t", "binfmt_misc", "binfmt_misc", MISC], what="mount binfmt_misc")
        hoststate.update(binfmt={"mounted": True})
    entry = MISC / NAME
    if not entry.exists():
        (MISC / "register").write_text(CONF.read_text().strip() + "\n")
        hoststate.update(binfmt={"registered": True})
    if "F" not in _flags(entry):
        raise LabError(f"{entry} is registered without the F flag (flags: {_flags(entry)!r}): "
                       "its interpreter cannot run inside a container; remove it "
                       f"(echo -1 > {entry}) and `up` registers {CONF}")


def restore() -> list[str]:
    """Undo what :func:`register` recorded; return what was undone."""
    done = hoststate.load().get("binfmt", {})
    undone = []
    entry = MISC / NAME
    if done.get("registered") and entry.exists():
        entry.write_text("-1\n")
        undone.append(f"binfmt {NAME}")
    if done.get("mounted") and (MISC / "register").exists():
        run(["umount", MISC], what="umount binfmt_misc")
        undone.append("binfmt_misc mount")
    hoststate.clear("binfmt")
    return undone


def leftovers() -> list[str]:
    """What the lab changed and :func:`restore` has not undone (empty after `down`)."""
    return [f"binfmt: {change} not undone" for change in hoststate.load().get("binfmt", {})]
