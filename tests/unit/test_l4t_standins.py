"""The FIXTURE L4T R28.1 stand-ins of the lab's arm64 nodes (lab/files/l4t/, staged by
lab/containers/l4t.py) behave as the Salt states and the acceptance suite read the TX2's tools:
nvpmodel's query and mode switch, tegrastats' lines through validation/tegrastats.py, the
release file through the tegra grain. The scripts run here with the host's /bin/sh."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import time

import pytest
import yaml
from saltrender import PILLAR, REPO

from lab.containers import l4t
from validation import tegrastats

L4T = REPO / "lab" / "files" / "l4t"
NVPMODEL, CONF, TEGRASTATS = L4T / "nvpmodel", L4T / "nvpmodel.conf", L4T / "tegrastats"
# The TX2's power modes (pillar/gpu.sls names them); R28.1 boots in mode 3.
MODES = {0: "MAXN", 1: "MAXQ", 2: "MAXP_CORE_ALL", 3: "MAXP_CORE_ARM", 4: "MAXP_CORE_DENVER"}
R28_1_HEAD = ("# R28 (release), REVISION: 1.0, GCID: 9379712, BOARD: t186ref, EABI: aarch64, "
              "DATE: Thu Jul 20 07:59:31 UTC 2017")
RECORDED_R28 = (REPO / "validation" / "testdata" / "tegrastats-r28.1-tx2.txt").read_text().splitlines()[1]
RECORDED_CLOCK = "GR3D_FREQ 71%@1300"
ROOT = os.geteuid() == 0

_SPEC = importlib.util.spec_from_file_location("tegra_grain", REPO / "salt" / "_grains" / "tegra.py")
tegra = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(tegra)


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    """The checkout's conf and nvpmodel, and a status file in ``tmp_path`` that does not exist yet."""
    return {**os.environ, "FIXTURE_NVPMODEL_CONF": str(CONF), "FIXTURE_NVPMODEL_STATUS": str(tmp_path / "status"),
            "FIXTURE_NVPMODEL": str(NVPMODEL)}


def nvpmodel(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["/bin/sh", str(NVPMODEL), *args], env=env, capture_output=True, text=True, timeout=10)


