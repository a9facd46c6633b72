"""``python -m lab [vm] demo``: up, apply, validate, print the report, down."""

from __future__ import annotations

from lab.common import converge, validate
from lab.common.backend import Backend
from lab.common.shell import say


def demo(backend: Backend, count: int | None, rebuild: bool = False, cold: bool = False,
         keep: bool = False, arm64: list[str] | None = None) -> int:
    """The demo on ``backend``: its exit status (the first failing step's)."""
    status, validated = 1, False
    try:
        backend.up(count, rebuild=rebuild, cold=cold, arm64=arm64)
        status = converge.main(rollout_first=True)
        if not status:
            validated, status = True, validate.main(validate.DEMO_ARGS)
    finally:
        if keep:
            say(f"demo: --keep: the lab stays up; `{backend.command} down` takes it away")
        else:
            status = status or (1 if backend.down() else 0)
    if validated and validate.REPORT.exists():
        print(validate.outcome())  # last: the table and the page, after the lab went down
    return status
