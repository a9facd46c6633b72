"""The install package manifest: check it, compose it from pillar, verify a directory against it.

The install package (CUDA repo deb, cuDNN debs, Python 3.6 debs, the TensorFlow wheel and a
wheelhouse of the workload's pinned wheels) lives on an NFS export. Its manifest is the
JetPack's ``artifacts`` + the ``debs`` of its Python source + the shared ``wheelhouse`` in
pillar/gpu.sls::

    - {file: libcudnn6_6.0.21-1+cuda8.0_arm64.deb, sha256: <64 hex or null>, role: cudnn, ...}

A report names what is missing, corrupt (sha256 differs) or unrecorded (sha256 null in pillar:
nobody has recorded the real file's hash yet); ``record_directory`` gives the manifest with the
hashes of a directory, to paste into pillar after checking the package came from a trusted source.

On a node (``local``) nothing is trusted on the share: its files are writable by whoever owns
them there, and size and mtime are theirs to set. Each artifact is copied into a root-owned
local directory (0700), the COPY is hashed, and the states install from the copy (no race with
the share between check and install). The cache (path, size, mtime) covers only the root-owned
copies, so a re-apply reads nothing over NFS once every copy is verified. ``probe`` asks the
share in a subprocess with a timeout first: a dead package master cannot hang the caller.

Pure Python, no Salt import, one file with three users: a Salt utils module (``salt/_utils``,
synced to the minions with the execution modules; salt/_modules/install_package.py calls it
through ``__utils__["install_manifest.<function>"]``), the operator CLI tools/install_package.py
and the tests, which import it as ``jetson_array.manifest`` (a symlink to this file).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import subprocess
from collections.abc import Callable
from typing import Any

ROLES = ("cuda-repo", "cudnn", "python-deb", "pip-wheel", "tensorflow-wheel", "wheel")
RECORD_HINT = (
    "record it with `salt <node> install_package.record` (or `python3 "
    "tools/install_package.py record <dir> --pillar pillar/gpu.sls`) from a package "
    "you trust, and write it into pillar gpu_stack:jetpacks:'{jetpack}':artifacts"
)
_CHUNK = 1 << 20
SITE_BUILD_DOC = "docs/gpu-stack.md"  # where the recipe of each `site_build` artifact is
PROBE = ["stat", "-f", "--"]  # + the path: answers only when the NFS server does
PROBE_TIMEOUT = 10  # seconds


class ManifestError(ValueError):
    """The manifest itself is wrong; the message names the entry and the field."""


def check_manifest(artifacts: Any, where: str = "artifacts") -> list[dict[str, Any]]:
    """Return the artifacts list if every entry is well formed, else raise ManifestError."""
    if not isinstance(artifacts, list) or not artifacts:
        raise ManifestError(f"{where}: expected a non-empty list of artifacts")
    seen: set[str] = set()
    for index, entry in enumerate(artifacts):
        label = f"{where}[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
            raise ManifestError(f"{label}: each artifact needs a 'file' (a relative path)")
        name = entry["file"]
        if name.startswith("/") or ".." in name.split("/"):
            raise ManifestError(f"{label} ({name}): 'file' must be relative to the package dir")
        if name in seen:
            raise ManifestError(f"{label} ({name}): listed twice")
        seen.add(name)
        if entry.get("role") not in ROLES:
            raise ManifestError(f"{label} ({name}): 'role' must be one of {', '.join(ROLES)}")
        digest = entry.get("sha256")
        if digest is not None and not re.fullmatch(r"[0-9a-f]{64}", str(digest)):
            raise ManifestError(f"{label} ({name}): 'sha256' must be 64 lower-case hex or null")
        site = entry.get("site_build")
        if site is not None and not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", str(site)):
            raise ManifestError(f"{label} ({name}): 'site_build' must be a section anchor of {SITE_BUILD_DOC}")
    return artifacts


def _site_build(entry: dict[str, Any]) -> str:
    """' (site build: see docs/...#anchor)' for an artifact nobody publishes, else ''."""
    site = entry.get("site_build")
    return f" (site build: see {SITE_BUILD_DOC}#{site})" if site else ""


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


class HashCache:
    """sha256 of files keyed by (path, size, mtime_ns); persisted as JSON when a path is given."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self.data: dict[str, list] = {}
        if path and os.path.exists(path):
            try:
                with open(path, encoding="utf-8") as handle:
                    self.data = json.load(handle)
            except (OSError, ValueError):
                self.data = {}

    def sha256(self, path: str) -> str:
        stat = os.stat(path)
        key = [stat.st_size, stat.st_mtime_ns]
        cached = self.data.get(path)
        if cached and cached[:2] == key:
            return cached[2]
        digest = sha256_file(path)
        self.data[path] = [*key, digest]
        return digest

    def put(self, path: str, digest: str) -> None:
        stat_ = os.stat(path)
        self.data[path] = [stat_.st_size, stat_.st_mtime_ns, digest]

    def save(self) -> None:
        if not self.path:
            return
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        tmp = f"{self.path}.tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(self.data, handle)
        os.replace(tmp, self.path)


