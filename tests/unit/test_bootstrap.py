"""tools/bootstrap/bootstrap-minion.sh: argument handling, checks before change, generated config.

The script runs for real with ``--root`` (a scratch filesystem root) on a fake onedir
tarball built here (salt/salt-minion and salt/salt-call stubs): what is tested is what the
script writes, refuses and re-runs, not Salt itself.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import platform
import re
import shutil
import subprocess
import tarfile
import threading
from pathlib import Path

import configure
import pytest
import yaml
from saltrender import REPO

from jetson_array import nodetable

SCRIPT = REPO / "tools" / "bootstrap" / "bootstrap-minion.sh"
CLUSTER = nodetable.load()
NODE = CLUSTER["masters"][0]  # a table name, not typed here
MASTER = "10.0.0.1"
FINGER = ":".join(f"{byte:02x}" for byte in range(0xA0, 0xC0))  # as `salt-key -F master` prints
PREFIX = "/opt/saltstack"
# Salt's onedir tarball names (salt/utils/relenv.py): arm64 for aarch64 machines.
SALT_ARCH = {"x86_64": "x86_64", "aarch64": "arm64"}
OTHER_ARCH = {"x86_64": "aarch64", "aarch64": "x86_64"}


def make_tarball(path: Path, members: tuple[str, ...] = ("salt-minion", "salt-call")) -> str:
    """A stand-in onedir tarball at ``path``; return its sha256."""
    with tarfile.open(path, "w:xz") as tar:
        for name in members:
            data = f"#!/bin/sh\necho {name} stub\n".encode()
            info = tarfile.TarInfo(f"salt/{name}")
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def tarball(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / f"salt-3008.4-onedir-linux-{SALT_ARCH[platform.machine()]}.tar.xz"
    return path, make_tarball(path)


def bootstrap(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=60)


def good_args(tarball: tuple[Path, str], root: Path) -> list[str]:
    path, digest = tarball
    return ["--tarball", str(path), "--sha256", digest, "--id", NODE, "--master", MASTER,
            "--master-finger", FINGER, "--root", str(root)]


def without(args: list[str], flag: str) -> list[str]:
    index = args.index(flag)
    return args[:index] + args[index + 2:]


@pytest.mark.parametrize("flag", ["--tarball", "--sha256", "--id", "--master", "--master-finger"])
def test_a_missing_required_argument_is_a_usage_error_naming_it(flag, tarball, tmp_path):
    result = bootstrap(*without(good_args(tarball, tmp_path / "root"), flag))
    assert result.returncode == 2
    assert flag in result.stderr.splitlines()[0] and "usage:" in result.stderr
    assert not (tmp_path / "root").exists(), "nothing may be written on a usage error"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--sha256", "abc"], "--sha256 'abc' is not 64 hex digits"),
        (["--id", "Astro07!"], "--id 'Astro07!' is not a node name"),
        (["--masterless", "/nonexistent"], "--master and --masterless exclude each other"),
        (["--site-pillar", "/srv/site"], "--site-pillar and --table go with --masterless"),
        (["--prefix", "opt/salt"], "--prefix 'opt/salt' must be an absolute path"),
        (["--bogus", "x"], "unknown argument: --bogus"),
        (["--master"], "--master needs a value"),
        (["--master-finger", "ab:cd"], "--master-finger 'ab:cd' is not a sha256 key fingerprint"),
        (["--master-finger", FINGER.replace("a0", "zz")], "is not a sha256 key fingerprint"),
    ],
)
def test_a_bad_argument_is_refused_before_anything_changes(change, message, tarball, tmp_path):
    result = bootstrap(*good_args(tarball, tmp_path / "root"), *change)
    assert result.returncode == 2, result.stdout
    assert message in result.stderr
    assert not (tmp_path / "root").exists()


def test_the_master_fingerprint_goes_with_a_master_only(tarball, tmp_path):
    args = without(good_args(tarball, tmp_path / "root"), "--master")
    result = bootstrap(*args, "--masterless", str(REPO))
    assert result.returncode == 2 and "--master-finger goes with --master" in result.stderr


def test_an_upper_case_fingerprint_is_written_as_salt_compares_it(tarball, tmp_path):
    args = good_args(tarball, tmp_path / "root")
    args[args.index(FINGER)] = FINGER.upper()
    assert bootstrap(*args).returncode == 0
    config = yaml.safe_load((tmp_path / "root/etc/salt/minion.d/jetson.conf").read_text())
    assert config["master_finger"] == FINGER  # salt.utils.crypt.pem_finger: lower-case hex


def test_script_and_docs_name_the_onedir_tarball_as_salt_publishes_it():
    """Salt publishes salt-<version>-onedir-linux-arm64.tar.xz for aarch64 boards; an
    "-linux-aarch64" name (no such file on the Salt repository) would send the operator
    looking for nothing."""
    texts = {path: path.read_text() for path in (SCRIPT, REPO / "docs/operations.md", REPO / "tools/configure.py")}
    for path, text in texts.items():
        assert "onedir-linux-aarch64" not in text, f"{path.relative_to(REPO)}: Salt names it ...-linux-arm64.tar.xz"
    assert "-onedir-linux-arm64.tar.xz" in texts[REPO / "docs/operations.md"]
    assert "-onedir-linux-arm64.tar.xz" in bootstrap("--help").stdout


def test_docs_pin_the_master_key_and_record_only_the_host_key_that_was_compared():
    """docs/operations.md: every bootstrap to a master passes the fingerprint read with
    `salt-key -F master`; no ssh-keyscan writes straight into a known_hosts file (a second,
    unchecked scan is trust on first use): the scan that was compared is the one recorded."""
    docs = (REPO / "docs/operations.md").read_text()
    runs = re.findall(r"bootstrap-minion\.sh --tarball(?:[^\n]*\\\n)*[^\n]*", docs)
    assert runs, "docs/operations.md shows no bootstrap-minion.sh run"
    for run in runs:
        assert "--masterless" in run or "--master-finger" in run, f"no --master-finger: {run}"
    assert "salt-key -F master" in docs
    scans = [line for line in docs.splitlines() if "ssh-keyscan" in line and "known_hosts" in line]
    assert not scans, f"a scan recorded without comparing it: {scans}"


def test_a_tarball_named_as_salt_names_aarch64_is_for_aarch64(tmp_path):
    path = tmp_path / "salt-3008.4-onedir-linux-arm64.tar.xz"
    result = bootstrap(*good_args((path, make_tarball(path)), tmp_path / "root"))
    if platform.machine() == "aarch64":
        assert result.returncode == 0, result.stderr
    else:
        assert f"{path.name} is for aarch64, this machine is {platform.machine()}" in result.stderr


def test_a_wrong_sha256_stops_the_install_and_names_the_file(tarball, tmp_path):
    path, digest = tarball
    wrong = digest[::-1]
    result = bootstrap(*good_args((path, wrong), tmp_path / "root"))
    assert result.returncode == 1
    assert f"{path}: sha256 is {digest}, expected {wrong}" in result.stderr
    assert not (tmp_path / "root" / PREFIX.lstrip("/")).exists()


def test_a_tarball_for_another_architecture_is_refused(tmp_path):
    other = OTHER_ARCH[platform.machine()]
    path = tmp_path / f"salt-3008.4-onedir-linux-{SALT_ARCH[other]}.tar.xz"
    result = bootstrap(*good_args((path, make_tarball(path)), tmp_path / "root"))
    assert result.returncode == 1
    assert f"{path.name} is for {other}, this machine is {platform.machine()}" in result.stderr


def test_a_tarball_without_salt_minion_is_not_installed(tmp_path):
    path = tmp_path / "salt-onedir.tar.xz"
    result = bootstrap(*good_args((path, make_tarball(path, ("salt-call",))), tmp_path / "root"))
    assert result.returncode == 1 and "not a Salt onedir tarball" in result.stderr
    assert not (tmp_path / "root" / PREFIX.lstrip("/") / "salt").exists()


def test_minion_config_names_the_table_node_and_the_master(tarball, tmp_path):
    root = tmp_path / "root"
    result = bootstrap(*good_args(tarball, root))
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load((root / "etc/salt/minion.d/jetson.conf").read_text())
    assert config == {"id": NODE, "master": MASTER, "master_finger": FINGER}
    assert (root / "etc/salt/minion_id").read_text() == f"{NODE}\n"
    unit = (root / "etc/systemd/system/salt-minion.service").read_text()
    assert f"ExecStart={PREFIX}/salt/salt-minion\n" in unit
    onedir = root / PREFIX.lstrip("/") / "salt"
    assert (onedir / ".jetson-onedir-sha256").read_text().strip() == tarball[1]
    assert (root / "usr/local/bin/salt-call").readlink() == Path(f"{PREFIX}/salt/salt-call")
    assert "not started (--no-start or --root)" in result.stdout


def test_a_second_run_changes_nothing(tarball, tmp_path):
    root = tmp_path / "root"
    assert bootstrap(*good_args(tarball, root)).returncode == 0
    files = sorted(p for p in root.rglob("*") if p.is_file())
    before = {p: p.stat().st_mtime_ns for p in files}
    again = bootstrap(*good_args(tarball, root))
    assert again.returncode == 0, again.stderr
    assert "already holds this tarball" in again.stdout
    assert "jetson.conf unchanged, minion_id unchanged, unit unchanged" in again.stdout
    assert {p: p.stat().st_mtime_ns for p in files} == before


def test_masterless_config_is_the_same_state_tree_as_the_master_config(tarball, tmp_path):
    root, site, table = tmp_path / "root", tmp_path / "site", REPO / "tests/data/table5.yaml"
    args = without(without(good_args(tarball, root), "--master"), "--master-finger")
    result = bootstrap(*args, "--masterless", str(REPO), "--site-pillar", str(site),
                       "--table", str(table))
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load((root / "etc/salt/minion.d/jetson.conf").read_text())
    assert config == {"id": NODE, "file_client": "local",
                      **configure.state_tree(REPO, [site], table)}
    assert "masterless" in result.stdout


def test_the_tarball_can_come_from_a_url(tarball, tmp_path):
    path, digest = tarball
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(path.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{path.name}"
        args = good_args(tarball, tmp_path / "root")
        args[args.index(str(path))] = url
        result = bootstrap(*args)
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 0, result.stderr
    stamp = tmp_path / "root" / PREFIX.lstrip("/") / "salt" / ".jetson-onedir-sha256"
    assert stamp.read_text().strip() == digest


def test_shellcheck_passes():
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is missing: apt-get install shellcheck"
    result = subprocess.run([shellcheck, str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
