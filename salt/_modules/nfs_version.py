"""Which NFS version a node mounts with: the pillar's pin, else the highest every side can do.

The inputs are the ``nfs_kernel`` grain (salt/_grains/nfs_kernel.py) of this node (its client
versions; its server versions when it is a master) and of every master whose export it mounts.
The masters' grains come from the Salt mine (mine function ``nfs_kernel``, declared with the
other mine functions in jetson_array/nodetable.py and sent by orch.rollout's ``mine.update``). A master
the mine does not know (salt-ssh has no mine; a master never seen) is taken to serve
``unknown_server_versions`` (formulas/nfs/defaults.yaml: v3, which every L4T kernel builds)
by ``auto``; a pin is held against the masters the mine knows only.
The acceptance suite (validation/test_nfs.py) calls ``choose`` with what it reads on the nodes.
"""

from __future__ import annotations

from typing import Any

AUTO = "auto"


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in str(version).split("."))


def _offers(grain: Any, side: str) -> list[str]:
    return [str(v) for v in (grain or {}).get(side) or []]


def _source(grain: Any) -> str:
    grain = grain or {}
    return str(grain.get("source") or grain.get("error") or "no nfs_kernel grain")


def choose(pin: Any, node: str, kernel: Any, servers: dict[str, Any], is_server: bool = False,
           unknown: list[str] | None = None) -> dict[str, Any]:
    """``{version, error, why}``: the version to mount with, or why there is none.

    ``pin``: pillar nfs:version (``auto`` or a version); ``kernel``: this node's grain;
    ``servers``: master name -> its grain (None: unknown, taken to serve ``unknown``)."""
    client = _offers(kernel, "client")
    offered = {name: _offers(grain, "server") if grain else list(unknown or []) for name, grain in servers.items()}
    if str(pin) != AUTO:
        pin = str(pin)
        lacking = [f"the kernel's NFS client of {node} offers {client or 'no version'} ({_source(kernel)})"
                   ] if pin not in client else []
        if is_server and pin not in _offers(kernel, "server"):
            lacking.append(f"its nfsd offers {_offers(kernel, 'server') or 'no version'}")
        lacking += [  # a master the mine does not know is not held against a pin (salt-ssh: the pin decides)
            f"master {name} serves {_offers(grain, 'server') or 'no version'}"
            for name, grain in servers.items()
            if grain and pin not in _offers(grain, "server")
        ]
        if lacking:
            return {"version": pin, "why": "pinned", "error": (
                f"nfs on {node}: pillar nfs:version pins NFS {pin}, but " + "; ".join(lacking)
                + ". Pin a version they offer or set nfs:version: auto. fstab and exports were left as they are.")}
        return {"version": pin, "why": "pinned by pillar nfs:version", "error": None}
    common = {v for v in client if _key(v) >= (3,)}
    for have in offered.values():
        common &= set(have)
    if not common:
        return {"version": None, "why": "auto", "error": (
            f"nfs on {node}: no NFS version (3 or later) that its kernel's client ({client or 'none'}, "
            f"{_source(kernel)}) and every master ({offered}) support. fstab and exports were left as they are.")}
    best = max(common, key=_key)
    return {"version": best, "error": None,
            "why": f"auto: highest of client {client} and masters {offered}"}


def masters(names: list[str]) -> dict[str, Any]:
    """Master name -> its ``nfs_kernel`` grain from the Salt mine (None when the mine lacks it)."""
    if not names:
        return {}
    mined = __salt__["mine.get"](",".join(names), "nfs_kernel", tgt_type="list") or {}  # noqa: F821
    return {name: mined.get(name) or None for name in names}
