"""Grain ``tegra``: the L4T (Linux for Tegra) release of a Jetson, read from /etc/nv_tegra_release.

The file's first line looks like::

    # R28 (release), REVISION: 1.0, GCID: 9379712, BOARD: t186ref, EABI: aarch64, DATE: ...

and later L4T releases add lines such as ``# KERNEL_VARIANT: oot``. The grain is::

    tegra: {present: true, release: R28, revision: '1.0', l4t: '28.1.0', board: t186ref,
            gcid: '9379712', eabi: aarch64, date: '...', file: /etc/nv_tegra_release}

``present: false`` when the file is absent (not a Jetson, or the lab), and ``error: <why>``
when it exists but cannot be parsed. The gpu_stack formula compares release and revision with
the JetPack chosen in pillar. The file read can be moved with the minion option
``tegra_release_file`` (tests use sample files).
"""

from __future__ import annotations

import re
from typing import Any

DEFAULT_FILE = "/etc/nv_tegra_release"
_HEAD = re.compile(r"#\s*R(?P<num>\d+)\s*\(release\)\s*$")
_FIELD = re.compile(r"(?P<key>[A-Z_]+)\s*:\s*(?P<value>.*)$")


def _fields(line: str) -> dict[str, str]:
    """``KEY: value`` pairs of one ``#`` line, keys lower-cased; ValueError if a part is neither."""
    parts = [part.strip() for part in line.lstrip("#").split(",")]
    fields: dict[str, str] = {}
    for part in parts:
        match = _FIELD.match(part)
        if not match:
            raise ValueError(f"cannot read {part!r}")
        fields[match["key"].lower()] = match["value"].strip()
    return fields


def _parse(text: str) -> dict[str, Any]:
    """Structured content of an nv_tegra_release file; ValueError saying what is wrong."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise ValueError("the file is empty")
    head, _, rest = lines[0].partition(",")
    match = _HEAD.match(head.strip())
    if not match:
        raise ValueError(f"line 1 does not start with '# R<number> (release)': {lines[0][:60]!r}")
    fields = _fields(rest) if rest.strip() else {}
    for line in lines[1:]:
        if line.startswith("#"):
            fields.update(_fields(line))
    revision = fields.get("revision", "")
    if not re.fullmatch(r"\d+\.\d+", revision):
        raise ValueError(f"line 1 has no 'REVISION: <major>.<minor>' (got {revision!r})")
    return {
        **fields,
        "release": f"R{match['num']}",
        "revision": revision,
        "l4t": f"{match['num']}.{revision}",
    }


def _read(path: str) -> dict[str, Any]:
    """The grain value for the file at ``path`` (never raises)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read(4096)
    except FileNotFoundError:
        return {"present": False, "file": path}
    except OSError as err:
        return {"present": True, "file": path, "error": f"{path}: cannot read it: {err.strerror}"}
    try:
        return {"present": True, "file": path, **_parse(text)}
    except ValueError as err:
        return {"present": True, "file": path, "error": f"{path}: {err}"}


def tegra() -> dict[str, Any]:
    """Salt grain function."""
    opts = globals().get("__opts__") or {}
    return {"tegra": _read(opts.get("tegra_release_file") or DEFAULT_FILE)}
