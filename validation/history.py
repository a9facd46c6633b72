"""The history of acceptance runs and their figures, in SQLite on the admin machine.

One row per run (time, repo revision, pillar hash, tier, versions, power modes, per-node
statuses) and one per node, figure and run. The drift verdicts read a node's earlier values
(:func:`recent`); :func:`record_text` is the acceptance record an experiment cites.

    python -m validation.history [--db PATH] runs
    python -m validation.history [--db PATH] show RUN_ID
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    revision TEXT NOT NULL,
    pillar_hash TEXT NOT NULL,
    tier TEXT NOT NULL,
    versions TEXT NOT NULL,
    power_modes TEXT NOT NULL,
    statuses TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS figures (
    run_id INTEGER NOT NULL REFERENCES runs (id),
    node TEXT NOT NULL,
    figure TEXT NOT NULL,
    value REAL NOT NULL,
    unit TEXT NOT NULL,
    PRIMARY KEY (run_id, node, figure)
);
CREATE INDEX IF NOT EXISTS figures_by_node ON figures (node, figure, run_id);
"""
RUN_KEYS = ("time", "revision", "pillar_hash", "tier", "versions", "power_modes", "statuses")
JSON_KEYS = ("versions", "power_modes", "statuses")


def default_path() -> str:
    """$XDG_DATA_HOME/jetson-array/history.sqlite, else ~/.local/share/jetson-array/history.sqlite
    (an empty or relative XDG_DATA_HOME is ignored, as the XDG base directory spec says)."""
    base = os.environ.get("XDG_DATA_HOME", "")
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "jetson-array", "history.sqlite")


DEFAULT_PATH = default_path()


class HistoryError(ValueError):
    """A history file the suite must not use (a link, not the user's, writable by others)."""


