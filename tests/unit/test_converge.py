"""What the lab prints of a state run and of orch.rollout (lab/common/converge.py): every failed
state with the first line of its comment, bounded, also inside orchestration steps."""

from __future__ import annotations

from typing import Any

import pytest

from lab.common import converge, master

# The cluster_user guard as it refuses a renumbered user: the reason in its comment.
GUARD = "cluster-user-uid-guard"
WHY = "user mpiuser exists with uid 1200 gid 1200 but the node table pins uid 1100 gid 1100"
GUARD_RET = {
    f"test_|-{GUARD}_|-{GUARD}_|-fail_without_changes": {
        "__id__": GUARD, "result": False, "changes": {}, "comment": f"{WHY}\nunmount ~/cloud/* first",
    },
    "user_|-cluster-user-account_|-mpiuser_|-present": {
        "__id__": "cluster-user-account", "result": False, "changes": {},
        "comment": f"One or more requisite failed: cluster_user.{GUARD}",
    },
    "pkg_|-cluster-user-packages_|-cluster-user-packages_|-installed": {
        "__id__": "cluster-user-packages", "result": True, "changes": {}, "comment": "All packages installed",
    },
}


def orch(step_ok: bool, returns: dict[str, Any]) -> dict[str, Any]:
    """salt-run --out json state.orch orch.rollout: one highstate step (salt.state)."""
    comment = "States ran successfully." if step_ok else f"Run failed on minions: {', '.join(returns)}\nFailures: ..."
    step = {"__id__": "rollout-all-nodes", "result": step_ok, "comment": comment,
            "changes": {"out": "highstate", "ret": returns}}
    mine = {"__id__": "rollout-mine-update", "result": True, "comment": "Function ran successfully.",
            "changes": {"ret": {"astro3": True, "astro7": True}}}
    return {"data": {"master_master": {"salt_|-rollout-mine-update_|-mine.update_|-function": mine,
                                       "salt_|-rollout-all-nodes_|-rollout-all-nodes_|-state": step}}}


def run_rollout(monkeypatch: pytest.MonkeyPatch, tmp_path: Any, data: dict[str, Any]) -> tuple[bool, str]:
    monkeypatch.setattr(master, "salt_run", lambda *args: (0 if _ok(data) else 1, data, ""))
    monkeypatch.setattr(converge, "REPORTS_DIR", tmp_path)
    return converge.rollout()


def _ok(data: dict[str, Any]) -> bool:
    return all(state["result"] for state in data["data"]["master_master"].values())


def test_a_refusing_guard_is_shown_with_its_reason_in_the_state_apply_summary(capsys) -> None:
    converge.report({"astro3": converge.summarise("astro3", GUARD_RET)})
    out = capsys.readouterr().out
    assert f"FAILED {GUARD}: {WHY}\n" in out
    assert "unmount" not in out, "only the comment's first line"


def test_a_failed_rollout_step_names_the_node_the_state_and_its_reason(monkeypatch, tmp_path) -> None:
    ok, summary = run_rollout(monkeypatch, tmp_path, orch(False, {"astro3": GUARD_RET}))
    assert not ok
    assert "  FAILED rollout-all-nodes: Run failed on minions: astro3\n" in summary + "\n"
    assert f"    astro3: {GUARD}: {WHY}" in summary.splitlines()
    assert "requisite" not in summary and "Failures:" not in summary and "unmount" not in summary
    assert "  ok rollout-mine-update" in summary.splitlines() and "returned" not in summary


def test_minions_that_fail_inside_a_step_allowed_to_go_on_are_named(monkeypatch, tmp_path) -> None:
    """A step whose failing workers may fail (fail_minions) succeeds: its failures still show."""
    ok, summary = run_rollout(monkeypatch, tmp_path, orch(True, {"astro3": GUARD_RET}))
    assert ok
    assert f"    astro3: {GUARD}: {WHY}" in summary.splitlines()


def test_a_minion_that_ran_no_state_shows_what_it_returned(monkeypatch, tmp_path) -> None:
    ok, summary = run_rollout(monkeypatch, tmp_path, orch(False, {"astro5": ["Pillar failed to render: boom"]}))
    assert not ok and "    astro5: returned ['Pillar failed to render: boom']" in summary.splitlines()


def test_every_summary_line_is_bounded(monkeypatch, tmp_path, capsys) -> None:
    long_ret = {key: dict(state, comment=f"{WHY} {'y' * 5000}\nmore") for key, state in GUARD_RET.items()}
    _ok, summary = run_rollout(monkeypatch, tmp_path, orch(False, {"astro3": long_ret}))
    converge.report({"astro3": converge.summarise("astro3", long_ret)})
    lines = summary.splitlines() + capsys.readouterr().out.splitlines()
    assert max(map(len, lines)) <= converge.REASON_CHARS + 80, max(lines, key=len)  # + indent, node, state id
    assert any(line.endswith("...") and WHY[:40] in line for line in lines)


def test_a_failed_command_is_shown_with_what_it_wrote_on_stderr() -> None:
    """cmd states keep their reason on stderr (their comment only names the command): the
    summary line leads with its last line, e.g. the SSD label guard of formulas/nfs."""
    why = "nfs server: /dev/vdb is labelled gone, not cluster_files; relabel it (e2label)"
    ret = {"cmd_|-nfs-server-label_|-dev=/dev/vdb_|-run": {
        "__id__": "nfs-server-label", "result": False, "comment": 'Command "dev=/dev/vdb ..." run',
        "changes": {"pid": 1, "retcode": 1, "stdout": "", "stderr": f"blkid: x\n{why}"}}}
    failed = converge.summarise("astro7", ret).failed
    assert converge.reason(failed["nfs-server-label"]).startswith(why)
