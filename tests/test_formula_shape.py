"""The formulas' shape: one home per value, include what you require, one map idiom, a clean.sls each."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from saltrender import PILLAR, REPO

sys.path.insert(0, str(PILLAR))
import nodetable  # noqa: E402

FORMULAS = REPO / "formulas"
NAMES = sorted(p.parent.name for p in FORMULAS.glob("*/defaults.yaml"))
PLATFORM = "ubuntu1604-aarch64"
CLUSTER = nodetable.load()
MASTER = CLUSTER["masters"][0]
WORKER = next(r["name"] for r in CLUSTER["nodes"] if r["name"] not in CLUSTER["masters"])
REQUISITES = ("require", "watch", "onchanges", "onfail", "prereq", "use", "listen")


def _sls_names() -> list[str]:
    """Every SLS of every formula, as `state.apply` names it (nfs, nfs.client, ...)."""
    return sorted(p.parent.name if p.stem == "init" else f"{p.parent.name}.{p.stem}" for p in FORMULAS.glob("*/*.sls"))


# --- one home per value: the pillar files set only what differs from the formula defaults ----

def same_as_default(value: Any, default: Any, path: str) -> Iterator[str]:
    """`path = value` for every key of ``value`` whose value is the formula default's, walking mappings."""
    if isinstance(value, dict) and isinstance(default, dict):
        for key, item in value.items():
            if key in default:
                yield from same_as_default(item, default[key], f"{path}:{key}")
    elif type(value) is type(default) and value == default:
        yield f"{path} = {value!r}"


def test_the_walk_finds_a_nested_default_and_tells_types_apart():
    defaults = {"nfs": {"mount_now": True, "server": {"fsid": 1, "device": None}}}
    pillar = {"nfs": {"mount_now": 1, "server": {"fsid": 1, "device": "/dev/sda"}, "extra": 2}}
    assert list(same_as_default(pillar, defaults, "f")) == ["f:nfs:server:fsid = 1"]


@pytest.mark.parametrize("name", ["stack.sls", "gpu.sls"])
def test_pillar_file_repeats_no_formula_default(name):
    """A default written again in pillar hides it: editing defaults.yaml would change nothing."""
    pillar = yaml.safe_load((PILLAR / name).read_text())
    repeated = []
    for formula in sorted(set(pillar) & set(NAMES)):
        defaults = yaml.safe_load((FORMULAS / formula / "defaults.yaml").read_text())
        repeated += same_as_default(pillar[formula], defaults[formula], f"pillar/{name}: {formula}")
    assert not repeated, f"set to the value of formulas/<formula>/defaults.yaml: {repeated}"