def _extra_files(directory: str, artifacts: list[dict[str, Any]]) -> list[str]:
    """Files next to manifest artifacts that the manifest does not name (informational)."""
    listed = {entry["file"] for entry in artifacts}
    folders = {os.path.dirname(name) for name in listed}
    extra = []
    for folder in sorted(folders):
        try:
            names = sorted(os.listdir(os.path.join(directory, folder)))
        except OSError:
            continue
        for name in names:
            rel = f"{folder}/{name}" if folder else name
            if rel not in listed and os.path.isfile(os.path.join(directory, rel)):
                extra.append(rel)
    return extra


def _summary(report: dict[str, Any], jetpack: str, mount: str | None) -> str:
    directory = report["directory"]
    if not report["exists"]:
        where = f" (is the export mounted at {mount}?)" if mount else ""
        return f"install package directory {directory} does not exist{where}"
    lines = []
    for entry in report["missing"]:
        lines.append(f"missing: {entry['file']} (role {entry['role']}){_site_build(entry)}")
    for entry in report["corrupt"]:
        lines.append(f"corrupt: {entry['file']} has sha256 {entry['actual']}, manifest says {entry['expected']}")
    for entry in report["unrecorded"]:
        lines.append(f"unrecorded: {entry['file']} has no sha256 in pillar{_site_build(entry)}")
    if report["unrecorded"]:
        lines.append(RECORD_HINT.format(jetpack=jetpack))
    total = report["total"]
    if not lines:
        return f"install package {directory} (JetPack {jetpack}): all {total} artifacts verified"
    bad = len(report["missing"]) + len(report["corrupt"]) + len(report["unrecorded"])
    head = f"install package {directory} (JetPack {jetpack}): {bad} of {total} artifacts not usable"
    return "\n".join([head, *("  " + line for line in lines)])


def check_directory(
    directory: str,
    artifacts: list[dict[str, Any]],
    jetpack: str = "?",
    mount: str | None = None,
    cache: HashCache | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    local: str | None = None,
) -> dict[str, Any]:
    """Compare ``directory`` with the manifest; the report's ``result`` is True only if all is well.

    With ``local`` (on a node), each artifact is copied there and the copy is what is hashed
    (and what the states install); without it (operator CLI), the files are hashed in place.
    """
    check_manifest(artifacts)
    cache = cache or HashCache()
    report: dict[str, Any] = {
        "directory": directory,
        "jetpack": jetpack,
        "exists": os.path.isdir(directory),
        "total": len(artifacts),
        "missing": [],
        "corrupt": [],
        "unrecorded": [],
        "verified": [],
        "extra": [],
    }
    if report["exists"]:
        if local:
            local_copies(local, create=True)
        for index, entry in enumerate(artifacts, 1):
            if progress:
                progress(index, len(artifacts), entry["file"])
            if local:
                _fetch_one(directory, local, entry, report, cache)
            else:
                _check_one(directory, entry, report, cache)
        report["extra"] = _extra_files(directory, artifacts)
        cache.save()
    bad = report["missing"] or report["corrupt"] or report["unrecorded"]
    report["result"] = bool(report["exists"] and not bad)
    report["comment"] = _summary(report, jetpack, mount)
    return report


def _brief(entry: dict[str, Any]) -> dict[str, Any]:
    """What a report says of an artifact: file, role, and its site build if it is one."""
    brief = {"file": entry["file"], "role": entry["role"]}
    if entry.get("site_build"):
        brief["site_build"] = entry["site_build"]
    return brief


def _check_one(directory: str, entry: dict, report: dict[str, Any], cache: HashCache) -> None:
    path = os.path.join(directory, entry["file"])
    brief = _brief(entry)
    if not os.path.isfile(path):
        report["missing"].append(brief)
    elif entry.get("sha256") is None:
        report["unrecorded"].append({**brief, "actual": cache.sha256(path)})
    else:
        actual = cache.sha256(path)
        if actual != entry["sha256"]:
            report["corrupt"].append({**brief, "expected": entry["sha256"], "actual": actual})
        else:
            report["verified"].append(brief)


class LocalCopyError(OSError):
    """The local copy directory is not a root-owned 0700 directory."""


def local_copies(path: str, create: bool = False) -> str:
    """``path`` if it is a directory of this (root) user, mode 0700, no symlink; else raise."""
    if create:
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        if not os.path.lexists(path):
            os.mkdir(path, 0o700)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
        raise LocalCopyError(f"{path} must be a directory owned by uid {os.geteuid()}, mode 0700, "
                             f"not a symlink (found mode {oct(info.st_mode)}, uid {info.st_uid}): remove it")
    return path


def _copy_ok(path: str, expected: str | None, cache: HashCache) -> bool:
    """The root-owned copy at ``path`` exists and has sha256 ``expected`` (its stat is root's)."""
    return bool(expected) and os.path.isfile(path) and not os.path.islink(path) and cache.sha256(path) == expected


