"""This checkout, and its Salt extension modules loaded by path.

``salt/_modules`` and ``salt/_grains`` are file_root directories that Salt syncs to the minions,
not packages (and ``salt`` is Salt's own name): code outside Salt that reuses their parsers
(the acceptance suite, tools/mesh_keys.py) loads them from here, once per process.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]


@cache
def repo_module(path: str) -> ModuleType:
    """The module at ``path`` (relative to the checkout, e.g. ``salt/_grains/tegra.py``)."""
    full = REPO / path
    spec = importlib.util.spec_from_file_location("jetson_" + full.stem, full)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {full}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
