"""Run the salt/ssh/ scripts and salt-ssh itself from tests (test_roster.py, test_lab.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from saltrender import REPO

SSH_DIR = REPO / "salt" / "ssh"
ROSTER_PY = SSH_DIR / "roster.py"
CONFIGURE_PY = SSH_DIR / "configure.py"
MESH_KEYS_PY = SSH_DIR / "mesh_keys.py"
SALT_SSH = str(Path(sys.executable).parent / "salt-ssh")


def cli(script: Path, *args: str, cwd: Path = REPO, timeout: int = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(script), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def salt_ssh(cfg: Path, *args: str) -> dict:
    """Run salt-ssh from the config dir (its Saltfile) and return the JSON per target."""
    result = subprocess.run([SALT_SSH, "--out", "json", "--static", "*", *args], cwd=cfg,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"salt-ssh {' '.join(args)}: {result.stdout}{result.stderr}"
    return json.loads(result.stdout)


def state_problems(results: dict, names: list[str]) -> dict[str, list[str]]:
    """Per node, the failed and the changed state ids of a salt-ssh state run."""
    problems = {}
    for name in names:
        states = results.get(name)
        if not isinstance(states, dict):
            problems[name] = [f"no state result: {states}"]
            continue
        problems[name] = [f"failed {sid}: {s.get('comment')}" for sid, s in states.items() if not s["result"]]
        problems[name] += [f"changed {sid}" for sid, s in states.items() if s["changes"]]
    return problems
