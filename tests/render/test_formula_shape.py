"""The formulas' shape: one home per value, include what you require, one map idiom, a clean.sls each."""

from __future__ import annotations

import functools
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from saltrender import PILLAR, REPO, by_id, contents

from jetson_array import (
    merge,  # noqa: E402
    nodetable,
)
from validation import pillars  # noqa: E402

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



def test_the_user_home_is_built_in_one_place():
    """salt/_modules/pillar_schema.py user_home() is the one place `/home/<user>` is made (the node
    table emits it, the schema checks the pillar against it); the formulas, the suite and the lab
    read pillar cluster_user:home / ssh_mesh:home (or jetson_array.nodetable.user_home)."""
    built = re.compile(r"""["']/home/["']\s*(~|\+)|f["']/home/\{""")
    files = [p for d in ("formulas", "salt", "validation", "lab", "jetson_array", "pillar")
             for p in sorted((REPO / d).rglob("*")) if p.suffix in (".py", ".sls", ".jinja")]
    found = [str(p.relative_to(REPO)) for p in files if "cache" not in p.parts and built.search(p.read_text())]
    assert found == ["salt/_modules/pillar_schema.py"], found

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


# Rendered in a child process: in one process, a Caller made earlier (saltrender's cached ones,
# other modules' under xdist) renders with the pillar of the last Caller that compiled one.
RENDER = """
import json, sys
import salt.client
from saltrender import minion_opts
node, platform, names, roots = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
caller = salt.client.Caller(mopts=minion_opts(node, platform, pillar_roots=roots))
out = {sls: caller.cmd("state.show_sls", sls) for sls in names}
out["highstate"] = caller.cmd("state.show_lowstate")
print(json.dumps(out, default=str))
"""


