"""The linters are part of the test command: ruff (Python), yamllint (YAML), salt-lint (SLS)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from saltrender import REPO

BIN = Path(sys.executable).parent


def tracked(*patterns: str) -> list[str]:
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard",
                          *patterns], cwd=REPO, capture_output=True, text=True, check=True)
    return [p for p in out.stdout.split() if (REPO / p).exists()]


@pytest.mark.parametrize(
    ("tool", "args", "patterns"),
    [
        ("ruff", ["check", "--no-cache"], ["*.py"]),
        ("yamllint", ["-s"], ["*.yaml", "*.yml", "*/pillar.example", ".yamllint"]),
        ("salt-lint", [], ["*.sls"]),
    ],
    ids=["ruff", "yamllint", "salt-lint"],
)
def test_linter_passes(tool, args, patterns):
    files = tracked(*patterns)
    assert files, f"{tool}: no files matched {patterns}"
    out = subprocess.run([str(BIN / tool), *args, *files], cwd=REPO, capture_output=True,
                         text=True)
    assert out.returncode == 0, f"{tool} failed:\n{out.stdout}\n{out.stderr}"
