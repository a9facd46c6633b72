"""The acceptance benchmark's report: its own section of docs/benchmarks.md, the ratio, the goal."""

from __future__ import annotations

import json
from types import SimpleNamespace

from validation import bench


def run(hosts: str, *times: float, code: int = 0) -> dict:
    return {"hosts": hosts, "times": list(times), "best": min(times), "median": sorted(times)[len(times) // 2],
            "codes": [code] * len(times)}  # fmt: skip


def test_section_states_ratio_and_goal() -> None:
    text = bench.section(run("n0", 4.0, 5.0), run("n*", 10.0, 12.0), 24, ["-n", "4"])
    assert "**t(24)/t(1) = 2.50** (best times): meets the goal <= 3." in text
    assert text.startswith(bench.BEGIN) and text.rstrip().endswith(bench.END)
    slow = bench.section(run("n0", 4.0), run("n*", 13.0, code=1), 24, [])
    assert "MISSES the goal" in slow and "--hosts=n* exited [1]" in slow


def test_section_gives_the_cpu_floor_of_the_lab_run(monkeypatch) -> None:
    monkeypatch.setattr(bench.os, "cpu_count", lambda: 2)
    many = run("n*", 6.0) | {"suite_cpu": 5.0, "node_cpu": 5.0}
    text = bench.section(run("n0", 2.0), many, 24, [])
    assert "50% of the CPU of the 24-host run was spent on the nodes" in text
    assert "Its 10.0 CPU-seconds take at least 5.0 s on 2 CPUs" in text and "t(24)/t(1) >= 2.50 here" in text
    assert "CPU-seconds" not in bench.section(run("n0", 2.0), run("n*", 6.0), 24, [])


def test_write_replaces_only_its_own_section(tmp_path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n## Lab\nlab figures\n")
    bench.write(str(doc), bench.section(run("n0", 4.0), run("n*", 8.0), 24, []))
    bench.write(str(doc), bench.section(run("n0", 4.0), run("n*", 6.0), 24, []))
    text = doc.read_text()
    assert text.count(bench.BEGIN) == 1 and "t(24)/t(1) = 1.50" in text and "t(24)/t(1) = 2.00" not in text
    assert text.startswith("# Benchmarks\n\n## Lab\nlab figures\n")


def test_section_gives_the_fingerprint_phase_and_its_overlap() -> None:
    many = run("n*", 30.0) | {"phase": {"wall_s": 12.5, "job_s": 150.0, "overlap": 12.0}}
    text = bench.section(run("n0", 10.0) | {"phase": {"wall_s": 4.0, "job_s": 3.9, "overlap": 0.98}}, many, 24, [])
    assert "| 12.5, 12.00 |" in text and "| 4.0, 0.98 |" in text and "Overlap: " in text
    assert "not run (quick tier or no report)" in bench.section(run("n0", 1.0), run("n*", 2.0), 24, [])


def test_measure_reads_the_phase_from_the_runs_report(monkeypatch, tmp_path) -> None:
    def fake_run(command, **_kwargs):
        report = next(arg.partition("=")[2] for arg in command if arg.startswith("--report-json="))
        assert any(arg.startswith("--history=") for arg in command), "the bench's runs must not use the real history"
        with open(report, "w", encoding="utf-8") as handle:
            json.dump({"record": {"phase": {"wall_s": 3.0, "job_s": 6.0, "overlap": 2.0}}}, handle)
        return SimpleNamespace(returncode=0, stdout="", stderr="")

    monkeypatch.setattr(bench.subprocess, "run", fake_run)
    assert bench.measure("n*", None, [], 2, None)["phase"] == {"wall_s": 3.0, "job_s": 6.0, "overlap": 2.0}
