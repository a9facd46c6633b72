"""Verdicts on the figures of one run: bounds, drift against a node's own past, outliers in the run.

References (pillar acceptance:references, ReFrame-style): per figure name a ``floor`` or
``ceiling`` (a fixed bound) and relative tolerances ``drift`` and ``outlier`` whose sign is the
direction: -0.15 flags a value more than 15% below the median, 0.50 one more than 50% above.
- floor / ceiling: value < floor, value > ceiling;
- drift: against the median of the node's own earlier values of the figure (up to K runs,
  pillar acceptance:history_runs; none when the node has no earlier value);
- outlier: against the median of this run's nodes of the same machine type (``uname -m``:
  an emulated arm64 node is not compared with x86_64 ones) for the figure (only with >= 3 such
  nodes); nodes whose machine type is unknown are compared with each other.
A verdict fails the check when its kind is in pillar acceptance:failures, else it warns.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, fields
from typing import Any

# Figure name -> unit (figure ids are ``<name>`` or ``<name>/<subject>``).
UNITS = {
    "gpu_gflops": "GFLOP/s",
    "cpu_mops": "Mop/s",
    "nfs_write_mbs": "MB/s",
    "nfs_read_mbs": "MB/s",
    "mpi_latency_us": "us",
    "mpi_bw_mbs": "MB/s",
    "gpu_gflops_per_w": "GFLOP/s/W",
    "gpu_freq_mhz": "MHz",
    "temp_max_c": "C",
}
PILLAR_KEY = "acceptance:references"


@dataclass(frozen=True)
class Reference:
    """One figure's bounds and relative tolerances (None: not checked)."""

    floor: float | None = None
    ceiling: float | None = None
    drift: float | None = None
    outlier: float | None = None

    @classmethod
    def from_pillar(cls, data: Mapping[str, Any], name: str = "<figure>") -> Reference:
        """The reference of figure ``name`` from its pillar mapping; refuses unknown keys and
        values that are not numbers, naming the pillar field."""
        where = f"{PILLAR_KEY}:{name}"
        if not isinstance(data, Mapping):
            raise ValueError(f"{where}: {data!r} is not a mapping of {', '.join(_FIELDS)}")
        unknown = sorted(str(key) for key in data if key not in _FIELDS)
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(_FIELDS)})")
        for key, value in data.items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                      or not math.isfinite(value)):
                raise ValueError(f"{where}:{key}: {value!r} is not a number")
        return cls(**{key: None if value is None else float(value) for key, value in data.items()})


_FIELDS = tuple(f.name for f in fields(Reference))


def references(block: Mapping[str, Any]) -> dict[str, Reference]:
    """Every figure's reference from pillar acceptance:references ({name: {floor: .., ...}})."""
    if not isinstance(block, Mapping):
        raise ValueError(f"{PILLAR_KEY}: {block!r} is not a mapping of figure names")
    return {str(name): Reference.from_pillar(data, str(name)) for name, data in block.items()}


@dataclass(frozen=True)
class Verdict:
    """A figure of a node that breaks its reference; ``reference`` is the bound or the median."""

    node: str
    figure: str
    kind: str  # 'floor' | 'ceiling' | 'drift' | 'outlier'
    value: float
    reference: float
    severity: str  # 'fail' | 'warn'
    text: str


def judge(figures: Mapping[str, Mapping[str, float]], references: Mapping[str, Reference],
          history: Callable[[str, str], list[float]], failures: Collection[str],
          machines: Mapping[str, str] | None = None) -> list[Verdict]:
    """Verdicts of one run: ``figures`` {node: {figure id: value}}, ``references`` by figure
    name, ``history(node, figure id)`` the node's earlier values (oldest first, up to K),
    ``failures`` the kinds that fail, ``machines`` {node: machine type}: outliers are judged
    among the nodes of one type (a node missing there: among the others missing). Figures
    without a reference get no verdict."""
    machines = machines or {}
    found = []
    for node in sorted(figures):
        machine = machines.get(node, "")
        alike = [values for other, values in figures.items() if machines.get(other, "") == machine]
        for figure, value in sorted(figures[node].items()):
            ref = references.get(figure.split("/", 1)[0])
            if ref is None:
                continue
            peers = [value for values in alike for other, value in values.items()
                     if _kin(other, figures) == _kin(figure, figures)]
            for kind, reference, text in _breaches(node, figure, value, ref, history(node, figure), peers, machine):
                severity = "fail" if kind in failures else "warn"
                found.append(Verdict(node, figure, kind, value, reference, severity, text))
    return found


def _kin(figure: str, figures: Mapping[str, Any]) -> str:
    """What a figure is compared with across nodes: the same id (``nfs_read_mbs/cloud/0``), or
    the same name when its subject is a node (the ring peer of ``mpi_bw_mbs/astro8``)."""
    name, _, subject = figure.partition("/")
    return name if subject in figures else figure


def _breaches(node: str, figure: str, value: float, ref: Reference, past: list[float],
              peers: list[float], machine: str) -> list[tuple[str, float, str]]:
    unit = UNITS.get(figure.split("/", 1)[0], "")
    said = f"{node}: {figure} {_num(value)} {unit}".rstrip()
    out = []
    if ref.floor is not None and value < ref.floor:
        out.append(("floor", ref.floor, f"{said} is below the floor {_num(ref.floor)} {unit}".rstrip()))
    if ref.ceiling is not None and value > ref.ceiling:
        out.append(("ceiling", ref.ceiling, f"{said} is above the ceiling {_num(ref.ceiling)} {unit}".rstrip()))
    if ref.drift is not None and past:
        median = statistics.median(past)
        if _beyond(value, median, ref.drift):
            where = f"its median {_num(median)} {unit} of the last {len(past)} run(s)"
            out.append(("drift", median, _relative(said, value, median, where, "drift", ref.drift)))
    if ref.outlier is not None and len(peers) >= 3:
        median = statistics.median(peers)
        if _beyond(value, median, ref.outlier):
            nodes = f"{machine} nodes" if machine else "nodes"
            where = f"this run's median {_num(median)} {unit} over {len(peers)} {nodes}"
            out.append(("outlier", median, _relative(said, value, median, where, "outlier", ref.outlier)))
    return out


def _beyond(value: float, median: float, tolerance: float) -> bool:
    """A drop larger than |t| (t < 0) or a rise larger than t (t > 0) relative to the median."""
    if median == 0:
        return False
    change = (value - median) / abs(median)
    return change < tolerance if tolerance < 0 else change > tolerance


def _relative(said: str, value: float, median: float, where: str, kind: str, tolerance: float) -> str:
    change = (value - median) / abs(median)
    direction = "below" if change < 0 else "above"
    return f"{said} is {abs(change):.0%} {direction} {where} ({kind} tolerance {tolerance:+.0%})"


def _num(value: float) -> str:
    return f"{round(value, 2):g}"
