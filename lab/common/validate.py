"""`validate`: run the acceptance suite (validation/) against the lab nodes over ssh."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from lab.common import keys, table
from lab.common.paths import DERIVED_TABLE, REPO, REPORTS_DIR, RUN, SALT_CONFIG_DIR, VENV_BIN, ensure
from lab.common.shell import say, step
from validation import report as suite_report

REPORT = REPORTS_DIR / "acceptance.json"
# The demo's suite run: no `-ra` line per skipped check (pyproject's addopts), the report
# groups the skips by reason.
DEMO_ARGS = ["-rN"]
# The lab's run history (figures judged for drift against it), never the operator's own.
HISTORY = RUN / "history.sqlite"


def command(report: Path = REPORT, extra: list[str] | None = None) -> list[str]:
    """The pytest command line of the acceptance suite against the lab."""
    prefix = table.load(DERIVED_TABLE)["name_prefix"]
    return [
        str(VENV_BIN / "python"), "-m", "pytest", "validation/", "-p", "no:cacheprovider",
        f"--hosts={prefix}*", f"--salt-config={SALT_CONFIG_DIR}",
        f"--ssh-config={keys.SSH_CONFIG}", f"--report-json={report}", f"--history={HISTORY}",
        f"--report-html={report.with_suffix('.html')}", *(extra or []),
    ]


def run_suite(report: Path = REPORT, extra: list[str] | None = None,
              quiet: bool = False) -> tuple[int, dict[str, Any]]:
    """Run the suite; return (pytest exit code, its JSON report or {} if none was written)."""
    ensure(report.parent)
    report.unlink(missing_ok=True)
    cmd = command(report, extra)
    with step(f"validate: {' '.join(cmd[1:4])} ... (report {report})"):
        proc = subprocess.run(cmd, cwd=REPO, capture_output=quiet, text=True, check=False)
    data = json.loads(report.read_text()) if report.exists() else {}
    return proc.returncode, data


def main(extra: list[str]) -> int:
    """`python -m lab validate [-- pytest args]`: the suite's exit code."""
    extra = [arg for arg in extra if arg != "--"]
    code, data = run_suite(REPORT, extra)
    if not data:
        say(f"validate: the suite wrote no report ({REPORT}); pytest exited {code}")
        return code or 1
    say(f"validate: {data.get('summary')} (pytest exit {code})")
    return code


def outcome() -> str:
    """The hosts x areas table of the last report and the path of its health page."""
    data = json.loads(REPORT.read_text())
    return f"{suite_report.table(data)}\nhealth page: {REPORT.with_suffix('.html')}"
