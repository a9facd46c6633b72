"""What `up` changed on the host, recorded in lab/run/state.json so `down` can undo it.

Written after every change, so a failed or interrupted `up` can still be taken down.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from lab.common.paths import STATE_FILE
from lab.common.shell import LabError, say


def load() -> dict[str, Any]:
    if STATE_FILE.exists():
        return json.loads(STATE_FILE.read_text())
    return {}


def save(state: dict[str, Any]) -> None:
    STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
    tmp = STATE_FILE.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
    tmp.replace(STATE_FILE)


def update(**changes: Any) -> dict[str, Any]:
    """Merge ``changes`` into the saved state and return it. A non-empty dict merges one
    level deep (a None value removes that entry); anything else, ``{}`` too, replaces."""
    state = load()
    for key, value in changes.items():
        if value and isinstance(value, dict) and isinstance(state.get(key), dict):
            merged = {**state[key], **value}
            state[key] = {k: v for k, v in merged.items() if v is not None}
        else:
            state[key] = value
    save(state)
    return state


def clear(*keys: str) -> None:
    """Forget ``keys`` entirely (their host objects are gone)."""
    state = load()
    for key in keys:
        state.pop(key, None)
    save(state)


# What each lab records in the state, named for messages, and the command that takes it down.
LABS = {"nodes": ("container lab", "python -m lab down"), "vms": ("VM lab", "python -m lab vm down")}


def take_over(mine: str, down: Callable[[], object]) -> None:
    """One lab at a time in a run folder: refuse while the other kind (``LABS``) is up; take a
    lab of kind ``mine`` that is up already down first."""
    state = load()
    for kind, (what, command) in LABS.items():
        if kind != mine and state.get(kind):
            raise LabError(f"the {what} is up: `{command}` first (one lab at a time)")
    if state.get(mine):
        say(f"a {LABS[mine][0]} is up already: taking it down first")
        down()
