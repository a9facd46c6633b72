"""qemu-user for the lab's arm64 nodes: the kernel runs their aarch64 binaries through Debian's
qemu-user-static once binfmt_misc knows the interpreter.

`up` mounts binfmt_misc if the host has not, and registers Debian's qemu-aarch64 entry
(/usr/lib/binfmt.d/qemu-aarch64.conf, flags OPF: F opens the interpreter at registration, so
it runs inside a container's root too); each change is recorded in the lab state and `down`
undoes exactly what `up` did (each change is recorded before it is made). An entry that was
there before the lab is used, not removed, if it is this interpreter without the C flag: with
C (Ubuntu's and some container tools' default) the kernel runs a setuid aarch64 binary as its
owner while qemu still reads the caller's QEMU_* environment, so any host user could become
root through the world-readable image's setuid binaries. Without C, sudo and su do not work for
a non-root user inside an arm64 node (the lab's sudo tests run on x86 nodes).
"""

from __future__ import annotations

from pathlib import Path

from lab.common import hoststate
from lab.common.shell import LabError, run

MISC = Path("/proc/sys/fs/binfmt_misc")
NAME = "qemu-aarch64"
CONF = Path("/usr/lib/binfmt.d") / f"{NAME}.conf"


def _field(entry: Path, name: str) -> str:
    """A line of a registered entry ('flags: POF', 'interpreter /usr/libexec/...')."""
    lines = entry.read_text().splitlines()
    return next((line.split(name, 1)[1].strip(" :") for line in lines if line.startswith(name)), "")


def register() -> None:
    """Make the host run aarch64 binaries (record what changed); LabError if it cannot."""
    if not CONF.exists():
        raise LabError(f"arm64 nodes need qemu-user-static ({CONF} is missing): `make deps`")
    if not (MISC / "register").exists():
        hoststate.update(binfmt={"mounted": True})
        run(["mount", "-t", "binfmt_misc", "binfmt_misc", MISC], what="mount binfmt_misc")
    entry = MISC / NAME
    if not entry.exists():
        hoststate.update(binfmt={"registered": True})
        (MISC / "register").write_text(CONF.read_text().strip() + "\n")
    flags, interpreter = _field(entry, "flags"), _field(entry, "interpreter")
    wanted = CONF.read_text().strip().split(":")[6]
    if "F" not in flags or "C" in flags or interpreter != wanted:
        raise LabError(f"{entry} (flags {flags!r}, interpreter {interpreter!r}) is not {CONF}: the "
                       "lab needs flag F (the interpreter inside containers), not C (setuid "
                       f"binaries as root under qemu), and {wanted}; remove it (echo -1 > {entry}) "
                       "and `up` registers its own")


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
