"""Salt execution functions over the GPU install package and its manifest in pillar.

The manifest logic (check, compose, verify a directory, record hashes) is the utils module
salt/_utils/install_manifest.py, synced to the minions with this module and called through
``__utils__``; this module reads pillar and the minion's cache dir and hands them to it.

``salt astro15 install_package.verify`` copies the package from the NFS share into a root-owned
local directory (``LOCAL_DIR``, 0700) and verifies the copies, which the gpu_stack states then
install; ``install_package.ok`` checks the copies only; ``install_package.record`` prints the
manifest with the hashes of the files found. The operator CLI on a copy of the package (no Salt)
is tools/install_package.py.
"""

from __future__ import annotations

import os
from typing import Any

LOCAL_DIR = "/var/cache/jetson-array/install-package"  # root-owned copies the states install from
UTILS = "install_manifest"  # salt/_utils/install_manifest.py

__virtualname__ = "install_package"


def __virtual__():
    if f"{UTILS}.compose" not in __utils__:  # noqa: F821 (Salt dunder)
        return False, f"salt/_utils/{UTILS}.py is not synced to this minion (saltutil.sync_all)"
    return __virtualname__


def _lib(name: str) -> Any:
    """Function ``name`` of the manifest library."""
    return __utils__[f"{UTILS}.{name}"]  # noqa: F821 (Salt dunder)


def python_source(stack: dict[str, Any], jetpack: str) -> dict[str, Any]:
    """The ``gpu_stack:python_sources`` entry that JetPack ``jetpack`` names ({} if it names none)."""
    return _lib("python_source")(stack, jetpack)


def compose(stack: dict[str, Any], jetpack: str) -> list[dict[str, Any]]:
    """The manifest of JetPack ``jetpack``: its artifacts, its Python debs, the shared wheelhouse."""
    return _lib("compose")(stack, jetpack)


def _from_pillar(directory: str | None, jetpack: str | None) -> tuple[str, str, list, str | None]:
    stack = __salt__["pillar.get"]("gpu_stack", {}, unmask=True)  # noqa: F821 (Salt dunder)
    jetpack = str(jetpack or stack.get("jetpack", ""))
    artifacts = compose(stack, jetpack)
    return directory or stack.get("package_dir", ""), jetpack, artifacts, stack.get("package_mount")


def manifest(jetpack: str | None = None) -> list[dict[str, Any]]:
    """The install package manifest of the pillar's JetPack (or ``jetpack``), checked.

    CLI example::

        salt astro0 install_package.manifest
    """
    return _from_pillar(None, jetpack)[2]


def _cache_path() -> str:
    return os.path.join(__opts__["cachedir"], "install_package", "sha256.json")  # noqa: F821


def _master_of(mount: str | None) -> str:
    """'astro15 (10.10.0.115)': the master whose export pillar nfs:client:mounts puts at ``mount``."""
    for entry in __salt__["pillar.get"]("nfs:client:mounts", []):  # noqa: F821 (Salt dunder)
        if isinstance(entry, dict) and entry.get("path") == mount:
            return f"{entry.get('master')} ({entry.get('server_ip')})"
    return "the install package master"


def local_dir() -> str:
    """The root-owned directory of verified copies the gpu_stack states install from."""
    return LOCAL_DIR


def _failed(directory: str, jetpack: str, comment: str) -> dict[str, Any]:
    return {"directory": directory, "jetpack": jetpack, "exists": False, "result": False, "comment": comment}


def verify(directory: str | None = None, jetpack: str | None = None, local: str = LOCAL_DIR) -> dict[str, Any]:
    """Copy the install package into ``local`` (root-owned) and verify the copies against the manifest.

    The share is probed in a subprocess with a timeout first: a dead package master fails the
    state, naming it, instead of hanging the minion on the hard mount.

    CLI example::

        salt astro15 install_package.verify
        salt astro15 install_package.verify directory=/mnt/pkg jetpack=3.3
    """
    directory, jetpack, artifacts, mount = _from_pillar(directory, jetpack)
    where = mount or directory
    why = _lib("probe")(where)
    if why is not None:
        return _failed(directory, jetpack, f"install package: the share of {_master_of(mount)} at {where} "
                                           f"does not answer ({why}); nothing was read or installed")
    try:
        return _lib("verify_copies")(directory, artifacts, jetpack, mount, local, _cache_path())
    except OSError as err:
        return _failed(directory, jetpack, f"install package: local copies in {local}: {err}")


def ok(directory: str | None = None, jetpack: str | None = None, local: str = LOCAL_DIR) -> bool:
    """True when every artifact has a verified copy in ``local``; reads nothing on the share."""
    _directory, _jetpack, artifacts, _mount = _from_pillar(directory, jetpack)
    return _lib("copies_ok")(local, artifacts, _cache_path())


def record(directory: str | None = None, jetpack: str | None = None) -> list[dict[str, Any]]:
    """The pillar manifest with the sha256 of the files found in ``directory``.

    CLI example::

        salt astro15 install_package.record --out yaml
    """
    directory, jetpack, artifacts, _ = _from_pillar(directory, jetpack)
    return _lib("record_directory")(directory, artifacts)
