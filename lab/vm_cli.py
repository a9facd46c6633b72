"""``python -m lab.vm``: the container lab's commands (lab/cli.py), run on the VM lab.

``apply`` and ``validate`` are the lab's own (rollout + state.apply, the acceptance suite);
``up``, ``down`` and ``demo`` bring VMs instead of containers; ``up`` and ``demo`` take
``--cold`` (boot cold and save new states instead of restoring saved ones).
"""

from __future__ import annotations

import argparse
from typing import Any

from lab import cli, vm


def _up(args: argparse.Namespace) -> int:
    vm.up(args.nodes, rebuild=args.rebuild, cold=args.cold)
    return 0


def _down(args: argparse.Namespace) -> int:
    return 1 if vm.down() else 0


def _demo(args: argparse.Namespace) -> int:
    from lab import converge, validate

    status = 1
    try:
        vm.up(args.nodes, rebuild=args.rebuild, cold=args.cold)
        status = converge.main(rollout_first=True) or validate.main([])
    finally:
        if not args.keep:
            status = status or _down(args)
    return status


def _subcommands(top: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action: Any = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


def parser() -> argparse.ArgumentParser:
    """lab/cli.py's parser with the VM versions of up, down and demo."""
    top = cli.parser()
    top.prog, top.description = "python -m lab.vm", __doc__
    commands = _subcommands(top)
    for name, func in (("up", _up), ("demo", _demo), ("down", _down)):
        commands[name].set_defaults(func=func)
    for name in ("up", "demo"):
        commands[name].add_argument(
            "--cold", action="store_true",
            help="boot cold (and save new states) instead of restoring the saved ones")
    return top


def main(argv: list[str] | None = None) -> int:
    return cli.run(parser().parse_args(argv), "qemu, vde switch, salt-master", "python -m lab.vm down")
