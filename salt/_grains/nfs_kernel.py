"""Grain ``nfs_kernel``: the NFS versions this node's kernel can mount (client) and serve (server).

Read, in this order:

1. the kernel config: ``/proc/config.gz`` (L4T sets ``IKCONFIG_PROC``), else
   ``/boot/config-<release>`` (Debian and Ubuntu kernels). ``CONFIG_NFS_V2/V3/V4/V4_1/V4_2``
   give the client versions, ``CONFIG_NFSD`` with ``CONFIG_NFSD_V2/V3`` (built in where the
   kernel has no such option) and ``CONFIG_NFSD_V4`` (4, 4.1, 4.2) the server versions; ``=y``
   and ``=m`` both count.
2. without a config: the kernel's modules (``modules.builtin`` and ``modules.dep`` of the
   running kernel): ``nfsv3``/``nfsv4`` for the client (4.0 only: a module does not tell
   minor versions), ``nfsd`` for a server of v3.
3. on a running server, ``/proc/fs/nfsd/versions`` (``-2 +3 -4 ...``) replaces the server list
   with what nfsd really serves.

The grain::

    nfs_kernel: {client: ['3'], server: ['3'], source: /proc/config.gz}

Lists are sorted lowest first; ``source`` names what was read (``error: <why>`` when nothing
could be). The minion option ``nfs_kernel_config`` moves the config file read in step 1 (a
test fixture, or a lab standing in for a kernel it cannot boot); a path ending in ``.gz`` is
read compressed. The nfs formula picks the NFS version from it (formulas/nfs/map.jinja).
"""

from __future__ import annotations

import gzip
import os
import re
from typing import Any

CONFIG_GZ = "/proc/config.gz"
NFSD_VERSIONS = "/proc/fs/nfsd/versions"
CLIENT_OPTIONS = {"NFS_V2": "2", "NFS_V3": "3", "NFS_V4": "4", "NFS_V4_1": "4.1", "NFS_V4_2": "4.2"}
SERVER_OPTIONS = {"NFSD_V2": ["2"], "NFSD_V3": ["3"], "NFSD_V4": ["4", "4.1", "4.2"]}
_SET = re.compile(r"^CONFIG_(?P<name>NFS_FS|NFSD|NFSD?_V\d(_\d)?)=[ym]\s*$", re.M)


def _version_key(version: str) -> tuple[int, ...]:
    """Sort key of a version string: '4.1' -> (4, 1)."""
    return tuple(int(part) for part in version.split("."))


def _sorted(versions: set[str]) -> list[str]:
    return sorted(versions, key=_version_key)


def _from_config(text: str) -> dict[str, list[str]]:
    """Client and server versions of a kernel config (``CONFIG_...=y|m`` lines). An nfsd option
    the config does not mention at all is built in: v2 before Linux 6.2 (no NFSD_V2 option), v3
    from Linux 5.x (NFSD_V3 dropped, always built)."""
    enabled = {match["name"] for match in _SET.finditer(text)}
    client = {CLIENT_OPTIONS[name] for name in enabled if name in CLIENT_OPTIONS} if "NFS_FS" in enabled else set()
    server = set()
    if "NFSD" in enabled:
        for name, versions in SERVER_OPTIONS.items():
            mentioned = re.search(rf"^(# )?CONFIG_{name}[= ]", text, re.M)
            if name in enabled or (name in ("NFSD_V2", "NFSD_V3") and not mentioned):
                server.update(versions)
    return {"client": _sorted(client), "server": _sorted(server)}


def _from_modules(names: set[str]) -> dict[str, list[str]]:
    """Client and server versions from the kernel's module names (built in or loadable)."""
    client = {version for name, version in (("nfsv2", "2"), ("nfsv3", "3"), ("nfsv4", "4")) if name in names}
    return {"client": _sorted(client), "server": ["3"] if "nfsd" in names else []}


def _from_nfsd(text: str) -> list[str]:
    """What a running nfsd serves, from /proc/fs/nfsd/versions (``-2 +3 +4 +4.1 +4.2``)."""
    return _sorted({word[1:] for word in text.split() if word.startswith("+")})


def _read(path: str) -> str:
    if path.endswith(".gz"):
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as handle:
            return handle.read()
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()


def _module_names(release: str) -> set[str]:
    names: set[str] = set()
    for listing in ("modules.builtin", "modules.dep"):
        try:
            text = _read(os.path.join("/lib/modules", release, listing))
        except OSError:
            continue
        for line in text.splitlines():
            module = os.path.basename(line.split(":", 1)[0])
            names.add(module.split(".ko", 1)[0].replace("-", "_"))
    return names


def _capabilities(config: str | None, release: str, nfsd: str = NFSD_VERSIONS) -> dict[str, Any]:
    """The grain value: from ``config`` (or the default config files), modules, a running nfsd."""
    paths = [config] if config else [CONFIG_GZ, f"/boot/config-{release}"]
    grain: dict[str, Any] = {}
    for path in paths:
        try:
            grain = {**_from_config(_read(path)), "source": path}
            break
        except (OSError, EOFError) as err:
            grain = {"client": [], "server": [], "error": f"{path}: cannot read it: {err}"}
    if "source" not in grain and not config:
        names = _module_names(release)
        if names:
            grain = {**_from_modules(names), "source": f"/lib/modules/{release}"}
    try:
        with open(nfsd, encoding="utf-8") as handle:
            grain["server"] = _from_nfsd(handle.read())
        grain["source"] = f"{grain.get('source', '')} {nfsd}".strip()
        grain.pop("error", None)
    except OSError:
        pass
    return grain


def nfs_kernel() -> dict[str, Any]:
    """Salt grain function."""
    opts = globals().get("__opts__") or {}
    return {"nfs_kernel": _capabilities(opts.get("nfs_kernel_config"), os.uname().release)}
