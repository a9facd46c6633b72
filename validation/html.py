"""The cluster health page: one self-contained HTML file from the JSON summary of a run.

Nodes x areas coloured by outcome (each failure's text in its cell's title and under its row), the
NFS matrix and the ssh/MPI ring derived from the check records (validation/test_nfs.py,
test_ssh.py, test_mpi.py), per node its fingerprint figures with an inline SVG history, and
the run's record. No network asset and no script (the admin machine is offline; a Content
Security Policy forbids both); every text from the report is escaped, since node names and
failure texts come from the nodes.

``python -m validation.html REPORT.json OUT.html`` renders a saved JSON report.
"""

from __future__ import annotations

import json
import re
from html import escape
from typing import Any

from validation.report import AREAS

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1em;color:#1b1b1b;background:#fff;max-width:100%}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}
.passed,.ok{background:#cdeccd}.failed,.unreachable,.bad{background:#f6b8b8}
.skipped,.skip{background:#e8e8e8;color:#555}.none{background:#fff;color:#999}
.warn{background:#fbe6a6}.why{font-size:.9em;max-width:60em;overflow-wrap:anywhere}
td.cell{min-width:3em}.why ul{margin:0;padding-left:1.2em}
.now{white-space:nowrap}.mark{font-weight:bold;padding:0 3px;border-radius:3px}.note{color:#555}
svg.spark{vertical-align:middle}
#record{display:flex;flex-wrap:wrap;gap:.2em 1.5em;margin:0}#record div{display:flex;gap:.4em}
dt{color:#555}dd{margin:0;overflow-wrap:anywhere}
summary{cursor:pointer;font-weight:bold;margin:.4em 0}.fingerprint td:last-child{min-width:24em}
"""
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
LABEL = {"failed": "FAIL", "passed": "pass", "skipped": "skip", None: "-"}
CLOUD = re.compile(r"\[(cloud/\d+)\]$")
COHERENCE = "test_nfs_write_is_read_on_next_node_and_master"


def text(value: Any) -> str:
    """``value`` as HTML text (quotes too: the same text goes into attributes)."""
    return escape(str(value), quote=True)


def render(summary: dict[str, Any]) -> str:
    """The whole page of ``summary`` (report.summarize output, with ``record`` and per-host
    ``figures`` when the run had them)."""
    hosts = summary.get("hosts", {})
    counts = ", ".join(f"{n} {status}" for status, n in sorted(summary.get("summary", {}).items()))
    body = [
        f"<h1>jetson-array health: {len(hosts)} nodes</h1>",
        f'<p id="counts">{text(counts or "no hosts")}</p>',
        run_record(summary),
        grid(hosts),
        nfs_matrix(hosts),
        ring(hosts),
        fingerprints(hosts),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>jetson-array health</title><style>{CSS}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def areas_of(hosts: dict[str, Any]) -> list[str]:
    """report.AREAS, then any other area the hosts have (``perf``), in first-seen order."""
    extra = [area for host in hosts.values() for area in host.get("areas", {}) if area not in AREAS]
    return AREAS + list(dict.fromkeys(extra))


def first_failures(host: dict[str, Any]) -> dict[str, str]:
    """Per area, the first failed check's ``check: reason``."""
    found: dict[str, str] = {}
    for check in host.get("checks", []):
        if check["outcome"] == "failed" and check["area"] not in found:
            found[check["area"]] = f"{check['check']}: {check['reason']}"
    return found


def grid(hosts: dict[str, Any]) -> str:
    """Nodes x areas; under a failing node's row, the first failure of each failing area."""
    areas = areas_of(hosts)
    head = "".join(f"<th>{text(area)}</th>" for area in areas)
    rows = []
    for name, host in hosts.items():
        failures = first_failures(host)
        cells = "".join(_cell(host.get("areas", {}).get(area), failures.get(area), area) for area in areas)
        status = host.get("status", "")
        rows.append(
            f'<tr class="node" data-node="{text(name)}" data-status="{text(status)}"><th>{text(name)}</th>'
            f'<td class="status {text(status)}">{text(status)}</td>{cells}</tr>'
        )
        if failures:
            why = "".join(f'<li data-area="{text(a)}">{text(a)}: {text(f)}</li>' for a, f in failures.items())
            rows.append(
                f'<tr class="failure" data-node="{text(name)}"><td></td>'
                f'<td colspan="{len(areas) + 1}" class="why"><ul>{why}</ul></td></tr>'
            )
    return (
        '<h2>Nodes &times; areas</h2><div class="scroll" id="grid"><table>'
        f"<tr><th>node</th><th>status</th>{head}</tr>{''.join(rows)}</table></div>"
    )


def _cell(outcome: str | None, failure: str | None, area: str) -> str:
    title = f' title="{text(failure)}"' if failure else ""
    label = LABEL.get(outcome, text(outcome))
    return f'<td class="cell {text(outcome or "none")}" data-area="{text(area)}"{title}>{label}</td>'


def nfs_cells(host: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per export ``cloud/<i>`` of a node: mounted, NFS version, write->read outcome (from the
    check records of validation/test_nfs.py), MB/s (from its figures)."""
    cells: dict[str, dict[str, Any]] = {}
    coherence = None
    for check in host.get("checks", []):
        if check["check"] == COHERENCE:
            coherence = check
        match = CLOUD.search(check["check"])
        if not match:
            continue
        cell = cells.setdefault(match.group(1), {"mounted": None, "version": "", "rw": None, "why": []})
        _fold_mount_check(cell, check)
    for mount, cell in cells.items():
        _fold_coherence(cell, mount, coherence)
        figures = host.get("figures") or {}
        speeds = [(kind, figures.get(f"nfs_{kind}_mbs/{mount}")) for kind in ("write", "read")]
        cell["mbs"] = " ".join(f"{kind[0]} {fig['value']:.1f}" for kind, fig in speeds if fig)
    return cells


def _fold_mount_check(cell: dict[str, Any], check: dict[str, Any]) -> None:
    name, outcome, values = check["check"], check["outcome"], check.get("values", {})
    if outcome == "failed":
        cell["why"].append(f"{name}: {check['reason']}")
    if name.startswith("test_cloud_mount_comes_from_its_master"):
        cell["mounted"] = outcome
        options = (values.get("mount") or {}).get("options", [])
        live = [o.partition("=")[2] for o in options if o.startswith("vers=")]
        if live:
            cell["version"] = f"NFS {live[0]}"
    elif name.startswith("test_cloud_mount_has_its_fstab_entry") and not cell["version"]:
        expected = values.get("expected") or {}
        wanted = [o.partition("=")[2] for o in expected.get("options", []) if o.startswith("nfsvers=")]
        local = expected.get("fstype") == "none"
        cell["version"] = "local bind" if local else f"NFS {wanted[0]} (fstab)" if wanted else ""
    elif name.startswith("test_cloud_mount_is_writable_by_user"):
        cell["rw"] = outcome


def _fold_coherence(cell: dict[str, Any], mount: str, check: dict[str, Any] | None) -> None:
    """The ring write->read check, with the export's own write check: this export fails when
    either fails for it, or when the ring check failed without naming any export."""
    if check is None or cell["rw"] == "failed":
        return
    if check["outcome"] != "failed":
        cell["rw"] = check["outcome"]
        return
    values = check.get("values", {})
    mine = [where for where, seen in values.get("seen", {}).items()
            if where.endswith(f" {mount}") and seen != values.get("nonce")]
    mine += [part for part in check["reason"].split("; ") if re.search(rf"{re.escape(mount)}\b", part)]
    cell["rw"] = "failed" if mine or not re.search(r"cloud/\d+\b", check["reason"]) else "passed"
    if cell["rw"] == "failed":
        cell["why"].append(f"{COHERENCE}: {check['reason']}")


def nfs_matrix(hosts: dict[str, Any]) -> str:
    per_node = {name: nfs_cells(host) for name, host in hosts.items()}
    mounts = sorted({m for cells in per_node.values() for m in cells}, key=lambda m: int(m.split("/")[1]))
    if not mounts:
        return '<h2>NFS</h2><p class="note" id="nfs">no NFS checks in this run</p>'
    head = "".join(f"<th>{text(m)}</th>" for m in mounts)
    rows = [
        f'<tr data-node="{text(name)}"><th>{text(name)}</th>'
        + "".join(_nfs_cell(cells.get(m), m) for m in mounts)
        + "</tr>"
        for name, cells in per_node.items()
    ]
    return (
        "<h2>NFS: each node &times; each export</h2>"
        '<p class="note">mounted, NFS version (live; from the fstab entry when not mounted), '
        "write&rarr;read by the next node, MB/s (w/r) when the run measured them</p>"
        f'<div class="scroll" id="nfs"><table><tr><th>node</th>{head}</tr>{"".join(rows)}</table></div>'
    )


def _nfs_cell(cell: dict[str, Any] | None, mount: str) -> str:
    if cell is None:
        return f'<td class="none" data-mount="{text(mount)}">-</td>'
    outcomes = [cell["mounted"], cell["rw"]]
    css = "failed" if "failed" in outcomes or cell["why"] else "passed" if "passed" in outcomes else "skipped"
    parts = [
        f'<span data-what="mounted">mount {LABEL.get(cell["mounted"])}</span>',
        f'<span data-what="version">{text(cell["version"])}</span>' if cell["version"] else "",
        f'<span data-what="rw">w&rarr;r {LABEL.get(cell["rw"])}</span>',
        f'<span data-what="mbs">{text(cell["mbs"])} MB/s</span>' if cell.get("mbs") else "",
    ]
    why = "; ".join(cell["why"])
    title = f' title="{text(why)}"' if why else ""
    return f'<td class="{css}" data-mount="{text(mount)}"{title}>' + "<br>".join(p for p in parts if p) + "</td>"


SSH_RING = "test_user_reaches_peers_with_strict_host_keys"
MPI_RUN = "test_mpirun_starts_one_rank_per_node"


def _check(host: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((check for check in host.get("checks", []) if check["check"] == name), None)


def ssh_hops(name: str, host: dict[str, Any], names: list[str]) -> list[tuple[str, str, str]]:
    """(peer, outcome, why) of each ssh hop of ``name`` to a node of the run: the answers the
    ssh check recorded, and the peers its failure names."""
    check = _check(host, SSH_RING)
    if check is None:
        return []
    if check["outcome"] == "skipped":
        return [("", "skipped", check["reason"])]
    answers = check.get("values", {}).get("answers", {})
    hops = {peer: ("passed" if answer == peer else "failed", f"answered {answer!r}")
            for peer, answer in answers.items() if peer in names}
    detail = check["reason"].removeprefix(f"{name}: ").partition(": ")[2]
    for part in detail.split("; ") if check["outcome"] == "failed" else []:
        peer, _, why = part.partition(": ")
        if peer in names:
            hops[peer] = ("failed", why)
    if check["outcome"] == "failed" and not any(outcome == "failed" for outcome, _ in hops.values()):
        hops[""] = ("failed", check["reason"])
    return [(peer, outcome, why) for peer, (outcome, why) in hops.items()]


def mpi_ranks(hosts: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Per node its rank in the cluster-wide mpirun check: (outcome, why)."""
    check = next((c for host in hosts.values() if (c := _check(host, MPI_RUN))), None)
    if check is None:
        return {}
    if check["outcome"] == "skipped":
        return {name: ("skipped", check["reason"]) for name in hosts}
    values = check.get("values", {})
    broken = values.get("broken", {})
    ranks = {name: ("skipped", "no MPI on this node") for name in values.get("skipped", [])}
    for name in values.get("ranks", []):
        answered = name in values.get("reported", [])
        ranks[name] = ("passed", "rank answered") if answered else ("failed", broken.get(name, check["reason"]))
    return ranks


def ring(hosts: dict[str, Any]) -> str:
    names, ranks = list(hosts), mpi_ranks(hosts)
    rows = []
    for name, host in hosts.items():
        figures = host.get("figures") or {}
        rank = ranks.get(name, (None, ""))
        for peer, outcome, why in ssh_hops(name, host, names) or [("", None, "")]:
            latency, bandwidth = (figures.get(f"{fig}/{peer}") for fig in ("mpi_latency_us", "mpi_bw_mbs"))
            rows.append(
                f'<tr data-node="{text(name)}" data-peer="{text(peer)}"><th>{text(name)}</th>'
                f"<td>&rarr; {text(peer or '-')}</td>"
                f'<td class="{outcome or "none"} ssh" title="{text(why)}">{LABEL.get(outcome, "-")}</td>'
                f'<td class="{rank[0] or "none"} mpi" title="{text(rank[1])}">{LABEL.get(rank[0], "-")}</td>'
                f"<td>{_value(latency)}</td><td>{_value(bandwidth)}</td></tr>"
            )
    return (
        "<h2>The ssh/MPI ring</h2>"
        '<p class="note">each node&rsquo;s ssh hop to its peer as the cluster user (strict host keys), '
        "its rank in the cluster-wide mpirun, the MPI ping-pong to the peer when measured</p>"
        '<div class="scroll" id="ring"><table><tr><th>node</th><th>peer</th><th>ssh</th><th>mpi rank</th>'
        f'<th>latency</th><th>bandwidth</th></tr>{"".join(rows)}</table></div>'
    )


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _value(figure: dict[str, Any] | None) -> str:
    """A figure's value and unit ('-': not measured)."""
    if not figure:
        return "-"
    value = figure.get("value")
    shown = f"{value:.4g}" if _number(value) else text(value)
    return f"{shown} {text(figure.get('unit', ''))}"


def spark(history: list[float], value: float, width: int = 120, height: int = 28) -> str:
    """An inline SVG polyline of ``history`` then ``value`` (the current value: a dot)."""
    points = [float(v) for v in [*history, value]]
    low, high = min(points), max(points)
    span = (high - low) or 1.0
    step = width / max(len(points) - 1, 1)
    xy = [(round(i * step, 1), round(height - 3 - (v - low) / span * (height - 6), 1)) for i, v in enumerate(points)]
    if high == low:
        xy = [(x, height / 2) for x, _ in xy]
    line = " ".join(f"{x},{y}" for x, y in xy)
    x, y = xy[-1]
    label = text(f"history {', '.join(f'{v:.4g}' for v in history) or 'none'}; now {value:.4g}")
    return (
        f'<svg class="spark" width="{width + 6}" height="{height}" viewBox="-3 0 {width + 6} {height}" '
        f'role="img" aria-label="{label}"><title>{label}</title>'
        f'<polyline points="{line}" fill="none" stroke="#3465a4" stroke-width="1.5"/>'
        f'<circle cx="{x}" cy="{y}" r="3" fill="#204a87"/></svg>'
    )


def _spark(figure: dict[str, Any]) -> str:
    history = [value for value in figure.get("history") or [] if _number(value)]
    return spark(history, figure["value"]) if _number(figure.get("value")) else ""


def _marks(verdicts: list[dict[str, Any]]) -> str:
    """Each drift/outlier/floor/ceiling verdict: a coloured mark (fail: red, warn: amber) and its text."""
    marks = []
    for verdict in verdicts:
        css = "bad" if verdict.get("severity") == "fail" else "warn"
        kind, why = text(verdict.get("kind", "")), text(verdict.get("text", ""))
        mark = f'<span class="mark {css}" data-kind="{kind}" title="{why}">{kind}</span>'
        marks.append(f'{mark} <span class="why">{why}</span>')
    return "<br>".join(marks)


def fingerprints(hosts: dict[str, Any]) -> str:
    measured = {name: host["figures"] for name, host in hosts.items() if host.get("figures")}
    if not measured:
        return '<h2>Fingerprints</h2><p class="note" id="fingerprints">no fingerprint in this run</p>'
    sections = []
    for name, figures in measured.items():
        rows = "".join(
            f'<tr data-figure="{text(fid)}"><td>{text(fid)}</td><td class="now">{_value(fig)}</td>'
            f"<td>{_spark(fig)}</td><td>{_marks(fig.get('verdicts') or [])}</td></tr>"
            for fid, fig in figures.items()
        )
        verdicts = [v.get("severity") for fig in figures.values() for v in fig.get("verdicts") or []]
        counts = [(css, verdicts.count(severity), severity) for css, severity in (("bad", "fail"), ("warn", "warn"))]
        marks = " ".join(f'<span class="mark {css}">{n} {severity}</span>' for css, n, severity in counts if n)
        sections.append(
            f'<details class="fingerprint" data-node="{text(name)}"{" open" if verdicts else ""}>'
            f"<summary>{text(name)}: {len(figures)} figures {marks}</summary>"
            '<div class="scroll"><table><tr><th>figure</th><th>now</th><th>history &rarr; now</th>'
            f"<th>verdicts</th></tr>{rows}</table></div></details>"
        )
    return '<h2>Fingerprints</h2><div id="fingerprints">' + "".join(sections) + "</div>"


def run_record(summary: dict[str, Any]) -> str:
    record = summary.get("record")
    timings = summary.get("timings") or {}
    if not record:
        items = [("record", "none in this report")]
    else:
        items = [(key, record[key]) for key in ("time", "revision", "pillar_hash", "tier", "run_id", "history")
                 if record.get(key) not in (None, "")]
        items += [(f"version {k}", v) for k, v in sorted((record.get("versions") or {}).items())]
        modes = record.get("power_modes") or {}
        if modes:
            items.append(("power modes", ", ".join(f"{n}: {m}" for n, m in modes.items())))
    items += [(f"timing {k}", v) for k, v in timings.items()]
    rows = "".join(f"<div><dt>{text(key)}</dt><dd>{text(value)}</dd></div>" for key, value in items)
    return f'<dl id="record">{rows}</dl>'


def write(summary: dict[str, Any], path: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(render(summary))


def main(argv: list[str] | None = None) -> int:
    """``python -m validation.html REPORT.json OUT.html``: the page of a saved JSON report."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("report", help="a file written by pytest validation/ --report-json")
    parser.add_argument("out", help="the HTML page to write")
    args = parser.parse_args(argv)
    with open(args.report, encoding="utf-8") as handle:
        write(json.load(handle), args.out)
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
