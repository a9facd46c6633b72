"""The sudoers formula applied for real into a scratch directory: visudo guards every write."""

from __future__ import annotations

import stat

import yaml
from saltrender import PILLAR, call

NODE = "astro0"
RULE = 'ALL=(root) NOPASSWD: /usr/sbin/iftop -i eth0'
PLATFORM = "debian12-x86_64"


def apply_sudoers(tmp_path, rules: dict, **settings) -> dict:
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    dropins = tmp_path / "sudoers.d"
    dropins.mkdir(exist_ok=True)
    (site / "site.sls").write_text(yaml.safe_dump({"sudoers": {"dir": str(dropins), "files": rules, **settings}}))
    return call(NODE, PLATFORM, "state.sls", "sudoers", pillar_roots=(PILLAR, site))


def test_good_rules_are_written_0440_and_a_rerun_changes_nothing(tmp_path):
    rules = {"jobs": [RULE]}
    first = apply_sudoers(tmp_path, rules)
    state = next(v for k, v in first.items() if "sudoers-dropin-jobs" in k)
    assert state["result"] is True and state["changes"], state
    path = tmp_path / "sudoers.d" / "jobs"
    assert stat.S_IMODE(path.stat().st_mode) == 0o440
    assert f"mpiuser {RULE}" in path.read_text()
    again = apply_sudoers(tmp_path, rules)
    assert all(not v["changes"] for v in again.values()), again


def test_a_broken_rule_is_refused_and_the_old_file_kept(tmp_path):
    apply_sudoers(tmp_path, {"jobs": [RULE]})
    path = tmp_path / "sudoers.d" / "jobs"
    before = path.read_text()
    # Every rule the pillar schema accepts is valid sudoers, so a refusing visudo stands in.
    result = apply_sudoers(tmp_path, {"jobs": [RULE + " -n"]}, visudo="/bin/false")
    state = next(v for k, v in result.items() if "sudoers-dropin-jobs" in k)
    assert state["result"] is False
    assert "check_cmd" in state["comment"] or "visudo" in state["comment"], state["comment"]
    assert path.read_text() == before


def test_a_dropin_name_with_a_dot_is_refused_by_name(tmp_path):
    result = apply_sudoers(tmp_path, {"jobs.conf": [RULE]})
    assert isinstance(result, list) and "sudoers:files:jobs.conf" in " ".join(result), result
    assert not (tmp_path / "sudoers.d" / "jobs.conf").exists()
