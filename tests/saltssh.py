"""Run the tools/ scripts and salt-ssh itself from tests (test_roster.py, test_lab.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import yaml
from saltrender import REPO

SSH_DIR = REPO / "tools"
ROSTER_PY = SSH_DIR / "roster.py"
CONFIGURE_PY = SSH_DIR / "configure.py"
MESH_KEYS_PY = SSH_DIR / "mesh_keys.py"
SALT_SSH = str(Path(sys.executable).parent / "salt-ssh")


def cli(script: Path, *args: str, cwd: Path = REPO, timeout: int = 60) -> subprocess.CompletedProcess:
    """Run a tools/ script as an operator does; it imports jetson_array from this checkout (not
    from wherever the package is installed)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, str(script), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def salt_ssh(cfg: Path, *args: str, check: bool = True, targets: list[str] | None = None) -> dict:
    """Run salt-ssh from the config dir (its Saltfile) on every roster node (or ``targets``)
    and return the JSON per target; ``check=False`` for state runs, whose failures the caller
    names state by state."""
    target = ["-L", ",".join(targets)] if targets else ["*"]
    result = subprocess.run([SALT_SSH, "--out", "json", "--static", *target, *args], cwd=cfg,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0 or not check, f"salt-ssh {' '.join(args)}: {result.stdout}{result.stderr}"
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"salt-ssh {' '.join(args)} (exit {result.returncode}) gave no JSON: "
                             f"{(result.stdout + result.stderr)[-3000:]}") from None


def update_roster(cfg: Path, settings: Callable[[str], dict]) -> None:
    """Add ``settings(name)`` to each entry of the config dir's roster, keeping its order."""
    path = cfg / "roster"
    entries = yaml.safe_load(path.read_text())
    for name, entry in entries.items():
        entry.update(settings(name))
    path.write_text(yaml.safe_dump(entries, sort_keys=False))
