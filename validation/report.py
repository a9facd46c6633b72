"""The end-of-run report: hosts x areas with the first failure reason, and a JSON summary.

Built from pytest's test reports (also those xdist workers send back); each check carries
``node``, ``area`` and ``check`` in its user_properties, and the values it recorded.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

AREAS = ["reach", "users", "ssh", "names", "nfs", "sudo", "swap", "gpu", "mpi", "perf"]
RANK = {"failed": 3, "passed": 2, "skipped": 1}
CELL = {"failed": "FAIL", "passed": "pass", "skipped": "skip", None: "-"}


@dataclass
class Record:
    """The outcome of one check on one node."""

    node: str
    area: str
    check: str
    outcome: str = "passed"
    reason: str = ""
    values: dict[str, Any] = field(default_factory=dict)


class Collector:
    """Folds the setup/call/teardown reports of each check into one Record."""

    def __init__(self) -> None:
        self.records: dict[str, Record] = {}

    def pytest_runtest_logreport(self, report: Any) -> None:
        """pytest hook (this object is registered as a plugin): every phase of every check."""
        self.add(report)

    def add(self, report: Any) -> None:
        props = dict(prop for prop in report.user_properties if prop[0] != "values")
        if "node" not in props:
            return
        record = self.records.setdefault(report.nodeid, Record(props["node"], props["area"], props["check"]))
        for key, value in report.user_properties:
            if key == "values":
                record.values.update(value)
        if report.failed and record.outcome != "failed":
            record.outcome, record.reason = "failed", reason_of(report)
        elif report.skipped and record.outcome == "passed":
            record.outcome, record.reason = "skipped", reason_of(report)


def reason_of(report: Any) -> str:
    """The one-line reason of a failed or skipped report."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):  # skip: (path, line, "Skipped: why")
        text = longrepr[2]
    else:
        crash = getattr(longrepr, "reprcrash", None)
        text = crash.message if crash else str(longrepr).strip().splitlines()[-1]
    first = text.strip().splitlines()[0] if text.strip() else "(no message)"
    for prefix in ("Skipped: ", "Failed: ", "AssertionError: "):
        first = first.removeprefix(prefix)
    return first


def area_outcome(records: list[Record]) -> str | None:
    """failed beats passed beats skipped; None when the area has no check."""
    if not records:
        return None
    return max((record.outcome for record in records), key=RANK.__getitem__)


def summarize(records: list[Record], nodes: list[str]) -> dict[str, Any]:
    """The JSON summary: per node its status, per area its outcome, every check with values."""
    hosts = {}
    for name in nodes:
        mine = [record for record in records if record.node == name]
        areas = {area: area_outcome([r for r in mine if r.area == area]) for area in AREAS}
        unreachable = areas["reach"] == "failed"
        status = "unreachable" if unreachable else area_outcome(mine) or "no checks"
        failed = [record for record in mine if record.outcome == "failed"]
        hosts[name] = {
            "status": status,
            "first_failure": _first(failed),
            "areas": {area: outcome for area, outcome in areas.items() if outcome},
            "checks": [{k: v for k, v in asdict(r).items() if k != "node"} for r in mine],
        }
    counts: dict[str, int] = {}
    for host in hosts.values():
        counts[host["status"]] = counts.get(host["status"], 0) + 1
    return {"hosts": hosts, "summary": counts}


def _first(failed: list[Record]) -> str:
    """The failure of the earliest area (reach, users, ...), without the leading node name."""
    if not failed:
        return ""
    record = min(failed, key=lambda r: AREAS.index(r.area) if r.area in AREAS else len(AREAS))
    return f"{record.area}: {record.check}: {record.reason.removeprefix(record.node + ': ')}"


