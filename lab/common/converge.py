"""`apply`: the orchestrated rollout, then ``state.apply`` on every node, summarised per node."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from lab.common import master, table
from lab.common.paths import DERIVED_TABLE, REPORTS_DIR, ensure
from lab.common.shell import say, step, write

REASON_CHARS = 240  # of a failed state's comment in a summary line (the reports keep it whole)


@dataclass
class NodeResult:
    """One node's state run: counts and the failed states (id: comment)."""

    node: str
    states: int = 0
    changed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed

    def line(self) -> str:
        status = "ok" if self.ok else "FAILED"
        return (f"{self.node:>8}: {status:6} {self.states:3} states, "
                f"{len(self.changed):3} changed, {len(self.failed):3} failed")


def reason(comment: Any) -> str:
    """What a summary line shows of a failed state: its comment's first non-empty line, bounded."""
    line = next((text.strip() for text in str(comment).splitlines() if text.strip()), "(no comment)")
    return line if len(line) <= REASON_CHARS else line[: REASON_CHARS - 3] + "..."


def _why(state: dict[str, Any]) -> str:
    """A failed state's reason: its comment, after the last line of what a failed command wrote
    on stderr (cmd states keep the reason there; their comment only names the command)."""
    comment = str(state.get("comment", ""))
    changes = state.get("changes")
    stderr = str(changes.get("stderr") or "").strip() if isinstance(changes, dict) else ""
    return f"{stderr.splitlines()[-1]} ({comment})" if stderr else comment


def summarise(node: str, ret: Any) -> NodeResult:
    """A NodeResult from one minion's ``state.apply`` return (a dict, or a list of errors)."""
    result = NodeResult(node)
    if not isinstance(ret, dict):
        errors = ret if isinstance(ret, list) else [str(ret)]
        result.failed["(no state ran)"] = "; ".join(str(e) for e in errors)[:2000]
        return result
    for key, state in ret.items():
        if not isinstance(state, dict):
            result.failed[key] = str(state)
            continue
        result.states += 1
        label = state.get("__id__", key)
        if state.get("result") is False:
            result.failed[label] = _why(state)[:2000]
        elif state.get("changes"):
            result.changed.append(label)
    return result


def apply_all(nodes: list[str], label: str = "state.apply",
              returned_after: dict[str, float] | None = None) -> dict[str, NodeResult]:
    """``state.apply`` on ``nodes``; return one NodeResult per node (missing ones fail).
    ``returned_after``: filled with each node's seconds to return (master.run_job)."""
    with step(f"{label}: {len(nodes)} nodes"):
        reply = master.run_job(nodes, "state.apply", label=label, returned_after=returned_after)
    ensure(REPORTS_DIR)
    write(REPORTS_DIR / f"{label.replace(' ', '-')}.json", json.dumps(reply, indent=1))
    results = {}
    for node in nodes:
        results[node] = summarise(node, reply.get(node, "minion did not return"))
    return results


def rollout() -> tuple[bool, str]:
    """``salt-run state.orch orch.rollout``; return (succeeded, readable summary)."""
    with step("rollout: salt-run state.orch orch.rollout"):
        code, data, raw = master.salt_run("state.orch", "orch.rollout")
    ensure(REPORTS_DIR)
    write(REPORTS_DIR / "rollout.json", json.dumps(data, indent=1) if data else raw)
    steps = _orch_steps(data)
    lines = []
    for sid, ok, comment, failures in steps:
        lines.append(f"  ok {sid}" if ok else f"  FAILED {sid}: {reason(comment)}")
        lines += [f"    {failure}" for failure in failures]
    failed = [sid for sid, ok, _, _ in steps if not ok]
    if code != 0 and not failed:
        failed = [raw.strip()[-3000:] or f"salt-run exited {code}"]
        lines.append(f"  {failed[0]}")
    return code == 0 and not failed, "\n".join(lines)


def _orch_steps(data: dict[str, Any]) -> list[tuple[str, bool, str, list[str]]]:
    """(state id, succeeded, comment, the minions' failed states) of each orchestration step in
    salt-run's JSON; a step that succeeds may still hold failed minions (fail_minions)."""
    body = data.get("data", data)
    steps = []
    for per_master in body.values() if isinstance(body, dict) else []:
        if isinstance(per_master, list):  # the orchestration did not start (e.g. pillar)
            steps.append(("(orchestration)", False, " ".join(map(str, per_master)), []))
            continue
        if not isinstance(per_master, dict):
            continue
        for key, state in per_master.items():
            if isinstance(state, dict) and "result" in state:
                ok = state["result"] is not False
                failures = _minion_failures(state.get("changes", {}), returns_too=not ok)
                steps.append((state.get("__id__", key), ok, state.get("comment", ""), failures))
    return steps


def _minion_failures(changes: Any, returns_too: bool) -> list[str]:
    """'node: state: reason' lines for the failed states inside a salt.state step; with
    ``returns_too`` (a failed step) also what each minion returned that is no state run."""
    returns = changes.get("ret", {}) if isinstance(changes, dict) else {}
    lines = []
    for node, ret in returns.items() if isinstance(returns, dict) else []:
        if not (isinstance(ret, dict) and all(isinstance(v, dict) for v in ret.values())):
            if returns_too:
                lines.append(f"{node}: returned {reason(repr(ret))}")
            continue
        result = summarise(node, ret)
        for sid, comment in result.failed.items():
            if not comment.startswith("One or more requisite failed"):
                lines.append(f"{node}: {sid}: {reason(comment)}")
    return lines


def report(results: dict[str, NodeResult]) -> bool:
    """Print the per-node summary and the failed states; True if every node succeeded."""
    for result in results.values():
        print(result.line())
        for sid, comment in result.failed.items():
            print(f"          FAILED {sid}: {reason(comment)}")
    bad = [r.node for r in results.values() if not r.ok]
    changed = sum(len(r.changed) for r in results.values())
    print(f"state.apply: {len(results) - len(bad)}/{len(results)} nodes ok, {changed} changes"
          + (f"; failed: {', '.join(bad)}" if bad else ""))
    return not bad


def main(rollout_first: bool = True) -> int:
    """`python -m lab apply`: 0 when the rollout and state.apply succeed on every node."""
    nodes = table.names(table.load(DERIVED_TABLE))
    if rollout_first:
        ok, summary = rollout()
        print("rollout (orch.rollout):\n" + summary)
        if not ok:
            say("rollout failed: state.apply not run")
            return 1
    return 0 if report(apply_all(nodes)) else 1
