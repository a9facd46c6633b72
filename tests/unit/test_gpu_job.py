"""The GPU acceptance job (validation/jobs/gpu_matmul.py), run for real on the CPU build of TF.

TensorFlow 2.x from PyPI takes the tf.compat.v1 path of the job; the nodes run TF 1.3.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from saltrender import REPO

JOBS = REPO / "validation" / "jobs"
JOB = JOBS / "gpu_matmul.py"
VERMIN = [str(Path(sys.executable).parent / "vermin"), "--target=3.6-", "--no-tips", "--violations"]


def run_job(*args: str) -> tuple[int, dict]:
    run = subprocess.run([sys.executable, str(JOB), *args], capture_output=True, text=True, timeout=300)
    lines = run.stdout.strip().splitlines()
    assert len(lines) == 1, f"the job must print exactly one JSON line, got: {run.stdout!r} {run.stderr[-2000:]}"
    return run.returncode, json.loads(lines[0])


def test_job_multiplies_on_the_cpu_and_matches_numpy() -> None:
    rc, result = run_job("--device", "cpu", "--size", "256", "--repeat", "3")
    assert rc == 0, result
    assert result["ok"] is True
    assert result["device"].upper().endswith("CPU:0")
    assert result["size"] == 256 and 0 <= result["max_error"] <= 1e-4
    assert result["gflops"] > 0
    assert result["tf_version"].startswith("2.")


def test_job_fails_when_the_result_is_off_numpy_bound() -> None:
    rc, result = run_job("--device", "cpu", "--size", "256", "--repeat", "1", "--max-error", "0")
    assert rc == 1 and result["ok"] is False
    assert "max error" in result["error"] and "above 0" in result["error"]


def test_job_without_a_gpu_fails_instead_of_falling_back_to_the_cpu() -> None:
    rc, result = run_job("--device", "gpu", "--size", "64", "--repeat", "1")
    assert rc == 1 and result["ok"] is False
    assert result["error"].startswith("no GPU visible to TensorFlow")


def test_jobs_are_python_36_syntax() -> None:
    run = subprocess.run([*VERMIN, str(JOBS)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_vermin_catches_newer_syntax(tmp_path) -> None:
    """The check above can fail: a walrus (3.8) in a job is refused."""
    (tmp_path / "job.py").write_text("if (n := 1):\n    pass\n")
    assert subprocess.run([*VERMIN, str(tmp_path)], capture_output=True, text=True).returncode != 0