def connect(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """The history at ``path``, its schema created; a new file is made 0600 (it names the
    array's nodes and versions) in a directory made 0700 when missing."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        os.makedirs(folder, mode=0o700)
        os.chmod(folder, 0o700)  # whatever the umask
    try:  # never through a link (a history path in a shared dir); sqlite's journal takes the file's mode
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as err:
        raise HistoryError(f"history {path}: cannot open it as a plain file ({err.strerror})") from err
    try:
        info = os.fstat(fd)
    finally:
        os.close(fd)
    if info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise HistoryError(f"history {path}: not ours or writable by others (uid {info.st_uid}, "
                         f"mode {info.st_mode & 0o777:o}): refused")
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.executescript(SCHEMA)
    return conn


def add_run(conn: sqlite3.Connection, record: dict[str, Any]) -> int:
    """Store one run (keys RUN_KEYS; versions, power_modes, statuses are dicts); its id."""
    missing = [key for key in RUN_KEYS if key not in record]
    if missing:
        raise ValueError(f"history run record lacks {', '.join(missing)}")
    values = [json.dumps(record[key], sort_keys=True) if key in JSON_KEYS else str(record[key]) for key in RUN_KEYS]
    with conn:
        cursor = conn.execute(f"INSERT INTO runs ({', '.join(RUN_KEYS)}) VALUES ({', '.join('?' * len(RUN_KEYS))})",
                              values)
    return int(cursor.lastrowid)


def add_figures(conn: sqlite3.Connection, run_id: int, rows: Iterable[tuple[str, str, float, str]]) -> None:
    """Store a run's figures: (node, figure id, value, unit) rows."""
    with conn:
        conn.executemany("INSERT INTO figures (run_id, node, figure, value, unit) VALUES (?, ?, ?, ?, ?)",
                         [(run_id, node, figure, float(value), unit) for node, figure, value, unit in rows])


def recent(conn: sqlite3.Connection, node: str, figure: str, limit: int, before: int | None = None) -> list[float]:
    """The node's last ``limit`` values of ``figure``, oldest first; with ``before`` only
    those of earlier runs (ids below it: the current run is left out)."""
    if limit <= 0:
        return []
    rows = conn.execute(
        "SELECT value FROM figures WHERE node = ? AND figure = ? AND (? IS NULL OR run_id < ?) "
        "ORDER BY run_id DESC LIMIT ?", (node, figure, before, before, limit)).fetchall()
    return [value for (value,) in reversed(rows)]


def _run(conn: sqlite3.Connection, run_id: int) -> dict[str, Any]:
    row = conn.execute(f"SELECT {', '.join(RUN_KEYS)} FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        raise LookupError(f"{database(conn)}: no run {run_id}")
    run = dict(zip(RUN_KEYS, row, strict=True))
    return run | {key: json.loads(run[key]) for key in JSON_KEYS}


def database(conn: sqlite3.Connection) -> str:
    """The file behind the connection."""
    return next((file for _, name, file in conn.execute("PRAGMA database_list") if name == "main"), "") or ":memory:"


def _natural(name: str) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def record_text(conn: sqlite3.Connection, run_id: int) -> str:
    """The acceptance record of a run: what was checked (revision, pillar hash, tier,
    versions, power modes), each node's status and figures. LookupError for an unknown id."""
    run = _run(conn, run_id)
    figures: dict[str, list[str]] = {}
    for node, figure, value, unit in conn.execute(
            "SELECT node, figure, value, unit FROM figures WHERE run_id = ? ORDER BY figure", (run_id,)):
        figures.setdefault(node, []).append(f"    {figure} = {value:g} {unit}".rstrip())
    versions = ", ".join(f"{key} {value}" for key, value in sorted(run["versions"].items())) or "-"
    lines = [
        f"acceptance record: run {run_id} of {database(conn)}",
        f"time:        {run['time']}",
        f"revision:    {run['revision']}",
        f"pillar hash: {run['pillar_hash']}",
        f"tier:        {run['tier']}",
        f"versions:    {versions}",
        "nodes:",
    ]
    for node in sorted(set(run["statuses"]) | set(run["power_modes"]) | set(figures), key=_natural):
        mode = run["power_modes"].get(node)
        lines.append(f"  {node}: {run['statuses'].get(node, 'not run')}"
                     + ("" if mode is None else f", power mode {mode}"))
        lines.extend(figures.get(node, []))
    return "\n".join(lines) + "\n"


def _runs_text(conn: sqlite3.Connection) -> str:
    lines = []
    for run_id, time, revision, tier, statuses in conn.execute(
            "SELECT id, time, revision, tier, statuses FROM runs ORDER BY id"):
        counts: dict[str, int] = {}
        for status in json.loads(statuses).values():
            counts[status] = counts.get(status, 0) + 1
        summary = ", ".join(f"{count} {status}" for status, count in sorted(counts.items())) or "no nodes"
        lines.append(f"{run_id}\t{time}\t{tier}\t{revision}\t{summary}")
    return "".join(f"{line}\n" for line in lines)


def _open_existing(path: str) -> sqlite3.Connection:
    """Read-only: the CLI never creates a history."""
    if not os.path.isfile(path):
        raise LookupError(f"{path}: no history (no such file)")
    return sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m validation.history", description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=None, metavar="PATH", help=f"the history (default: {DEFAULT_PATH})")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("runs", help="one line per run: id, time, tier, revision, node statuses")
    show = sub.add_parser("show", help="the acceptance record of a run")
    show.add_argument("run_id", type=int, metavar="RUN_ID")
    args = parser.parse_args(argv)
    path = args.db or default_path()
    try:
        conn = _open_existing(path)
        try:
            text = _runs_text(conn) if args.command == "runs" else record_text(conn, args.run_id)
        finally:
            conn.close()
    except LookupError as error:  # its message names the file
        print(f"python -m validation.history: {error}", file=sys.stderr)
        return 1
    except sqlite3.DatabaseError as error:
        print(f"python -m validation.history: {path}: not a readable history: {error}", file=sys.stderr)
        return 1
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
