"""The acceptance gate's outputs: the Open MPI hostfile of the nodes that passed, and whether
enough of them did for the experiment."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Collection, Sequence

from validation import pillars

# A node name as the pillar schema allows it in the node table (the schema is its one home).
HOSTNAME = re.compile(pillars.pillar_schema().HOSTNAME)


def write_hostfile(path: str | os.PathLike[str], nodes: Sequence[tuple[str, int]]) -> None:
    """Write the Open MPI hostfile ``<name> slots=<N>`` per node, mode 0644, atomically: a temp
    file in the same directory, fsync, os.replace; readers see the old file or the whole new
    one. Refuses (writing nothing) an empty list, a name that is not a plain host name, a
    repeated name and a slot count that is not a positive integer."""
    if not nodes:
        raise ValueError(f"hostfile {path}: no nodes")
    seen: set[str] = set()
    for name, slots in nodes:
        if not isinstance(name, str) or not HOSTNAME.fullmatch(name):
            raise ValueError(f"hostfile {path}: node {name!r} is not a plain host name ({HOSTNAME.pattern})")
        if name in seen:
            raise ValueError(f"hostfile {path}: node {name} is listed twice")
        if isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
            raise ValueError(f"hostfile {path}: node {name}: slots {slots!r} is not a positive integer")
        seen.add(name)
    text = "".join(f"{name} slots={slots}\n" for name, slots in nodes)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fchmod(handle.fileno(), 0o644)
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def enough(passed: Collection[str], min_nodes: int) -> str | None:
    """None when at least ``min_nodes`` nodes passed, else a message naming them."""
    if len(passed) >= min_nodes:
        return None
    names = ", ".join(sorted(passed)) or "none"
    return f"only {len(passed)} node(s) passed the acceptance checks ({names}); at least {min_nodes} are needed"
