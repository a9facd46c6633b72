"""The hostile corpus (tests/data/hostile.yaml): every hostile node table and site pillar is refused
before any state renders, with an error naming the file, the node and the field.

A table is refused when pillar renders (pillar/cluster.sls turns the error into pillar `_errors`,
which stops every state run); a site pillar value by salt/_modules/pillar_schema.py, which the
highstate calls before it renders a state and the acceptance suite calls on each node's pillar.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml
from saltrender import PILLAR, REPO, RenderError, call, lowstate

from jetson_array import nodetable
from validation import pillars

CORPUS = yaml.safe_load((REPO / "tests" / "data" / "hostile.yaml").read_text(encoding="utf-8"))
TABLE5 = REPO / "tests" / "data" / "table5.yaml"
PLATFORM = "debian12-x86_64"
SITE_NODE = "astro7"  # a master: every formula renders for it


def hostile_table(case: dict, path: Path) -> Path:
    """table5.yaml with the case's edits, written to ``path``."""
    text = TABLE5.read_text(encoding="utf-8")
    for old, new in case.get("text", []):
        assert old in text, f"corpus text edit {old!r} matches nothing in {TABLE5}"
        text = text.replace(old, new, 1)
    if "table" in case:
        doc = yaml.safe_load(text)
        for dotted, value in case["table"].items():
            *parents, last = dotted.split(".")
            target = doc
            for key in parents:
                target = target[int(key)] if isinstance(target, list) else target[key]
            target[int(last) if isinstance(target, list) else last] = copy.deepcopy(value)
        text = yaml.safe_dump(doc, allow_unicode=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    """One directory for every case: the cached Salt caller of a path is reused (its loaders
    are the slow part), while the table and site.sls it reads are rewritten for each case."""
    return tmp_path_factory.mktemp("hostile")


def test_corpus_is_large_enough():
    assert len(CORPUS["tables"]) + len(CORPUS["sites"]) >= 30


@pytest.mark.parametrize("name", sorted(CORPUS["tables"]))
def test_hostile_table_is_refused_before_any_state(name, scratch):
    case = CORPUS["tables"][name]
    table = hostile_table(case, scratch / "nodes.yaml")
    with pytest.raises(nodetable.NodeTableError) as err:
        nodetable.load(str(table))
    message = str(err.value)
    assert message.startswith(f"node table {table}: "), message
    for fragment in case["error"]:
        assert fragment in message, (fragment, message)
    # The pillar the master compiles carries it (never a TypeError hidden behind "see master
    # log"), and no state of the highstate renders.
    assert call("tx0", PLATFORM, "pillar.items", unmask=True, table=table).get("_errors") == [message]
    with pytest.raises(RenderError, match=re.escape(message)):
        lowstate("tx0", PLATFORM, table=table)


@pytest.mark.parametrize("name", sorted(CORPUS["sites"]))
def test_hostile_site_pillar_is_refused_before_any_state(name, tmp_path):
    # A pillar root of its own: a cached Salt caller keeps the pillar it first compiled for a path.
    case = CORPUS["sites"][name]
    (tmp_path / "site.sls").write_text(case["site"], encoding="utf-8")
    roots = (PILLAR, tmp_path)
    # The pillar renders (as the master compiles it); the suite's render refuses it.
    opts = pillars.salt_opts(None)
    opts["pillar_roots"] = {"base": list(map(str, roots))}
    with pytest.raises(pillars.PillarError) as err:
        pillars.render(opts, [SITE_NODE])
    message = str(err.value).removeprefix(f"pillar of {SITE_NODE}: ")
    assert f"site.sls: node {SITE_NODE}: field '" in message, message
    for fragment in case["error"]:
        assert fragment in message, (fragment, message)
    # The highstate stops with the same message before any state renders.
    with pytest.raises(RenderError) as err:
        lowstate(SITE_NODE, PLATFORM, pillar_roots=roots)
    assert message in str(err.value)


def test_a_formula_applied_alone_checks_too(tmp_path):
    """swap's map.jinja calls the same check: `state.apply swap` stops as the highstate does."""
    (tmp_path / "site.sls").write_text(CORPUS["sites"]["swap size a string"]["site"], encoding="utf-8")
    rendered = call(SITE_NODE, PLATFORM, "state.show_sls", "swap", pillar_roots=(PILLAR, tmp_path))
    assert isinstance(rendered, list), rendered
    assert "node astro7: field 'swap:size_mb' must be an integer" in " ".join(rendered), rendered


def test_the_suite_refuses_a_hostile_site_pillar(tmp_path):
    """validation/pillars.py renders pillar as the master does and applies the same schema."""
    (tmp_path / "site.sls").write_text(CORPUS["sites"]["nvpmodel command"]["site"], encoding="utf-8")
    opts = pillars.salt_opts(None)
    opts["pillar_roots"] = {"base": [str(PILLAR), str(tmp_path)]}
    with pytest.raises(pillars.PillarError, match=r"node astro3: field 'gpu_stack:nvpmodel_mode'"):
        pillars.render(opts, ["astro3"])


def test_the_repo_pillar_passes_the_schema():
    for node in ("astro0", "astro7"):
        data = call(node, PLATFORM, "pillar.items", unmask=True)
        assert pillars.pillar_schema().problems(data, node) == []
