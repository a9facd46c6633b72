"""The VM lab as a lab/common/backend.py Backend."""

from __future__ import annotations

import argparse
from typing import Any

from lab.common.shell import LabError
from lab.vm import bench, lifecycle


class VMs:
    command = "python -m lab vm"
    needs = "qemu, vde switch, salt-master"
    bench_section = "vm-lab"

    def up(self, count: int | None = None, rebuild: bool = False, cold: bool = False,
           arm64: list[str] | None = None) -> dict[str, Any]:
        if arm64:
            raise LabError("the VM lab has no arm64 nodes (the container lab has: python -m lab up --arm64)")
        return lifecycle.up(count, rebuild=rebuild, cold=cold)

    def down(self) -> list[str]:
        return lifecycle.down()

    def bench(self, args: argparse.Namespace) -> str:
        return bench.section()
