"""The acceptance report rendered from a recorded result: the table, the JSON and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from saltrender import REPO

from validation import report

DATA = REPO / "validation" / "testdata"
# Recorded --report-json files: the 4-node container lab (all pass, documented skips), the VM
# lab (live NFS checks on), and a throwaway sshd standing for an unprovisioned node plus a
# closed port (failures, unreachable).
RECORDED = {name: DATA / f"recorded-{name}-report.json" for name in ("lab", "vmlab", "sshd")}


def recorded(name: str) -> dict:
    records, nodes = report.records_from_summary(json.loads(RECORDED[name].read_text()))
    return report.summarize(records, nodes)


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_table_and_skip_reasons_match_the_golden_file(name: str) -> None:
    summary = recorded(name)
    text = report.table(summary) + "\n\nskipped checks, by reason:\n" + report.skip_reasons(summary) + "\n"
    assert text == RECORDED[name].with_suffix(".txt").read_text()


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_summary_keeps_every_check_with_its_values(name: str) -> None:
    original = json.loads(RECORDED[name].read_text())
    summary = recorded(name)
    for name, host in original["hosts"].items():
        assert summary["hosts"][name]["checks"] == host["checks"]
        assert summary["hosts"][name]["status"] == host["status"]


def test_failed_area_beats_passed_beats_skipped() -> None:
    def records(*outcomes: str) -> list[report.Record]:
        return [report.Record("n0", "nfs", f"c{i}", outcome) for i, outcome in enumerate(outcomes)]

    assert report.area_outcome(records("skipped", "failed", "passed")) == "failed"
    assert report.area_outcome(records("skipped", "passed")) == "passed"
    assert report.area_outcome(records("skipped")) == "skipped"
    assert report.area_outcome([]) is None


def test_unreachable_host_is_its_own_status_and_first_failure_is_the_earliest_area() -> None:
    recs = [
        report.Record("n0", "swap", "test_swap", "failed", "n0: swap off"),
        report.Record("n0", "users", "test_uid", "failed", "n0: uid 1001 (pillar: 1100)"),
        report.Record("n1", "reach", "test_reach", "failed", "n1: unreachable: refused"),
        report.Record("n1", "users", "test_uid", "skipped", "n1: unreachable: refused"),
        report.Record("n2", "users", "test_uid", "passed"),
    ]
    summary = report.summarize(recs, ["n0", "n1", "n2"])
    hosts = summary["hosts"]
    assert hosts["n0"]["first_failure"] == "users: test_uid: uid 1001 (pillar: 1100)"
    assert (hosts["n1"]["status"], hosts["n2"]["status"]) == ("unreachable", "passed")
    assert summary["summary"] == {"failed": 1, "unreachable": 1, "passed": 1}
    assert "1 x <node>: unreachable: refused" in report.skip_reasons(summary)


@pytest.mark.parametrize(("name", "code"), [("lab", 0), ("vmlab", 0), ("sshd", 1)])
def test_report_command_reprints_a_saved_report_with_its_exit_code(name: str, code: int) -> None:
    command = [sys.executable, "-m", "validation.report", str(RECORDED[name])]
    run = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    assert run.returncode == code
    assert run.stdout == RECORDED[name].with_suffix(".txt").read_text()
