"""A formula's settings as its map.jinja resolves them: ``formulas/<name>/defaults.yaml`` merged
with ``pillar[<name>]`` by Salt's own merge, the one every map.jinja calls
(``salt["slsutil.merge"](defaults.<name>, salt["pillar.get"]("<name>", {}), strategy="recurse")``:
mappings merge key by key, lists and scalars are replaced, pillar wins).

The acceptance suite (validation/pillars.py) and the lab read formula settings only through here.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

FORMULAS_DIR = Path(__file__).resolve().parents[1] / "formulas"


class DefaultsError(RuntimeError):
    """A formula's defaults.yaml cannot be read; the message names the file."""


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` merged into a copy of ``base`` (Salt's ``slsutil.merge``, strategy ``recurse``)."""
    import salt.utils.dictupdate

    return salt.utils.dictupdate.merge(base, over, strategy="recurse")


@cache
def _defaults(name: str) -> dict[str, Any]:
    path = FORMULAS_DIR / name / "defaults.yaml"
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))[name]
    except (OSError, KeyError, TypeError) as err:
        raise DefaultsError(f"formula {name}: cannot read its defaults from {path}: {err}") from err


def is_formula(name: str) -> bool:
    return (FORMULAS_DIR / name / "defaults.yaml").is_file()


def formula(pillar: dict[str, Any], name: str) -> dict[str, Any]:
    """formulas/<name>/defaults.yaml merged with pillar[<name>], as the formula's map.jinja does."""
    return merge(_defaults(name), pillar.get(name) or {})


def gpu_stack_active(pillar: dict[str, Any]) -> bool:
    """formulas/gpu_stack/map.jinja's ``active``: the stack (and Open MPI) is installed here
    (gpu: true, or install_without_gpu, the lab's switch)."""
    stack = formula(pillar, "gpu_stack")
    return bool(stack["enabled"] or stack["install_without_gpu"])
