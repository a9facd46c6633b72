"""``python -m lab.vm``: the VM lab's commands (same shape as ``python -m lab``)."""

from __future__ import annotations

import argparse
import os

from lab import lifecycle, vm
from lab.shell import LabError, say


def _up(args: argparse.Namespace) -> int:
    vm.up(args.nodes, rebuild=args.rebuild, cold=args.cold)
    return 0


def _down(args: argparse.Namespace) -> int:
    return 1 if vm.down() else 0


def _apply(args: argparse.Namespace) -> int:
    from lab import converge

    return converge.main(rollout_first=not args.no_rollout)


def _validate(args: argparse.Namespace) -> int:
    from lab import validate

    return validate.main(args.pytest_args)


def _demo(args: argparse.Namespace) -> int:
    from lab import converge, validate

    status = 1
    try:
        vm.up(args.nodes, rebuild=args.rebuild, cold=args.cold)
        status = converge.main(rollout_first=True) or validate.main([])
    finally:
        if args.keep:
            say("demo: --keep: the VMs stay up; `python -m lab.vm down` takes them away")
        else:
            status = status or (1 if vm.down() else 0)
    return status


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m lab.vm", description=vm.__doc__)
    sub = top.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="build/reuse the VM image, start master, switch and VMs")
    demo = sub.add_parser("demo", help="up, apply, validate, down")
    for cmd in (up, demo):
        cmd.add_argument("--nodes", type=int, default=None,
                         help="how many VMs (the masters are always kept); default: masters + 1")
        cmd.add_argument("--rebuild", action="store_true", help="rebuild the VM image")
        cmd.add_argument("--cold", action="store_true",
                         help="cold boot (and save new states) instead of restoring saved ones")
    demo.add_argument("--keep", action="store_true", help="leave the VMs up afterwards")
    apply = sub.add_parser("apply", help="orchestrated rollout, then state.apply on all VMs")
    apply.add_argument("--no-rollout", action="store_true", help="only state.apply")
    validate = sub.add_parser("validate", help="run the acceptance suite against the VMs")
    validate.add_argument("pytest_args", nargs=argparse.REMAINDER,
                          help="extra pytest arguments (after --)")
    down = sub.add_parser("down", help="stop the VMs, the switch and the master")
    for cmd, func in ((up, _up), (demo, _demo), (apply, _apply), (validate, _validate),
                      (down, _down)):
        cmd.set_defaults(func=func)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if os.geteuid() != 0:
        say("the VM lab needs root (like the container lab)")
        return 2
    try:
        with lifecycle.locked():
            return args.func(args)
    except LabError as err:
        say(f"ERROR: {err}")
        return 1
    except KeyboardInterrupt:
        say("interrupted: `python -m lab.vm down` cleans up what was started")
        return 130