def table(summary: dict[str, Any]) -> str:
    """Hosts x areas, with the first failure reason of each host."""
    hosts = summary["hosts"]
    name_width = max([len("host"), *map(len, hosts)])
    header = f"{'host':<{name_width}} " + " ".join(f"{a:<5}" for a in AREAS) + " first failure"
    lines = [header, "-" * len(header)]
    for name, host in hosts.items():
        cells = " ".join(f"{CELL[host['areas'].get(area)]:<5}" for area in AREAS)
        lines.append(f"{name:<{name_width}} {cells} {host['first_failure']}")
    counts = ", ".join(f"{n} {status}" for status, n in sorted(summary["summary"].items()))
    lines.append(f"{len(hosts)} hosts: {counts}")
    return "\n".join(lines)


def add_figures(summary: dict[str, Any], figures: dict[str, dict[str, float]], units: dict[str, str],
                history: dict[str, dict[str, list[float]]], verdicts: list[dict[str, Any]]) -> None:
    """Each host's ``figures``: {figure id: {value, unit, history (oldest first), verdicts}}."""
    for name, host in summary["hosts"].items():
        host["figures"] = {
            figure: {
                "value": value,
                "unit": units[figure.partition("/")[0]],
                "history": history.get(name, {}).get(figure, []),
                "verdicts": [{key: v[key] for key in ("kind", "severity", "text", "reference")}
                             for v in verdicts if v["node"] == name and v["figure"] == figure],
            }
            for figure, value in figures.get(name, {}).items()
        }


MARK = {"fail": "!", "warn": "?"}


def figures_table(summary: dict[str, Any]) -> str:
    """Hosts x figures with their values, a verdict marked ('!' fails, '?' warns); a figure's
    subject is left out of its column when each host has one such figure (its ring peer)."""
    hosts = {name: host.get("figures") or {} for name, host in summary["hosts"].items()}
    counts: dict[str, int] = {}
    for figures in hosts.values():
        for name in {figure.partition("/")[0] for figure in figures}:
            counts[name] = max(counts.get(name, 0), sum(f.partition("/")[0] == name for f in figures))
    column = {f: f.partition("/")[0] if counts[f.partition("/")[0]] == 1 else f for fs in hosts.values() for f in fs}
    columns = sorted(set(column.values()))
    if not columns:
        return ""
    rows = [["host", *columns]]
    for name, figures in hosts.items():
        cells = {column[f]: f"{d['value']:.4g}" + "".join(sorted({MARK[v["severity"]] for v in d["verdicts"]}))
                 for f, d in figures.items()}
        rows.append([name, *(cells.get(c, "-") for c in columns)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns) + 1)]
    lines = [" ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:], "! a verdict fails the node, ? a warning"])


def skip_reasons(summary: dict[str, Any]) -> str:
    """Every distinct skip reason with how many checks it skipped (no silent skips)."""
    reasons: dict[str, int] = {}
    for host in summary["hosts"].values():
        for check in host["checks"]:
            if check["outcome"] == "skipped":
                reason = _generic(check["reason"])
                reasons[reason] = reasons.get(reason, 0) + 1
    return "\n".join(f"{n:5d} x {reason}" for reason, n in sorted(reasons.items()))


def _generic(reason: str) -> str:
    """Group per-node skip reasons: the node name leads the reason (``astro7: ...``)."""
    head, sep, tail = reason.partition(": ")
    return f"<node>: {tail}" if sep and " " not in head else reason


def write_json(summary: dict[str, Any], path: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=2, sort_keys=False)
        handle.write("\n")


def records_from_summary(summary: dict[str, Any]) -> tuple[list[Record], list[str]]:
    """The records and node order of a saved JSON summary (to render it again)."""
    records = [Record(node=name, **check) for name, host in summary["hosts"].items() for check in host["checks"]]
    return records, list(summary["hosts"])


def main(argv: list[str] | None = None) -> int:
    """``python -m validation.report REPORT.json``: print the table of a saved JSON report."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("report", help="a file written by pytest validation/ --report-json")
    args = parser.parse_args(argv)
    with open(args.report, encoding="utf-8") as handle:
        records, nodes = records_from_summary(json.load(handle))
    summary = summarize(records, nodes)
    print(table(summary))
    skips = skip_reasons(summary)
    if skips:
        print("\nskipped checks, by reason:\n" + skips)
    return 1 if any(host["status"] in ("failed", "unreachable") for host in summary["hosts"].values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
