"""Verify a copy of the GPU install package against its manifest in pillar, or record its hashes.

    python3 tools/install_package.py verify DIR --pillar pillar/gpu.sls     # exit 0 ok, 1 bad, 2 usage
    python3 tools/install_package.py record DIR --pillar pillar/gpu.sls     # the manifest with DIR's hashes

Runs on the operator's machine, on the package directory itself (no local copy, no Salt run):
the manifest comes from plain-YAML pillar files merged in order as Salt merges pillar (later
wins), the checks from jetson_array.manifest (salt/_utils/install_manifest.py, what the nodes run).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import salt.utils.dictupdate
import yaml

from jetson_array import manifest


def load_pillar_files(paths: list[str], jetpack: str | None) -> tuple[str, list[dict[str, Any]]]:
    """The JetPack and its manifest from plain-YAML pillar files merged in order (later wins)."""
    stack: dict = {}
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            doc = yaml.safe_load(handle) or {}
        stack = merge(stack, doc.get("gpu_stack", {}))
    jetpack = str(jetpack or stack.get("jetpack", ""))
    return jetpack, manifest.compose(stack, jetpack)


def merge(base: dict, extra: dict) -> dict:
    """``extra`` over ``base`` as Salt merges pillar sources (pillar_source_merging_strategy: recurse)."""
    return salt.utils.dictupdate.merge(base, extra, strategy="recurse", merge_lists=False)


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
    except (OSError, manifest.ManifestError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.command == "record":
        print(yaml.safe_dump(manifest.record_directory(args.directory, artifacts), sort_keys=False))
        return 0

    def progress(index: int, total: int, name: str) -> None:
        print(f"[{index}/{total}] {name}", file=sys.stderr)

    report = manifest.check_directory(args.directory, artifacts, jetpack, progress=progress)
    print(report["comment"])
    for name in report["extra"]:
        print(f"  note: {name} is not in the manifest")
    return 0 if report["result"] else 1


if __name__ == "__main__":
    sys.exit(main())