def _copy(source: str, part: str) -> str:
    """Copy ``source`` to ``part`` (created fresh, 0600) and return the sha256 of the bytes written."""
    os.makedirs(os.path.dirname(part), mode=0o700, exist_ok=True)
    if os.path.lexists(part):
        os.unlink(part)
    digest = hashlib.sha256()
    with open(source, "rb") as src, os.fdopen(
        os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600), "wb"
    ) as dst:
        for block in iter(lambda: src.read(_CHUNK), b""):
            digest.update(block)
            dst.write(block)
    return digest.hexdigest()


def _fetch_one(directory: str, local: str, entry: dict, report: dict[str, Any], cache: HashCache) -> None:
    """Verify one artifact by its local copy; copy it from the share first unless the copy is good.

    A copy whose hash differs is never kept: nothing installs a file the manifest does not name.
    """
    brief = _brief(entry)
    dest = os.path.join(local, entry["file"])
    if _copy_ok(dest, entry.get("sha256"), cache):
        report["verified"].append(brief)
        return
    source = os.path.join(directory, entry["file"])
    if not os.path.isfile(source):
        report["missing"].append(brief)
        return
    part = f"{dest}.part"
    actual = _copy(source, part)
    if actual == entry.get("sha256"):
        os.replace(part, dest)
        cache.put(dest, actual)
        report["verified"].append(brief)
        return
    os.unlink(part)
    if os.path.lexists(dest):
        os.unlink(dest)
    if entry.get("sha256") is None:
        report["unrecorded"].append({**brief, "actual": actual})
    else:
        report["corrupt"].append({**brief, "expected": entry["sha256"], "actual": actual})


def record_directory(directory: str, artifacts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The manifest with each present file's sha256, plus the unlisted wheels next to listed ones.

    Unlisted wheels are the dependencies ``pip wheel`` put in the wheelhouse: they join the
    manifest as role ``wheel`` without a ``requirement`` (pip installs them as dependencies).
    """
    check_manifest(artifacts)
    result = []
    for entry in artifacts:
        path = os.path.join(directory, entry["file"])
        digest = sha256_file(path) if os.path.isfile(path) else entry.get("sha256")
        result.append({**entry, "sha256": digest})
    for name in _extra_files(directory, artifacts):
        if name.endswith(".whl"):
            digest = sha256_file(os.path.join(directory, name))
            result.append({"file": name, "role": "wheel", "sha256": digest})
    return result


def python_source(stack: dict[str, Any], jetpack: str) -> dict[str, Any]:
    """The ``gpu_stack:python_sources`` entry that JetPack ``jetpack`` names ({} if it names none)."""
    name = ((stack.get("jetpacks") or {}).get(jetpack) or {}).get("python", {}).get("source")
    if name is None:
        return {}
    sources = stack.get("python_sources") or {}
    if name not in sources:
        known = ", ".join(sorted(sources)) or "none"
        raise ManifestError(
            f"gpu_stack:jetpacks:'{jetpack}':python:source {name!r} is not in gpu_stack:python_sources (known: {known})"
        )
    return sources[name]


def compose(stack: dict[str, Any], jetpack: str) -> list[dict[str, Any]]:
    """The manifest of JetPack ``jetpack``: its artifacts, its Python debs, the shared wheelhouse."""
    entry = (stack.get("jetpacks") or {}).get(jetpack)
    if not entry:
        known = ", ".join(sorted(stack.get("jetpacks") or {})) or "none"
        raise ManifestError(f"gpu_stack:jetpacks has no entry for JetPack {jetpack!r} (known: {known})")
    source = python_source(stack, jetpack)
    debs = (source.get("debs") or []) if source.get("kind") == "debs" else []
    artifacts = [*(entry.get("artifacts") or []), *debs, *(stack.get("wheelhouse") or [])]
    return check_manifest(artifacts, f"gpu_stack manifest of JetPack {jetpack}")


def probe(path: str, timeout: float | None = None) -> str | None:
    """None when the filesystem at ``path`` answers within ``timeout`` s (PROBE_TIMEOUT; in a
    subprocess, killed after it: a dead server of a hard NFS mount never blocks the caller), else why not."""
    timeout = PROBE_TIMEOUT if timeout is None else timeout
    try:
        result = subprocess.run([*PROBE, path], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return f"no answer within {timeout} s"
    if result.returncode:
        return result.stderr.decode("utf-8", "replace").strip() or f"{PROBE[0]} exit {result.returncode}"
    return None


def verify_copies(directory: str, artifacts: list[dict[str, Any]], jetpack: str, mount: str | None,
                  local: str, cache_path: str) -> dict[str, Any]:
    """check_directory on a node: the copies in ``local`` verified, hashes cached at ``cache_path``."""
    return check_directory(directory, artifacts, jetpack, mount, HashCache(cache_path), local=local)


def copies_ok(local: str, artifacts: list[dict[str, Any]], cache_path: str) -> bool:
    """True when every artifact has a verified copy in ``local``; reads nothing on the share."""
    try:
        local_copies(local)
    except OSError:
        return False
    cache = HashCache(cache_path)
    return all(_copy_ok(os.path.join(local, entry["file"]), entry.get("sha256"), cache) for entry in artifacts)