@functools.cache
def _rendered(node: str, sls_names: tuple[str, ...], site: str = "") -> dict[str, Any]:
    """`state.show_sls` of each of ``sls_names`` for ``node`` (a list of errors where one does not
    render) and, under "highstate", its low chunks by id; ``site``: a site pillar (YAML)."""
    roots = [PILLAR]
    if site:
        roots.append(Path(tempfile.mkdtemp(prefix="shape-site-")))
        (roots[-1] / "site.sls").write_text(site)
    argv = [node, PLATFORM, json.dumps(sls_names), json.dumps([str(r) for r in roots])]
    out = subprocess.run(
        [sys.executable, "-c", RENDER, *argv], cwd=REPO / "tests", capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    rendered = json.loads(out.stdout)
    rendered["highstate"] = by_id(rendered["highstate"])
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


# --- one map idiom; a formula's settings are read through its map ---------------------------

def test_every_sls_imports_its_own_map_through_tplroot():
    """template-formula's idiom: `tplroot = tpldir.split("/")[0]`, then `tplroot ~ "/map.jinja"`."""
    wrong = []
    for path in sorted(FORMULAS.glob("*/*.sls")):
        text = path.read_text()
        own = f'"{path.parent.name}/map.jinja"'
        if own in text or 'tpldir ~ "/map.jinja"' in text:
            wrong.append(f"{path.relative_to(REPO)}: imports its map by literal path or tpldir")
        if "tpldir" in text.replace('tpldir.split("/")[0]', ""):
            wrong.append(f"{path.relative_to(REPO)}: uses tpldir, not tplroot")
        if "map.jinja" in text and 'set tplroot = tpldir.split("/")[0]' not in text:
            wrong.append(f"{path.relative_to(REPO)}: no tplroot")
    assert not wrong, wrong


def test_every_map_loads_its_own_defaults_by_its_own_path():
    """Maps are imported across formulas (diagnosenet: gpu_stack's; gpu_stack.check: nfs's) with the
    importer's context: a map that loaded `tpldir ~ "/defaults.yaml"` would load the importer's."""
    for name in NAMES:
        text = (FORMULAS / name / "map.jinja").read_text()
        assert f'import_yaml "{name}/defaults.yaml" as defaults' in text, name
        assert "tpldir" not in text and "tplroot" not in text, name


def test_formula_settings_are_read_only_through_their_map():
    """`pillar.get("nfs:mount_now", True)` in an SLS is a second default beside defaults.yaml."""
    names = "|".join(NAMES)
    read = re.compile(rf"""pillar\.get["']\]\(\s*["']({names})\b""")
    found = [
        f"{path.relative_to(REPO)}: {m.group(0)}"
        for path in sorted(FORMULAS.glob("*/*"))
        if path.suffix in (".sls", ".jinja")
        for m in read.finditer(path.read_text())
        if not (path.name == "map.jinja" and m.group(1) == path.parent.name)
    ]
    assert not found, found



def test_mapdata_writes_each_map_as_the_suite_resolves_it_root_only():
    """salt/_mapdata (not in the highstate) writes every formula's resolved map to a root-only
    file; jetson_array/merge.py, the suite's reading of the formula settings, gives the same."""
    rendered = _rendered(MASTER, ("_mapdata",))
    assert "mapdata-file" not in rendered["highstate"]
    (state,) = rendered["_mapdata"].values()
    args = {k: v for arg in state["file"] if isinstance(arg, dict) for k, v in arg.items()}
    assert (args["user"], args["mode"], args["show_changes"]) == ("root", "0600", False)
    pillar = pillars.render(pillars.salt_opts(None), [MASTER])[MASTER]
    maps = args["dataset"]
    assert sorted(maps) == NAMES
    for name in NAMES:
        settings = merge.formula(pillar, name)
        assert {key: maps[name][key] for key in settings} == settings, name
    assert maps["gpu_stack"]["active"] == merge.gpu_stack_active(pillar)

# --- clean.sls ------------------------------------------------------------------------------

CLEAN = tuple(f"{name}.clean" for name in NAMES)


def test_every_formula_has_a_clean_sls():
    assert not [name for name in NAMES if not (FORMULAS / name / "clean.sls").is_file()]


@pytest.mark.parametrize("node", [MASTER, WORKER])
def test_every_clean_sls_renders_states_of_its_own(node):
    rendered = _rendered(node, CLEAN)
    wrong = {sls: rendered[sls] for sls in CLEAN
             if not (isinstance(rendered[sls], dict) and rendered[sls]
                     and all(body["__sls__"] == sls for body in rendered[sls].values()))}
    assert not wrong, f"on {node}: clean SLS that do not render, yield no state or include others"


@pytest.mark.parametrize("node", [MASTER, WORKER])
def test_hosts_clean_removes_only_the_formula_lines_and_keeps_the_node_resolvable(node):
    """/etc/hosts is shared: clean.sls edits it in place (never file.absent or an emptied file),
    removing the table's other nodes and the extra entries; the loopback lines and the node's own
    line stay (the hostname stays, and sudo, MPI and Salt resolve it)."""
    rendered = _rendered(node, CLEAN)
    managed, high = contents(rendered["highstate"]["hosts-file"]), rendered["hosts.clean"]
    assert [set(body) for body in high.values()] == [{"file", "__sls__", "__env__"}], high
    (edit,) = high.values()
    args = {k: v for arg in edit["file"] if isinstance(arg, dict) for k, v in arg.items()}
    fun = [arg for arg in edit["file"] if isinstance(arg, str)]
    assert (fun, args["name"], args["repl"]) == (["replace"], "/etc/hosts", "")
    local = yaml.safe_load((FORMULAS / "hosts" / "defaults.yaml").read_text())["hosts"]["local_lines"]
    row = nodetable.node_row(CLUSTER, node)
    kept = local + [f"{row['ip']} {node}"]
    assert re.sub(args["pattern"], "", managed, flags=re.MULTILINE).splitlines() == kept
    by_hand = ["# an operator's line", "10.9.9.9 printer"]
    edited = re.sub(args["pattern"], "", managed + "\n".join(by_hand) + "\n", flags=re.MULTILINE)
    assert edited.splitlines() == kept + by_hand
