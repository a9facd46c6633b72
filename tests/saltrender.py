"""Render this repo's states and pillar with the pinned Salt, in-process, for any node id.

One Salt ``Caller`` per (node, platform) with a local file client over salt/ + formulas/ and
pillar/; grains are the host's core grains overridden by a platform profile. Nothing is applied.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path
from typing import Any

import salt.client
import salt.config
import salt.exceptions

REPO = Path(__file__).resolve().parents[1]
PILLAR = REPO / "pillar"

# Grain profiles: the real nodes (Ubuntu 16.04 on the TX2) and this machine / the lab (Debian 12).
PLATFORMS: dict[str, dict[str, Any]] = {
    "ubuntu1604-aarch64": {
        "os": "Ubuntu",
        "os_family": "Debian",
        "osfinger": "Ubuntu-16.04",
        "osrelease": "16.04",
        "osmajorrelease": 16,
        "oscodename": "xenial",
        "osarch": "arm64",
        "cpuarch": "aarch64",
        "init": "systemd",
    },
    "debian12-x86_64": {
        "os": "Debian",
        "os_family": "Debian",
        "osfinger": "Debian-12",
        "osrelease": "12",
        "osmajorrelease": 12,
        "oscodename": "bookworm",
        "osarch": "amd64",
        "cpuarch": "x86_64",
        "init": "systemd",
    },
}

# The kernel each platform's nfs_kernel grain reads (salt/_grains/nfs_kernel.py option
# nfs_kernel_config): the array's L4T kernel builds no NFS v4, Debian 12's builds 4.2.
KERNEL_CONFIGS = {
    "ubuntu1604-aarch64": REPO / "lab" / "files" / "vm" / "l4t-kernel-config",
    "debian12-x86_64": REPO / "tests" / "data" / "kernel-config-debian12",
}

_CACHE = Path(tempfile.mkdtemp(prefix="jetson-render-"))


def minion_opts(
    node_id: str,
    platform: str,
    table: str | Path | None = None,
    pillar_roots: list[str | Path] | None = None,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Masterless minion opts for ``node_id`` on ``platform`` (a key of PLATFORMS)."""
    opts = salt.config.minion_config(None)
    roots = [str(p) for p in (pillar_roots or [PILLAR])]
    opts.update(
        {
            "id": node_id,
            "file_client": "local",
            "file_roots": {"base": [str(REPO / "salt"), str(REPO / "formulas")]},
            "pillar_roots": {"base": roots},
            "module_dirs": [str(REPO / "salt" / "_modules")],
            "grains_dirs": [str(REPO / "salt" / "_grains")],
            "utils_dirs": [str(REPO / "salt" / "_utils")],
            "cachedir": str(_CACHE / node_id),
            # not the default /var/cache/salt/minion/extmods: a copy synced there by any other
            # Salt run on this host would shadow the repo's salt/_modules
            "extension_modules": str(_CACHE / node_id / "extmods"),
            "grains": dict(PLATFORMS[platform]),
            "nfs_kernel_config": str(KERNEL_CONFIGS[platform]),
            "log_level": "quiet",
        }
    )
    if table is not None:
        opts["jetson_node_table"] = str(table)
    opts.update(overrides or {})
    return opts


@functools.lru_cache(maxsize=4)
def _caller(node_id: str, platform: str, table: str | None, roots: tuple[str, ...]):
    opts = minion_opts(node_id, platform, table, list(roots) or None)
    return salt.client.Caller(mopts=opts)


def call(node_id: str, platform: str, fun: str, *args, table=None, pillar_roots=(), **kwargs):
    """Run execution function ``fun`` for ``node_id`` (cached Caller per node/platform/table)."""
    table = str(table) if table is not None else None
    caller = _caller(node_id, platform, table, tuple(str(p) for p in pillar_roots))
    return caller.cmd(fun, *args, **kwargs)


def lowstate(node_id: str, platform: str, **kw) -> list[dict[str, Any]]:
    """The highstate's low chunks; raises RenderError with Salt's messages if it does not render."""
    try:
        chunks = call(node_id, platform, "state.show_lowstate", **kw)
    except salt.exceptions.CommandExecutionError as err:  # pillar did not render
        raise RenderError(f"{node_id} on {platform}: {err.message} {err.info}") from None
    errors = [c for c in chunks if not isinstance(c, dict)]
    if errors:
        raise RenderError(f"{node_id} on {platform}: " + "; ".join(map(str, errors)))
    return chunks


def pillar(node_id: str, platform: str, **kw) -> dict[str, Any]:
    return call(node_id, platform, "pillar.items", unmask=True, **kw)


def by_id(chunks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Low chunks keyed by state id (ids are unique across the tree)."""
    return {chunk["__id__"]: chunk for chunk in chunks}


def contents(chunk: dict[str, Any]) -> str:
    """The file a file.managed chunk with inline ``contents`` writes (Salt adds the final newline)."""
    value = chunk["contents"]
    return ("\n".join(value) if isinstance(value, list) else str(value)) + "\n"


class RenderError(AssertionError):
    pass
