"""The energy capture scripts of formula diagnosenet, rendered by Salt and run for real here
with a fake tegrastats (and a fake sudo for the recorder): the wrapper that sudoers allows runs
only a root-owned tegrastats, takes no argument and writes no file; the recorder reaches it only
by its absolute path and ignores upstream's path argument."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from saltrender import REPO, call

FILES = REPO / "formulas" / "diagnosenet" / "files"
FAKE_LINE = "RAM 1677/7851MB CPU [0%@345] GR3D_FREQ 0% (fake)"


def render(name: str, **context: str) -> str:
    text = (FILES / name).read_text()
    return call("astro0", "debian12-x86_64", "file.apply_template_on_contents", contents=text,
                template="jinja", context=context, defaults={}, saltenv="base")


def script(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


@pytest.fixture
def capture(tmp_path: Path) -> dict[str, Path]:
    """bin/tegrastats (fake: prints a line, marks that it ran) and bin/tegrastats-root (wrapper)."""
    ran = tmp_path / "tegrastats-ran"
    tegrastats = script(tmp_path / "bin" / "tegrastats", f"#!/bin/sh\ntouch {ran}\necho '{FAKE_LINE}'\n")
    (tmp_path / "bin").chmod(0o755)
    text = render("tegrastats-root.sh.jinja", tegrastats=str(tegrastats))
    wrapper = script(tmp_path / "bin" / "tegrastats-root", text)
    return {"tegrastats": tegrastats, "wrapper": wrapper, "ran": ran, "dir": tmp_path}


def run(*argv: str | Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["dash", *map(str, argv)], capture_output=True, text=True, timeout=30, env=env)


@pytest.mark.parametrize("name", ["tegrastats-root.sh.jinja", "enerGyPU_record-jetson.sh.jinja"])
def test_scripts_are_posix_sh_and_shellcheck_clean(name, tmp_path):
    path = script(tmp_path / name, render(name, tegrastats="/opt/e/bin/tegrastats", wrapper="/opt/e/bin/w"))
    assert shutil.which("shellcheck"), "shellcheck is missing: apt-get install shellcheck"
    out = subprocess.run(["shellcheck", "--shell=sh", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout
    assert run("-n", path).returncode == 0


def test_wrapper_runs_the_root_owned_tegrastats_to_stdout(capture):
    out = run(capture["wrapper"])
    assert (out.returncode, out.stdout.strip()) == (0, FAKE_LINE), out.stderr
    assert capture["ran"].exists()


@pytest.mark.parametrize(
    "args",
    [["a", "b", "/bin/sh -c touch {dir}/x;"], ["--logfile", "/etc/x"], ["--logfile", "{dir}/x"],
     ["--interval", "1"], [""]],
    ids=["shell-in-argument", "logfile-etc", "logfile-own-dir", "interval", "empty"],
)
def test_wrapper_refuses_any_argument_and_runs_nothing(capture, args):
    out = run(capture["wrapper"], *[a.format(dir=capture["dir"]) for a in args])
    assert out.returncode == 2 and "takes no argument" in out.stderr, out
    assert not capture["ran"].exists() and not (capture["dir"] / "x").exists()


def _symlink(c: dict) -> None:
    real = c["dir"] / "elsewhere"
    c["tegrastats"].rename(real)
    c["tegrastats"].symlink_to(real)


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        (_symlink, "is a symlink"),
        (lambda c: c["tegrastats"].chmod(0o775), "writable by group or others"),
        (lambda c: c["tegrastats"].parent.chmod(0o757), "writable by group or others"),
        (lambda c: os.chown(c["tegrastats"], 65534, 65534), "not owned by root"),
        (lambda c: c["tegrastats"].unlink(), "is missing"),
    ],
    ids=["symlink", "group-writable", "dir-world-writable", "not-root-owned", "missing"],
)
def test_wrapper_refuses_a_tegrastats_others_could_have_replaced(capture, spoil, reason):
    spoil(capture)
    out = run(capture["wrapper"])
    assert out.returncode == 2 and reason in out.stderr, out
    assert not capture["ran"].exists()


@pytest.fixture
def recorder(capture) -> dict[str, Path]:
    """The recorder, with a fake sudo first in PATH that logs its arguments and runs the command."""
    fake = capture["dir"] / "fakebin"
    calls = capture["dir"] / "sudo-calls"
    fake_sudo = f'#!/bin/sh\necho "$*" >> {calls}\n[ "$2" = -l ] && exit "${{SUDO_L_RC:-0}}"\nshift\nexec "$@"\n'
    script(fake / "sudo", fake_sudo)
    text = render("enerGyPU_record-jetson.sh.jinja", wrapper=str(capture["wrapper"]))
    path = script(capture["dir"] / "recorder.sh", text)
    logs = capture["dir"] / "logs"
    logs.mkdir()
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"}
    return {**capture, "recorder": path, "calls": calls, "logs": logs, "env": env}


def wait_for_lines(path: Path) -> list[str]:
    for _ in range(50):
        if path.exists() and path.read_text().endswith("\n"):
            break
        time.sleep(0.1)
    return path.read_text().splitlines() if path.exists() else []


def test_recorder_calls_the_wrapper_by_absolute_path_and_ignores_upstreams_path_argument(recorder):
    hostname = subprocess.run(["hostname"], capture_output=True, text=True).stdout.strip()
    out = run(recorder["recorder"], recorder["logs"], "exp1", f"/bin/sh -c touch {recorder['dir']}/x;",
              env=recorder["env"])
    assert out.returncode == 0, out.stderr
    lines = wait_for_lines(recorder["logs"] / f"{hostname}-exp1-jetson.txt")
    assert len(lines) == 1 and lines[0].split(";;")[1:] == [FAKE_LINE], lines
    assert lines[0].split(";;")[0].isdigit()
    wrapper = recorder["wrapper"]
    assert recorder["calls"].read_text().splitlines() == [f"-n -l {wrapper}", f"-n {wrapper}"]
    assert not (recorder["dir"] / "x").exists()


def test_recorder_says_so_when_sudo_refuses_the_wrapper(recorder):
    out = run(recorder["recorder"], recorder["logs"], "exp1", env={**recorder["env"], "SUDO_L_RC": "1"})
    assert out.returncode == 1 and "sudo does not let" in out.stderr and str(recorder["wrapper"]) in out.stderr
    assert not recorder["ran"].exists()


@pytest.mark.parametrize(
    "args", [[], ["{logs}"], ["{logs}", "../x"], ["", "exp"]], ids=["none", "one", "slash", "empty"]
)
def test_recorder_refuses_bad_arguments(recorder, args):
    out = run(recorder["recorder"], *[a.format(logs=recorder["logs"]) for a in args], env=recorder["env"])
    assert out.returncode == 2, out
    assert not recorder["calls"].exists()
