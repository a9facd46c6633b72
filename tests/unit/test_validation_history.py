"""validation/history.py: the SQLite history of runs and figures, the record, the CLI."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest
from saltrender import REPO

from validation import history


def record(time: str, statuses: dict[str, str]) -> dict:
    return {"time": time, "revision": "c6f591a", "pillar_hash": "sha256:0f3e", "tier": "full",
            "versions": {"salt": "3008.4", "l4t": "R28.1"}, "power_modes": {node: 2 for node in statuses},
            "statuses": statuses}


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "share" / "jetson-array" / "history.sqlite"
    conn = history.connect(str(path))
    first = history.add_run(conn, record("2026-11-30T05:00:00Z", {"astro0": "passed", "astro1": "passed"}))
    history.add_figures(conn, first, [("astro0", "cpu_mops", 30.0, "Mop/s"), ("astro1", "cpu_mops", 31.0, "Mop/s"),
                                      ("astro0", "nfs_read_mbs/cloud/1", 90.5, "MB/s")])
    second = history.add_run(conn, record("2026-12-01T05:00:00Z", {"astro0": "passed", "astro1": "failed"}))
    history.add_figures(conn, second, [("astro0", "cpu_mops", 24.0, "Mop/s"),
                                       ("astro0", "gpu_gflops", 402.3, "GFLOP/s")])
    yield path, conn, first, second
    conn.close()


def test_connect_makes_a_private_file_in_a_private_dir(db):
    path, conn, *_ = db
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"runs", "figures"} <= tables
    history.connect(str(path)).close()  # again: the schema is kept, the runs too
    assert conn.execute("SELECT COUNT(*) FROM runs").fetchone() == (2,)


def test_one_row_per_node_figure_and_run(db):
    _, conn, first, _ = db
    with pytest.raises(history.sqlite3.IntegrityError):
        history.add_figures(conn, first, [("astro0", "cpu_mops", 1.0, "Mop/s")])
    with pytest.raises(history.sqlite3.IntegrityError):
        history.add_figures(conn, 999, [("astro0", "cpu_mops", 1.0, "Mop/s")])


def test_a_run_record_lacking_keys_is_refused(db):
    _, conn, *_ = db
    with pytest.raises(ValueError, match="lacks pillar_hash, tier"):
        history.add_run(conn, {k: v for k, v in record("t", {}).items() if k not in ("pillar_hash", "tier")})


def test_recent_is_oldest_first_and_leaves_out_the_current_run(db):
    _, conn, first, second = db
    assert history.recent(conn, "astro0", "cpu_mops", 5) == [30.0, 24.0]
    assert history.recent(conn, "astro0", "cpu_mops", 5, before=second) == [30.0]
    assert history.recent(conn, "astro0", "cpu_mops", 1) == [24.0]
    assert history.recent(conn, "astro0", "cpu_mops", 0) == []
    assert history.recent(conn, "astro1", "cpu_mops", 5, before=first) == []
    assert history.recent(conn, "astro0", "nfs_read_mbs/cloud/1", 5, before=second) == [90.5]


def test_recent_keeps_the_last_k_runs():
    conn = history.sqlite3.connect(":memory:")
    conn.executescript(history.SCHEMA)
    for value in range(1, 9):
        run_id = history.add_run(conn, record(f"t{value}", {"astro0": "passed"}))
        history.add_figures(conn, run_id, [("astro0", "cpu_mops", float(value), "Mop/s")])
    assert history.recent(conn, "astro0", "cpu_mops", 5, before=run_id) == [3.0, 4.0, 5.0, 6.0, 7.0]


def test_record_text_shows_the_run_and_both_figures(db):
    path, conn, _, second = db
    text = history.record_text(conn, second)
    assert f"acceptance record: run {second} of {path}" in text
    for want in ("time:        2026-12-01T05:00:00Z", "revision:    c6f591a", "pillar hash: sha256:0f3e",
                 "tier:        full", "versions:    l4t R28.1, salt 3008.4",
                 "  astro0: passed, power mode 2\n    cpu_mops = 24 Mop/s\n    gpu_gflops = 402.3 GFLOP/s\n",
                 "  astro1: failed, power mode 2\n"):
        assert want in text
    assert "30" not in text.split("nodes:")[1], "the first run's figures leaked into the second's record"
    with pytest.raises(LookupError, match=f"{path}: no run 77"):
        history.record_text(conn, 77)


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "validation.history", *args], cwd=REPO, capture_output=True,
                          text=True, env=env)


def test_cli_runs_and_show(db):
    path, _, first, second = db
    runs = cli("--db", str(path), "runs")
    assert runs.returncode == 0, runs.stderr
    assert runs.stdout.splitlines() == [f"{first}\t2026-11-30T05:00:00Z\tfull\tc6f591a\t2 passed",
                                        f"{second}\t2026-12-01T05:00:00Z\tfull\tc6f591a\t1 failed, 1 passed"]
    show = cli("--db", str(path), "show", str(second))
    assert show.returncode == 0 and "gpu_gflops = 402.3 GFLOP/s" in show.stdout


def test_cli_show_of_an_unknown_run_exits_1_naming_db_and_id(db):
    path, *_ = db
    out = cli("--db", str(path), "show", "42")
    assert out.returncode == 1 and out.stdout == ""
    assert str(path) in out.stderr and "no run 42" in out.stderr


def test_cli_never_creates_a_history(tmp_path):
    missing = tmp_path / "nothing" / "history.sqlite"
    out = cli("--db", str(missing), "runs")
    assert out.returncode == 1 and str(missing) in out.stderr
    assert not missing.parent.exists()
    junk = tmp_path / "junk.sqlite"
    junk.write_text("not a database, " * 100)
    out = cli("--db", str(junk), "show", "1")
    assert out.returncode == 1 and str(junk) in out.stderr


def test_default_path_follows_xdg_data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert history.default_path() == str(tmp_path / "jetson-array" / "history.sqlite")
    monkeypatch.setenv("XDG_DATA_HOME", "relative/dir")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert history.default_path() == str(tmp_path / "home" / ".local" / "share" / "jetson-array" / "history.sqlite")
    monkeypatch.delenv("XDG_DATA_HOME")
    assert history.default_path() == str(tmp_path / "home" / ".local" / "share" / "jetson-array" / "history.sqlite")


def test_cli_default_db_is_under_xdg_data_home(db, tmp_path):
    path, _, _, second = db  # tmp_path/share/jetson-array/history.sqlite
    env = os.environ | {"XDG_DATA_HOME": str(tmp_path / "share")}
    out = cli("show", str(second), env=env)
    assert out.returncode == 0 and f"run {second} of {path}" in out.stdout


def test_a_history_path_that_is_a_link_or_writable_by_others_is_refused(tmp_path) -> None:
    target = tmp_path / "elsewhere.sqlite"
    target.write_text("")
    (tmp_path / "link.sqlite").symlink_to(target)
    with pytest.raises(ValueError, match="cannot open it as a plain file"):
        history.connect(tmp_path / "link.sqlite")
    shared = tmp_path / "shared.sqlite"
    shared.write_text("")
    shared.chmod(0o666)
    with pytest.raises(ValueError, match="writable by others"):
        history.connect(shared)
