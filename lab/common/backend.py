"""What the shared commands (demo, bench; apply and validate need nothing of it) ask of a lab
backend: lab/containers/backend.py (systemd-nspawn) and lab/vm/backend.py (qemu)."""

from __future__ import annotations

import argparse
from typing import Any, Protocol


class Backend(Protocol):
    command: str  # its command line, as messages cite it: "python -m lab" or "python -m lab vm"
    needs: str  # what it needs root for
    bench_section: str  # its section of docs/benchmarks.md: <!-- {bench_section}:begin -->

    def up(self, count: int | None = None, rebuild: bool = False, cold: bool = False,
           arm64: list[str] | None = None) -> dict[str, Any]:
        """Bring up ``count`` nodes (default: the backend's own); return the derived cluster.
        ``cold``: boot cold instead of restoring saved states (where the backend saves any);
        ``arm64``: these nodes TX2-like, an arm64 userland (where the backend has it)."""
        ...

    def down(self) -> list[str]:
        """Stop everything ``up`` started, undo its host changes; return what is left (empty)."""
        ...

    def bench(self, args: argparse.Namespace) -> str:
        """Measure (leaving the lab down) and return the body of the benchmark section."""
        ...
