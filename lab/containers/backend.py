"""The container lab as a lab/common/backend.py Backend."""

from __future__ import annotations

import argparse
from typing import Any

from lab.containers import bench, lifecycle


class Containers:
    command = "python -m lab"
    needs = "systemd-nspawn, bridge, cgroups, loop devices"
    bench_section = "lab"

    def up(self, count: int | None = None, rebuild: bool = False, cold: bool = False,
           arm64: list[str] | None = None) -> dict[str, Any]:
        """``cold`` changes nothing: containers boot from the image every time."""
        return lifecycle.up(count, rebuild=rebuild, arm64=arm64)

    def down(self) -> list[str]:
        return lifecycle.down()

    def bench(self, args: argparse.Namespace) -> str:
        return bench.section(args.nodes, args.cold, args.arm64)
