"""The formulas' shape: one home per value, include what you require, one map idiom, a clean.sls each."""

from __future__ import annotations

import functools
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import salt.client
import yaml
from saltrender import PILLAR, REPO, by_id, minion_opts

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


# --- include what you require ---------------------------------------------------------------

def _targets(high: dict[str, Any]) -> Iterator[tuple[str, str, str, str]]:
    """(state id, requisite, kind, target) of every requisite (and _in, _any) in rendered high data."""
    for state_id, body in high.items():
        for key, args in body.items():
            if key.startswith("__") or not isinstance(args, list):
                continue
            for arg in args:
                if not isinstance(arg, dict):
                    continue
                for requisite, targets in arg.items():
                    if requisite.replace("_in", "").replace("_any", "") not in REQUISITES:
                        continue
                    for target in targets if isinstance(targets, list) else [targets]:
                        for kind, ref in (target.items() if isinstance(target, dict) else [("id", target)]):
                            yield state_id, requisite, kind, str(ref)


@functools.cache
def _rendered(node: str, sls_names: tuple[str, ...], site: str = "") -> dict[str, Any]:
    """`state.show_sls` of each of ``sls_names`` for ``node`` (a list of errors where one does not
    render) and, under "highstate", its low chunks by id; ``site``: a site pillar (YAML). All from
    one new Caller, used at once: a Caller made before another one answers with the newer one's pillar."""
    roots = [PILLAR]
    if site:
        roots.append(Path(tempfile.mkdtemp(prefix="shape-site-")))
        (roots[-1] / "site.sls").write_text(site)
    caller = salt.client.Caller(mopts=minion_opts(node, PLATFORM, pillar_roots=roots))
    rendered = {sls: caller.cmd("state.show_sls", sls) for sls in sls_names}
    rendered["highstate"] = by_id(caller.cmd("state.show_lowstate"))
    return rendered


def _missing_requisites(high: dict[str, Any]) -> list[str]:
    ids = set(high)
    sls_names = {body["__sls__"] for body in high.values()}
    return [
        f"{state_id} {requisite} {kind}: {ref}"
        for state_id, requisite, kind, ref in _targets(high)
        if ref not in (sls_names if kind == "sls" else ids)
    ]


def _requisite_problems(node: str, sls_names: tuple[str, ...], site: str = "") -> dict[str, Any]:
    rendered = _rendered(node, sls_names, site)
    problems = {sls: high for sls, high in rendered.items() if not isinstance(high, dict)}
    problems |= {sls: missing for sls, high in rendered.items() if (missing := _missing_requisites(high))}
    return problems


@pytest.mark.parametrize("node", [MASTER, WORKER])
def test_every_requisite_is_defined_by_the_sls_or_what_it_includes(node):
    """`state.apply <sls>` alone must find every state it requires (its includes, transitively)."""
    # A worker has no SSD: the server SLS refuses to render there.
    names = tuple(n for n in _sls_names() if node == MASTER or n != "nfs.server")
    assert not _requisite_problems(node, names), f"on {node}: SLS that do not render or miss a requisite"


def test_requisites_are_included_when_nothing_is_mounted_now():
    site = "nfs:\n  mount_now: false\n"
    assert not _requisite_problems(MASTER, ("nfs.client", "nfs.server", "gpu_stack.check", "gpu_stack"), site)
    chunks = _rendered(MASTER, ("nfs.client", "nfs.server", "gpu_stack.check", "gpu_stack"), site)["highstate"]
    assert not [i for i in chunks if i.startswith(("nfs-client-automount-", "nfs-server-service"))]


def test_a_requisite_outside_the_includes_is_found():
    high = {"a": {"__sls__": "f", "pkg": [{"require": [{"pkg": "b"}, {"sls": "f"}, {"sls": "g"}]}, "installed"]}}
    assert _missing_requisites(high) == ["a require pkg: b", "a require sls: g"]