def tegrastats_lines(env: dict[str, str], count: int = 2, cmd: tuple[str, ...] = (), interval: int = 100,
                     linger: float = 0.0) -> list[str]:
    """The first ``count`` lines of tegrastats; it is killed ``linger`` seconds after them (it
    never ends by itself), and its output must end at once then (a reader must not hang)."""
    proc = subprocess.Popen([*cmd, "/bin/sh", str(TEGRASTATS), "--interval", str(interval)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [proc.stdout.readline() for _ in range(count)]
        time.sleep(linger)
        assert proc.poll() is None, "tegrastats ended by itself"
    finally:
        proc.kill()
    rest, _ = proc.communicate(timeout=3)
    assert rest == "", "output after the lines read: more than one line per interval?"
    return [line.rstrip("\n") for line in lines]


# --- nvpmodel ---------------------------------------------------------------------------------


def test_nvpmodel_conf_defines_the_tx2_modes_and_the_r28_1_default():
    text = CONF.read_text()
    heads = [line for line in text.splitlines() if line.startswith("< POWER_MODEL ")]
    assert heads == [f"< POWER_MODEL ID={mode} NAME={name} >" for mode, name in MODES.items()]
    assert text.rstrip().endswith("< PM_CONFIG DEFAULT=3 >") and "FIXTURE" in text


def test_query_without_status_file_reports_the_conf_default(env, tmp_path):
    done = nvpmodel(env, "-q")
    assert (done.returncode, done.stdout, done.stderr) == (0, "NV Power Mode: MAXP_CORE_ARM\n3\n", "")
    assert not (tmp_path / "status").exists(), "a query must not write the status file"


@pytest.mark.parametrize("mode", MODES)
def test_set_mode_persists_pmode_and_query_ends_with_the_number(env, tmp_path, mode):
    done = nvpmodel(env, "-m", str(mode))
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    assert (tmp_path / "status").read_text() == f"pmode:000{mode}\n"
    out = nvpmodel(env, "-q").stdout
    # the suite (probe `nvpmodel -q 2>&1`, last line) and the state's `unless` (tail -n 1) read this
    assert out.splitlines() == [f"NV Power Mode: {MODES[mode]}", str(mode)]


def test_query_verbose_prints_more_but_still_ends_with_the_number(env):
    nvpmodel(env, "-m", "2")
    lines = nvpmodel(env, "-q", "--verbose").stdout.splitlines()
    assert lines[-2:] == ["NV Power Mode: MAXP_CORE_ALL", "2"]
    assert lines[:-2] and all(line.startswith("NVPM VERB: ") for line in lines[:-2])


@pytest.mark.parametrize("bad", ["7", "5", "-1", "x", "2x", ""])
def test_unknown_mode_is_refused_and_nothing_is_written(env, tmp_path, bad):
    nvpmodel(env, "-m", "2")
    before = sorted(tmp_path.iterdir())
    done = nvpmodel(env, "-m", bad)
    assert done.returncode != 0 and done.stdout == ""
    assert done.stderr == f"NVPM ERROR: request for bad power mode {bad}\n"
    assert (tmp_path / "status").read_text() == "pmode:0002\n"
    assert sorted(tmp_path.iterdir()) == before, "a refused mode left a file behind"


def test_unknown_mode_from_a_fresh_board_writes_no_status(env, tmp_path):
    assert nvpmodel(env, "-m", "9").returncode != 0
    assert list(tmp_path.iterdir()) == []


def test_status_naming_an_undefined_mode_fails_the_query(env, tmp_path):
    (tmp_path / "status").write_text("pmode:0009\n")
    done = nvpmodel(env, "-q")
    assert done.returncode != 0 and done.stdout == "" and "power mode 9 is not defined" in done.stderr


# --- tegrastats -------------------------------------------------------------------------------


def acceptance() -> dict:
    return yaml.safe_load((PILLAR / "acceptance.sls").read_text())["acceptance"]


@pytest.mark.skipif(not ROOT, reason="tegrastats prints GR3D_FREQ only as root, as the real one")
@pytest.mark.parametrize("mode", MODES)
def test_tegrastats_line_is_the_recorded_r28_line_with_the_power_modes_gpu_clock(env, mode):
    """The suite's figures from the stand-in's lines: the mode's GR3D clock as pillar
    acceptance:gpu_clock_mhz expects it (so the clock check passes), the recorded temperatures
    and GPU power."""
    nvpmodel(env, "-m", str(mode))
    clock = acceptance()["gpu_clock_mhz"][mode]
    lines = tegrastats_lines(env)
    assert lines == [RECORDED_R28.replace(RECORDED_CLOCK, f"GR3D_FREQ 71%@{clock}")] * 2
    summary = tegrastats.summarize(lines)
    assert summary == pytest.approx({"gpu_freq_mhz": clock, "temp_max_c": 51.0, "gpu_power_w": 6.854})
    assert tegrastats.clock_verdict(mode, summary["gpu_freq_mhz"], acceptance()["gpu_clock_mhz"]) is None
    assert tegrastats.thermal_verdict(summary["temp_max_c"], acceptance()["thermal_limit_c"]) is None


@pytest.mark.skipif(not ROOT, reason="tegrastats prints GR3D_FREQ only as root, as the real one")
def test_tegrastats_on_a_node_left_in_maxq_fails_the_clock_check_of_mode_2(env):
    nvpmodel(env, "-m", "1")
    summary = tegrastats.summarize(tegrastats_lines(env))
    assert summary["gpu_freq_mhz"] == 854
    assert "below 1122 MHz" in tegrastats.clock_verdict(2, summary["gpu_freq_mhz"], acceptance()["gpu_clock_mhz"])


@pytest.mark.skipif(not ROOT, reason="tegrastats prints GR3D_FREQ only as root, as the real one")
def test_tegrastats_without_a_power_mode_shows_the_lowest_gpu_clock(env):
    env["FIXTURE_NVPMODEL"] = shutil.which("false")
    assert tegrastats.parse(tegrastats_lines(env, 1)[0])["gpu_freq_mhz"] == 114


@pytest.mark.skipif(not ROOT or not shutil.which("setpriv"), reason="needs root to drop to nobody (setpriv)")
def test_tegrastats_without_root_leaves_out_the_clocks(env):
    nobody = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")
    line = tegrastats_lines(env, 1, nobody)[0]
    assert line == RECORDED_R28.replace("EMC_FREQ 2%@1866 GR3D_FREQ 71%@1300 ", "")
    assert tegrastats.summarize([line])["gpu_freq_mhz"] is None


def test_tegrastats_prints_its_first_line_at_once_and_its_output_ends_when_killed(env):
    """A 10 s interval: the line comes before it; killed while it waits, the end of its output
    comes at once (its sleep must not hold the reader's pipe open for the rest of the interval)."""
    assert tegrastats_lines(env, 1, interval=10000, linger=0.5)[0].startswith("RAM 4722/7844MB ")


@pytest.mark.parametrize("args", [["--interval", "0"], ["--interval", "1e3"], ["--interval"], ["--logfile", "x"]])
def test_tegrastats_refuses_what_it_cannot_do(env, args):
    done = subprocess.run(["/bin/sh", str(TEGRASTATS), *args], env=env, capture_output=True, text=True, timeout=10)
    assert done.returncode == 1 and done.stdout == "" and done.stderr


# --- nv_tegra_release -------------------------------------------------------------------------


def test_release_file_is_the_r28_1_board_line_and_matches_jetpack_3_1():
    text = (L4T / "nv_tegra_release").read_text()
    assert text == R28_1_HEAD + "\n"
    parsed = tegra._parse(text)
    l4t_of_3_1 = yaml.safe_load((PILLAR / "gpu.sls").read_text())["gpu_stack"]["jetpacks"]["3.1"]["l4t"]
    assert {key: parsed[key] for key in l4t_of_3_1} == l4t_of_3_1 == {"release": "R28", "revision": "1.0"}
    assert (parsed["l4t"], parsed["board"]) == ("28.1.0", "t186ref")


# --- staging into the image -------------------------------------------------------------------


def test_every_stand_in_says_fixture():
    """nv_tegra_release cannot (a comment would be parsed): the folder's README says it for it."""
    for source in l4t.FILES:
        if source.name != "nv_tegra_release":
            assert "FIXTURE" in source.read_text(), source
    readme = (L4T / "README.md").read_text()
    assert "FIXTURE" in readme and "nv_tegra_release" in readme


@pytest.mark.skipif(not ROOT, reason="staging chowns to root, as the image builder (root) does")
def test_stage_puts_each_file_at_its_path_with_its_mode_root_owned(tmp_path):
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    old = os.umask(0o077)  # a strict umask must not leave /home/nvidia unreadable
    try:
        l4t.stage(rootfs)
    finally:
        os.umask(old)
    want = {"etc/nv_tegra_release": 0o644, "usr/sbin/nvpmodel": 0o755, "etc/nvpmodel.conf": 0o644,
            "home/nvidia/tegrastats": 0o755}
    assert {dest: mode for dest, mode in l4t.STAGED.values()} == want
    assert list(l4t.STAGED) == l4t.FILES and all(source.is_file() for source in l4t.FILES)
    for source, (dest, mode) in l4t.STAGED.items():
        info = (rootfs / dest).stat()
        assert (info.st_mode & 0o7777, info.st_uid, info.st_gid) == (mode, 0, 0), dest
        assert (rootfs / dest).read_bytes() == source.read_bytes(), dest
    for folder in ("home", "home/nvidia", "usr/sbin", "var/lib/nvpmodel"):
        info = (rootfs / folder).stat()
        assert (info.st_mode & 0o7777, info.st_uid) == (0o755, 0), folder
    assert list((rootfs / "var/lib/nvpmodel").iterdir()) == [], "the status file starts absent"


@pytest.mark.skipif(not ROOT, reason="staging chowns to root, as the image builder (root) does")
def test_staged_nvpmodel_switches_modes_in_the_staged_status_directory(tmp_path):
    rootfs = tmp_path
    l4t.stage(rootfs)
    env = {**os.environ, "FIXTURE_NVPMODEL_CONF": str(rootfs / "etc/nvpmodel.conf"),
           "FIXTURE_NVPMODEL_STATUS": str(rootfs / "var/lib/nvpmodel/status")}
    run = [str(rootfs / "usr/sbin/nvpmodel")]  # executable as staged
    assert subprocess.run([*run, "-m", "2"], env=env, check=True, capture_output=True).stdout == b""
    assert (rootfs / "var/lib/nvpmodel/status").read_text() == "pmode:0002\n"


def test_staged_tegrastats_is_where_the_diagnosenet_formula_looks_by_default():
    """The formula's default tegrastats_source is the board's path; the arm64 image has the stand-in there."""
    defaults = yaml.safe_load((REPO / "formulas" / "diagnosenet" / "defaults.yaml").read_text())
    staged = {dest for dest, _ in l4t.STAGED.values()}
    assert defaults["diagnosenet"]["capture"]["tegrastats_source"].lstrip("/") in staged


@pytest.mark.skipif(not shutil.which("shellcheck"), reason="shellcheck is missing: apt-get install shellcheck")
def test_stand_in_scripts_are_posix_sh_and_shellcheck_clean():
    for script in (NVPMODEL, TEGRASTATS):
        assert script.read_text().startswith("#!/bin/sh\n")
        done = subprocess.run(["shellcheck", "-s", "sh", str(script)], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout
