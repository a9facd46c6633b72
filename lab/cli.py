"""``python -m lab``: bring the container lab up, converge it, validate it, take it down."""

from __future__ import annotations

import argparse
import os
import sys

from lab import lifecycle
from lab.shell import LabError, say


def _up(args: argparse.Namespace) -> int:
    lifecycle.up(args.nodes, rebuild=args.rebuild)
    return 0


def _down(args: argparse.Namespace) -> int:
    return 1 if lifecycle.down() else 0


def _apply(args: argparse.Namespace) -> int:
    from lab import converge

    return converge.main(rollout_first=not args.no_rollout)


def _validate(args: argparse.Namespace) -> int:
    from lab import validate

    return validate.main(args.pytest_args)


def _demo(args: argparse.Namespace) -> int:
    from lab import converge, validate

    status, validated = 1, False
    try:
        lifecycle.up(args.nodes, rebuild=args.rebuild)
        status = converge.main(rollout_first=True)
        if not status:
            validated, status = True, validate.main(validate.DEMO_ARGS)
    finally:
        if args.keep:
            say("demo: --keep: the lab stays up; `python -m lab down` takes it away")
        else:
            status = status or (1 if lifecycle.down() else 0)
    if validated and validate.REPORT.exists():
        print(validate.outcome())  # last: the table and the page, after the lab went down
    return status


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m lab", description=__doc__,
                                  epilog="python -m lab vm COMMAND ...: the same commands on the "
                                         "qemu VM lab (kernel NFS; docs/vm-lab.md)")
    sub = top.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="build/reuse the image, start master and nodes")
    demo = sub.add_parser("demo", help="up, apply, validate, print the report, down")
    for cmd in (up, demo):
        cmd.add_argument("--nodes", type=int, default=None,
                         help="how many nodes (the masters are always kept); default: all")
        cmd.add_argument("--rebuild", action="store_true", help="rebuild the image")
    demo.add_argument("--keep", action="store_true", help="leave the lab up afterwards")
    apply = sub.add_parser("apply", help="orchestrated rollout, then state.apply on all nodes")
    apply.add_argument("--no-rollout", action="store_true", help="only state.apply")
    validate = sub.add_parser("validate", help="run the acceptance suite against the lab")
    validate.add_argument("pytest_args", nargs=argparse.REMAINDER,
                          help="extra pytest arguments (after --)")
    sub.add_parser("down", help="stop everything and undo every host change")
    up.set_defaults(func=_up)
    demo.set_defaults(func=_demo)
    apply.set_defaults(func=_apply)
    validate.set_defaults(func=_validate)
    sub.choices["down"].set_defaults(func=_down)
    return top


def run(args: argparse.Namespace, needs: str, cleanup: str) -> int:
    """Run a parsed lab command as root under the lab lock; LabError -> 1, Ctrl-C -> 130."""
    if os.geteuid() != 0:
        say(f"the lab needs root ({needs})")
        return 2
    try:
        with lifecycle.locked():
            return args.func(args)
    except LabError as err:
        say(f"ERROR: {err}")
        return 1
    except KeyboardInterrupt:
        say(f"interrupted: `{cleanup}` cleans up what was started")
        return 130


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["vm"]:  # `python -m lab vm up ...` is `python -m lab.vm up ...`
        from lab import vm_cli

        return vm_cli.main(argv[1:])
    return run(parser().parse_args(argv), "systemd-nspawn, bridge, cgroups, loop devices",
               "python -m lab down")

if __name__ == "__main__":
    sys.exit(main())
