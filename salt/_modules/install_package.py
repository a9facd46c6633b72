"""Verify the GPU install package directory against its manifest in pillar.

The install package (CUDA repo deb, cuDNN debs, Python 3.6 debs, the TensorFlow wheel and a
wheelhouse of the workload's pinned wheels) lives on an NFS export. Its manifest is the
JetPack's ``artifacts`` + the ``debs`` of its Python source + the shared ``wheelhouse`` in
pillar/gpu.sls::

    - {file: libcudnn6_6.0.21-1+cuda8.0_arm64.deb, sha256: <64 hex or null>, role: cudnn, ...}

Salt execution module (``salt astro15 install_package.verify``) and operator CLI
(``python3 salt/_modules/install_package.py verify DIR --pillar pillar/gpu.sls``): both report
what is missing, corrupt (sha256 differs) or unrecorded (sha256 null in pillar: nobody has
recorded the real file's hash yet). ``record`` prints the manifest with the hashes of a
directory, to paste into pillar after checking the package came from a trusted source.

Hashes are cached by (path, size, mtime) in the minion's cachedir, so a re-apply does not read
1.3 GB over NFS again; a changed file is hashed again.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
from collections.abc import Callable
from typing import Any

ROLES = ("cuda-repo", "cudnn", "python-deb", "pip-wheel", "tensorflow-wheel", "wheel")
RECORD_HINT = (
    "record it with `salt <node> install_package.record` (or `python3 "
    "salt/_modules/install_package.py record <dir> --pillar pillar/gpu.sls`) from a package "
    "you trust, and write it into pillar gpu_stack:jetpacks:'{jetpack}':artifacts"
)
_CHUNK = 1 << 20

__virtualname__ = "install_package"


def __virtual__():
    return __virtualname__


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
    return artifacts


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
        lines.append(f"missing: {entry['file']} (role {entry['role']})")
    for entry in report["corrupt"]:
        lines.append(f"corrupt: {entry['file']} has sha256 {entry['actual']}, manifest says {entry['expected']}")
    for entry in report["unrecorded"]:
        lines.append(f"unrecorded: {entry['file']} has no sha256 in pillar")
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
) -> dict[str, Any]:
    """Compare ``directory`` with the manifest; the report's ``result`` is True only if all is well."""
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
        for index, entry in enumerate(artifacts, 1):
            if progress:
                progress(index, len(artifacts), entry["file"])
            _check_one(directory, entry, report, cache)
        report["extra"] = _extra_files(directory, artifacts)
        cache.save()
    bad = report["missing"] or report["corrupt"] or report["unrecorded"]
    report["result"] = bool(report["exists"] and not bad)
    report["comment"] = _summary(report, jetpack, mount)
    return report


def _check_one(directory: str, entry: dict, report: dict[str, Any], cache: HashCache) -> None:
    path = os.path.join(directory, entry["file"])
    brief = {"file": entry["file"], "role": entry["role"]}
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


# --- Salt entry points --------------------------------------------------------------------


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


def verify(directory: str | None = None, jetpack: str | None = None) -> dict[str, Any]:
    """Verify the install package against the pillar manifest.

    CLI example::

        salt astro15 install_package.verify
        salt astro15 install_package.verify directory=/mnt/pkg jetpack=3.3
    """
    directory, jetpack, artifacts, mount = _from_pillar(directory, jetpack)
    return check_directory(directory, artifacts, jetpack, mount, HashCache(_cache_path()))


def ok(directory: str | None = None, jetpack: str | None = None) -> bool:
    """True when :func:`verify` finds every artifact present, recorded and intact."""
    return verify(directory, jetpack)["result"]


def record(directory: str | None = None, jetpack: str | None = None) -> list[dict[str, Any]]:
    """The pillar manifest with the sha256 of the files found in ``directory``.

    CLI example::

        salt astro15 install_package.record --out yaml
    """
    directory, jetpack, artifacts, _ = _from_pillar(directory, jetpack)
    return record_directory(directory, artifacts)


# --- operator CLI -------------------------------------------------------------------------


def _merge(base: dict, extra: dict) -> dict:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_pillar_files(paths: list[str], jetpack: str | None) -> tuple[str, list[dict[str, Any]]]:
    """The JetPack and its manifest from plain-YAML pillar files merged in order (later wins)."""
    import yaml  # only the CLI needs it; Salt ships it

    stack: dict = {}
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            doc = yaml.safe_load(handle) or {}
        stack = _merge(stack, doc.get("gpu_stack", {}))
    jetpack = str(jetpack or stack.get("jetpack", ""))
    return jetpack, compose(stack, jetpack)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["verify", "record"])
    parser.add_argument("directory", help="the install package directory")
    parser.add_argument(
        "--pillar",
        action="append",
        required=True,
        help="pillar file(s) holding gpu_stack:jetpacks (e.g. pillar/gpu.sls); later ones win",
    )
    parser.add_argument("--jetpack", help="JetPack entry to use (default: gpu_stack:jetpack)")
    args = parser.parse_args(argv)
    try:
        jetpack, artifacts = load_pillar_files(args.pillar, args.jetpack)
    except (OSError, ManifestError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.command == "record":
        import yaml

        print(yaml.safe_dump(record_directory(args.directory, artifacts), sort_keys=False))
        return 0

    def progress(index: int, total: int, name: str) -> None:
        print(f"[{index}/{total}] {name}", file=sys.stderr)

    report = check_directory(args.directory, artifacts, jetpack, progress=progress)
    print(report["comment"])
    for name in report["extra"]:
        print(f"  note: {name} is not in the manifest")
    return 0 if report["result"] else 1


if __name__ == "__main__":
    sys.exit(main())
