"""The acceptance suite's expectations: the pillar Salt renders, merged with formula defaults."""

from __future__ import annotations

import json
import os

import pytest
import salt.utils.dictupdate
import yaml
from saltrender import REPO

from jetson_array import merge
from validation import pillars, session

TABLE5 = REPO / "tests" / "data" / "table5.yaml"


def master_config(tmp_path, table: str, site: dict | None = None) -> str:
    """A master config like the lab's: an override pillar root ahead of pillar/, another table."""
    override = tmp_path / "site-pillar"
    override.mkdir()
    (override / "site.sls").write_text(yaml.safe_dump(site or {}))
    config = tmp_path / "master"
    roots = {"base": [str(override), str(REPO / "pillar")]}
    config.write_text(yaml.safe_dump({"pillar_roots": roots, "jetson_node_table": table, "cachedir": str(tmp_path)}))
    return str(config)


def test_default_config_renders_every_node_of_the_default_table() -> None:
    opts = pillars.salt_opts(None)
    table = pillars.table(opts)
    rendered = pillars.render(opts, [row["name"] for row in table["nodes"]])
    for row in table["nodes"]:
        assert rendered[row["name"]]["node"]["ip"] == row["ip"]
        assert rendered[row["name"]]["hosts"]["hostname"] == row["name"]


def test_salt_config_sets_table_and_override_pillar(tmp_path) -> None:
    site = {"nfs": {"mount_now": False}, "swap": {"activate": False}}
    opts = pillars.salt_opts(master_config(tmp_path, str(TABLE5), site))
    table = pillars.table(opts)
    assert table == yaml.safe_load(TABLE5.read_text())["cluster"]
    name = table["masters"][0]
    pillar = pillars.render(opts, [name])[name]
    assert pillar["node"]["is_master"] is True
    assert pillars.formula(pillar, "nfs")["mount_now"] is False
    assert pillars.formula(pillar, "swap")["activate"] is False


def test_salt_config_dir_holding_master_is_accepted(tmp_path) -> None:
    master_config(tmp_path, str(TABLE5))
    assert pillars.table(pillars.salt_opts(str(tmp_path)))["name_prefix"] == "tx"


def test_missing_salt_config_is_named(tmp_path) -> None:
    with pytest.raises(pillars.PillarError, match="no master config file at .*nowhere"):
        pillars.salt_opts(str(tmp_path / "nowhere"))


def test_broken_table_error_names_node_and_field(tmp_path) -> None:
    doc = yaml.safe_load(TABLE5.read_text())
    doc["cluster"]["nodes"][4]["ip"] = doc["cluster"]["nodes"][2]["ip"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc))
    opts = pillars.salt_opts(master_config(tmp_path, str(bad)))
    with pytest.raises(pillars.PillarError, match=r"node tx4.*field 'ip'"):
        pillars.table(opts)


def test_node_outside_the_table_fails_to_render() -> None:
    with pytest.raises(pillars.PillarError, match="not-a-node"):
        pillars.render(pillars.salt_opts(None), ["not-a-node"])


@pytest.mark.parametrize("formula", sorted(os.listdir(REPO / "formulas")))
def test_formula_settings_merge_like_map_jinja(formula: str) -> None:
    """formula() equals Salt's slsutil.merge(strategy='recurse'), the merge every map.jinja uses."""
    opts = pillars.salt_opts(None)
    name = pillars.table(opts)["masters"][0]
    pillar = pillars.render(opts, [name])[name]
    defaults = yaml.safe_load((REPO / "formulas" / formula / "defaults.yaml").read_text())[formula]
    expected = salt.utils.dictupdate.merge_recurse(defaults, pillar.get(formula) or {})
    assert pillars.formula(pillar, formula) == expected


def test_merge_replaces_lists_and_scalars_and_merges_mappings() -> None:
    base = {"a": {"x": 1, "y": [1, 2]}, "b": 1, "c": {"k": 1}}
    over = {"a": {"y": [3]}, "b": {"new": 1}, "c": None}
    assert merge.merge(base, over) == {"a": {"x": 1, "y": [3]}, "b": {"new": 1}, "c": None}
    assert base == {"a": {"x": 1, "y": [1, 2]}, "b": 1, "c": {"k": 1}}  # inputs untouched
    assert salt.utils.dictupdate.merge_recurse(base, over) == merge.merge(base, over)


HASH = "$6$saltsalt$" + "h" * 86  # a SHA-512 crypt hash's shape


def test_the_suite_keeps_whether_a_password_hash_is_set_never_the_hash(tmp_path) -> None:
    site = {"cluster_user": {"password_hash": HASH},
            "other": {"secret_token": "", "plain": "kept", "passwordless_sudo": False, "secret": {"key": "v"}}}
    opts = pillars.salt_opts(master_config(tmp_path, str(TABLE5), site))
    name = pillars.table(opts)["masters"][0]
    pillar = session.redact(pillars.render(opts, [name]))[name]
    assert HASH in json.dumps(pillars.render(opts, [name])), "the site pillar did not reach the render"
    assert HASH not in json.dumps(pillar) and "saltsalt" not in json.dumps(pillar)
    assert pillars.formula(pillar, "cluster_user")["password_hash"], "whether it is set is what test_users checks"
    assert pillar["other"] == {"secret_token": "", "plain": "kept", "passwordless_sudo": False,
                               "secret": {"key": session.REDACTED}}


ACCEPTANCE = yaml.safe_load((REPO / "pillar" / "acceptance.sls").read_text())


@pytest.mark.parametrize("key", ["failures", "history_runs", "thermal_limit_c"])
def test_an_acceptance_setting_has_no_second_home_in_the_suite(key: str) -> None:
    """pillar/acceptance.sls is the one home of these: the suite reads them as set, and a pillar
    without one is an error naming it (a default copied into the suite would hide the gap and
    go stale when the pillar file changes)."""
    pillar = {"acceptance": {k: v for k, v in ACCEPTANCE["acceptance"].items() if k != key}}
    assert pillars.required(ACCEPTANCE, f"acceptance:{key}") == ACCEPTANCE["acceptance"][key]
    with pytest.raises(pillars.PillarError, match=f"pillar acceptance:{key} is not set"):
        pillars.required(pillar, f"acceptance:{key}")


def test_verdicts_without_the_failing_kinds_are_refused() -> None:
    """session.judge on a pillar that lacks acceptance:failures: PillarError naming it, no
    verdict judged with kinds the pillar never chose."""
    state = session.State(targets=[], pillars={}, figures={"astro0": {"cpu_mops": 0.5}})
    pillar = {"acceptance": {"references": ACCEPTANCE["acceptance"]["references"]}}
    with pytest.raises(pillars.PillarError, match="acceptance:failures"):
        session.judge(state, pillar)
    found = session.judge(state, ACCEPTANCE)
    assert [(v["kind"], v["severity"]) for v in found] == [("floor", "fail")], found
