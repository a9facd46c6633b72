"""``python -m lab``: bring the container lab up, converge it, validate it, take it down."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from lab.common import bench, converge, demo, validate
from lab.common.backend import Backend
from lab.common.shell import LabError, say
from lab.containers import lifecycle
from lab.containers.backend import Containers
from lab.vm.backend import VMs

VM_DESCRIPTION = """The container lab's commands, run on the qemu VM lab (kernel NFS; docs/vm-lab.md).

``apply`` and ``validate`` are the lab's own (rollout + state.apply, the acceptance suite);
``up``, ``down``, ``demo`` and ``bench`` bring VMs instead of containers; ``up`` and ``demo``
take ``--cold`` (boot cold and save new states instead of restoring saved ones).
"""


def _up(args: argparse.Namespace) -> int:
    args.backend.up(args.nodes, rebuild=args.rebuild, cold=args.cold, arm64=args.arm64)
    return 0


def _down(args: argparse.Namespace) -> int:
    return 1 if args.backend.down() else 0


def _apply(args: argparse.Namespace) -> int:
    return converge.main(rollout_first=not args.no_rollout)


def _validate(args: argparse.Namespace) -> int:
    return validate.main(args.pytest_args)


def _demo(args: argparse.Namespace) -> int:
    return demo.demo(args.backend, args.nodes, rebuild=args.rebuild, cold=args.cold, keep=args.keep,
                     arm64=args.arm64)


def _bench(args: argparse.Namespace) -> int:
    return bench.main(args.backend, args)


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _commands(add: Callable[..., argparse.ArgumentParser], backend: Backend,
              cold: bool) -> dict[str, argparse.ArgumentParser]:
    """The lab commands on ``backend``, each made by ``add`` (a subparsers' add_parser);
    ``cold``: its up and demo take --cold."""
    up = add("up", help="build/reuse the image, start master and nodes")
    demo = add("demo", help="up, apply, validate, print the report, down")
    for cmd in (up, demo):
        cmd.add_argument("--nodes", type=int, default=None,
                         help="how many nodes (the masters are always kept); default: all")
        cmd.add_argument("--rebuild", action="store_true", help="rebuild the image")
        if cold:
            cmd.add_argument("--cold", action="store_true",
                             help="boot cold (and save new states) instead of restoring the saved ones")
            cmd.set_defaults(arm64=None)
        else:
            cmd.set_defaults(cold=False)
            cmd.add_argument("--arm64", type=_names, default=None, metavar="NODES",
                             help="these nodes (astro0,astro1) TX2-like: an arm64 userland under "
                                  "qemu-user, gpu: true, the L4T R28.1 stand-ins (docs/lab.md)")
    demo.add_argument("--keep", action="store_true", help="leave the lab up afterwards")
    apply = add("apply", help="orchestrated rollout, then state.apply on all nodes")
    apply.add_argument("--no-rollout", action="store_true", help="only state.apply")
    validate = add("validate", help="run the acceptance suite against the lab")
    validate.add_argument("pytest_args", nargs=argparse.REMAINDER,
                          help="extra pytest arguments (after --)")
    down = add("down", help="stop everything and undo every host change")
    bench = add("bench", help="measure the lab, write its figures into docs/benchmarks.md")
    for cmd, func in ((up, _up), (demo, _demo), (apply, _apply), (validate, _validate),
                      (down, _down), (bench, _bench)):
        cmd.set_defaults(func=func, backend=backend)
    return {"up": up, "demo": demo, "bench": bench}


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m lab", description=__doc__)
    add = top.add_subparsers(dest="command", required=True).add_parser
    containers = _commands(add, Containers(), cold=False)
    containers["bench"].add_argument("--nodes", type=int, nargs="+", default=[4, 24],
                                     help="the lab sizes to measure")
    containers["bench"].add_argument("--cold", action="store_true",
                                     help="also time a from-scratch image")
    containers["bench"].add_argument("--arm64", type=_names, default=None, metavar="NODES",
                                     help="measure one lab of --nodes nodes with these arm64 nodes "
                                          "against its x86 nodes (section lab-arm64)")
    vm = add("vm", help="the same commands on the qemu VM lab (kernel NFS; docs/vm-lab.md)",
                        description=VM_DESCRIPTION)
    _commands(vm.add_subparsers(dest="vm_command", required=True).add_parser, VMs(), cold=True)
    return top


def run(args: argparse.Namespace) -> int:
    """Run a parsed lab command as root under the lab lock; LabError -> 1, Ctrl-C -> 130."""
    backend: Backend = args.backend
    if os.geteuid() != 0:
        say(f"the lab needs root ({backend.needs})")
        return 2
    try:
        with lifecycle.locked():
            return args.func(args)
    except LabError as err:
        say(f"ERROR: {err}")
        return 1
    except KeyboardInterrupt:
        say(f"interrupted: `{backend.command} down` cleans up what was started")
        return 130


def main(argv: list[str] | None = None) -> int:
    return run(parser().parse_args(sys.argv[1:] if argv is None else argv))

