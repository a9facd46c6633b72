"""Does this node's flashed L4T match the JetPack that pillar asks for?

CUDA and cuDNN are tied to the L4T release flashed on a Jetson: installing JetPack 3.1's CUDA 8
on an L4T R28.2 node gives a broken stack. The gpu_stack formula renders its gate state from
:func:`check`, so a disagreement fails the GPU states with a message naming both sides, before
anything changes.

    salt astro3 jetpack.check
"""

from __future__ import annotations

from typing import Any

__virtualname__ = "jetpack"


def __virtual__():
    return __virtualname__


def _want(entry: dict[str, Any]) -> str:
    l4t = entry.get("l4t") or {}
    return f"L4T {l4t.get('release')} REVISION {l4t.get('revision')}"


def platform_check(stack: dict[str, Any], tegra: dict[str, Any], node: str) -> dict[str, Any]:
    """``{result, comment}`` for the merged gpu_stack map, the ``tegra`` grain and the node id."""
    jetpack = str(stack.get("jetpack"))
    jetpacks = stack.get("jetpacks") or {}
    if jetpack not in jetpacks:
        known = ", ".join(sorted(jetpacks)) or "none"
        return _fail(f"pillar gpu_stack:jetpack is {jetpack!r}, not in gpu_stack:jetpacks ({known})")
    want = _want(jetpacks[jetpack])
    asked = f"pillar gpu_stack:jetpack {jetpack} needs {want}"
    if tegra.get("error"):
        return _fail(f"node {node}: {tegra['error']}; {asked}")
    if not tegra.get("present"):
        path = tegra.get("file", "/etc/nv_tegra_release")
        if stack.get("enabled"):
            return _fail(f"node {node} is gpu: true in the node table but has no {path}: is L4T flashed? ({asked})")
        return _ok(f"node {node} is gpu: false and has no {path}: L4T check skipped ({asked})")
    l4t = jetpacks[jetpack]["l4t"]
    have = f"L4T {tegra.get('release')} REVISION {tegra.get('revision')}"
    if (tegra.get("release"), tegra.get("revision")) != (l4t.get("release"), l4t.get("revision")):
        return _fail(
            f"node {node} runs {have} ({tegra.get('file')}) but {asked}; CUDA is tied to the "
            "flashed L4T: reflash the node or set gpu_stack:jetpack to its JetPack"
        )
    return _ok(f"node {node} runs {have}, as JetPack {jetpack} needs")


def _ok(comment: str) -> dict[str, Any]:
    return {"result": True, "comment": comment}


def _fail(comment: str) -> dict[str, Any]:
    return {"result": False, "comment": comment}


def check(
    stack: dict[str, Any] | None = None,
    tegra: dict[str, Any] | None = None,
    node: str | None = None,
) -> dict[str, Any]:
    """Compare the ``tegra`` grain with pillar ``gpu_stack:jetpack`` (defaults: this minion's)."""
    if stack is None:
        stack = __salt__["pillar.get"]("gpu_stack", {}, unmask=True)  # noqa: F821 (Salt dunder)
    if tegra is None:
        tegra = __grains__.get("tegra", {})  # noqa: F821
    return platform_check(stack, tegra, node or __grains__["id"])  # noqa: F821
