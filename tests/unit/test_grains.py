"""The `tegra` grain reads /etc/nv_tegra_release into structured data, and says what is wrong with a bad one."""

from __future__ import annotations

import gzip
import importlib.util

import pytest
import salt.loader
from saltrender import REPO, minion_opts

_SPEC = importlib.util.spec_from_file_location("tegra_grain", REPO / "salt" / "_grains" / "tegra.py")
tegra = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(tegra)

R28_1 = (
    "# R28 (release), REVISION: 1.0, GCID: 9379712, BOARD: t186ref, EABI: aarch64, DATE: Thu Jul 20 07:59:31 UTC 2017\n"
)
R28_2_1 = (
    "# R28 (release), REVISION: 2.1, GCID: 11272647, BOARD: t186ref, EABI: aarch64, "
    "DATE: Thu May 17 07:29:06 UTC 2018\n"
)
R32_1 = (
    "# R32 (release), REVISION: 1.0, GCID: 14531094, BOARD: t186ref, EABI: aarch64, "
    "DATE: Wed Mar 13 07:41:08 UTC 2019\n# KERNEL_VARIANT: oot\n"
)


@pytest.mark.parametrize(
    ("text", "release", "revision", "l4t", "extra"),
    [
        (R28_1, "R28", "1.0", "28.1.0", {"gcid": "9379712", "date": "Thu Jul 20 07:59:31 UTC 2017"}),
        (R28_2_1, "R28", "2.1", "28.2.1", {"gcid": "11272647"}),
        (R32_1, "R32", "1.0", "32.1.0", {"kernel_variant": "oot"}),
    ],
    ids=["R28.1-jetpack3.1", "R28.2.1-jetpack3.3", "R32.1-jetpack4.2"],
)
def test_release_file_becomes_structured_grain(tmp_path, text, release, revision, l4t, extra):
    path = tmp_path / "nv_tegra_release"
    path.write_text(text)
    grain = tegra._read(str(path))
    assert grain["present"] is True and "error" not in grain
    assert (grain["release"], grain["revision"], grain["l4t"]) == (release, revision, l4t)
    assert grain["board"] == "t186ref" and grain["eabi"] == "aarch64"
    assert grain["file"] == str(path)
    for key, value in extra.items():
        assert grain[key] == value


def test_absent_file_means_not_a_jetson(tmp_path):
    missing = tmp_path / "nv_tegra_release"
    assert tegra._read(str(missing)) == {"present": False, "file": str(missing)}


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "the file is empty"),
        ("\n\n", "the file is empty"),
        ("Linux for Tegra, probably\n", "does not start with '# R<number> (release)'"),
        ("# R28 (release), BOARD: t186ref\n", "no 'REVISION: <major>.<minor>'"),
        ("# R28 (release), REVISION: one, BOARD: t186ref\n", "no 'REVISION: <major>.<minor>' (got 'one')"),
        ("# R28 (release), REVISION: 1.0, garbage without a colon\n", "cannot read 'garbage without a colon'"),
        ("# Rx (release), REVISION: 1.0\n", "does not start with '# R<number> (release)'"),
        ("\x00\x01\x02binary", "does not start with"),
    ],
    ids=["empty", "blank", "prose", "no-revision", "bad-revision", "bad-field", "bad-release", "binary"],
)
def test_garbled_file_gives_an_error_naming_the_file(tmp_path, text, why):
    path = tmp_path / "nv_tegra_release"
    path.write_text(text)
    grain = tegra._read(str(path))
    assert grain["present"] is True
    assert "release" not in grain
    assert grain["error"].startswith(f"{path}: ")
    assert why in grain["error"]


def test_unreadable_path_gives_an_error(tmp_path):
    grain = tegra._read(str(tmp_path))  # a directory
    assert grain["present"] is True
    assert grain["error"].startswith(f"{tmp_path}: cannot read it")


def test_salt_loads_the_grain_from_the_configured_file(tmp_path):
    path = tmp_path / "nv_tegra_release"
    path.write_text(R28_2_1)
    opts = minion_opts("astro0", "ubuntu1604-aarch64", overrides={"tegra_release_file": str(path)})
    opts["cachedir"] = str(tmp_path / "cache")
    grains = salt.loader.grains(opts)
    assert grains["tegra"]["revision"] == "2.1"
    assert grains["tegra"]["file"] == str(path)


# ---- nfs_kernel: the NFS versions of the node's kernel; nfs_version.choose: the version to mount with



def _load(path: str):
    spec = importlib.util.spec_from_file_location(path.replace("/", "_").removesuffix(".py"), REPO / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


nfs_kernel = _load("salt/_grains/nfs_kernel.py")
nfs_version = _load("salt/_modules/nfs_version.py")

L4T_CONFIG = REPO / "lab" / "files" / "vm" / "l4t-kernel-config"
DEBIAN_CONFIG = REPO / "tests" / "data" / "kernel-config-debian12"
L4T = {"client": ["2", "3"], "server": ["2", "3"]}
V42 = {"client": ["3", "4", "4.1", "4.2"], "server": ["3", "4", "4.1", "4.2"]}


# Debian 12 (Linux 6.1): no NFSD_V2/NFSD_V3 options, both built in with nfsd.
DEBIAN12 = {"client": V42["client"], "server": ["2", *V42["server"]]}


@pytest.mark.parametrize(
    ("config", "want"), [(L4T_CONFIG, L4T), (DEBIAN_CONFIG, DEBIAN12)], ids=["l4t-r28.1", "debian12"]
)
def test_kernel_config_gives_client_and_server_versions(config, want):
    assert nfs_kernel._from_config(config.read_text()) == want


def test_unset_and_missing_options_give_no_version():
    text = "# CONFIG_NFS_FS is not set\nCONFIG_NFS_V3=y\n# CONFIG_NFSD is not set\nCONFIG_NFSD_V4=y\n"
    assert nfs_kernel._from_config(text) == {"client": [], "server": []}
    text = "CONFIG_NFSD=m\n# CONFIG_NFSD_V2 is not set\n# CONFIG_NFSD_V3 is not set\n"
    assert nfs_kernel._from_config(text) == {"client": [], "server": []}


def test_compressed_config_and_a_running_nfsd(tmp_path):
    """/proc/config.gz is read compressed; a running nfsd's versions replace the server list."""
    config = tmp_path / "config.gz"
    with gzip.open(config, "wt") as handle:
        handle.write(DEBIAN_CONFIG.read_text())
    nfsd = tmp_path / "versions"
    nfsd.write_text("-2 +3 -4 -4.0 -4.1 -4.2\n")
    grain = nfs_kernel._capabilities(str(config), "6.1.0", str(nfsd))
    assert grain == {"client": V42["client"], "server": ["3"], "source": f"{config} {nfsd}"}


def test_unreadable_config_says_so(tmp_path):
    grain = nfs_kernel._capabilities(str(tmp_path / "none"), "6.1.0", str(tmp_path / "no-nfsd"))
    assert grain["client"] == [] and grain["error"].startswith(f"{tmp_path / 'none'}: cannot read it")


def test_modules_stand_in_for_a_missing_config():
    assert nfs_kernel._from_modules({"nfs", "nfsv3", "nfsv4", "nfsd"}) == {"client": ["3", "4"], "server": ["3"]}


def test_salt_loads_the_nfs_grain_from_the_configured_file(tmp_path):
    opts = minion_opts("astro0", "ubuntu1604-aarch64", overrides={"nfs_kernel_config": str(L4T_CONFIG)})
    opts["cachedir"] = str(tmp_path / "cache")
    grains = salt.loader.grains(opts)
    assert {k: grains["nfs_kernel"][k] for k in ("client", "server")} == L4T


@pytest.mark.parametrize(
    ("client", "servers", "want"),
    [
        (L4T, {"astro7": L4T, "astro15": L4T}, "3"),
        (V42, {"astro7": V42, "astro15": V42}, "4.2"),
        (V42, {"astro7": V42, "astro15": {"server": ["3", "4", "4.1"]}}, "4.1"),
        (V42, {"astro7": V42, "astro15": L4T}, "3"),
        (V42, {"astro7": V42, "astro15": None}, "3"),  # not in the mine: v3 assumed
    ],
    ids=["l4t", "all-4.2", "one-4.1", "one-l4t-master", "unknown-master"],
)
def test_auto_takes_the_highest_version_every_side_offers(client, servers, want):
    choice = nfs_version.choose("auto", "astro0", client, servers, unknown=["3"])
    assert (choice["version"], choice["error"]) == (want, None)


def test_no_common_version_is_an_error_naming_the_node():
    choice = nfs_version.choose("auto", "astro0", {"client": ["4.2"]}, {"astro7": L4T}, unknown=["3"])
    assert choice["error"].startswith("nfs on astro0: no NFS version") and "astro7" in choice["error"]


@pytest.mark.parametrize(
    ("pin", "client", "servers", "is_server", "words"),
    [
        ("4.2", L4T, {}, False, ["astro0", "NFS 4.2", "offers ['2', '3']"]),
        (4.2, V42, {"astro7": L4T}, False, ["master astro7 serves ['2', '3']"]),
        ("4.2", {"client": V42["client"], "server": ["3"]}, {}, True, ["its nfsd offers ['3']"]),
    ],
    ids=["client-lacks-it", "master-lacks-it", "own-nfsd-lacks-it"],
)
def test_a_pin_the_kernels_cannot_do_is_refused_naming_what_they_offer(pin, client, servers, is_server, words):
    choice = nfs_version.choose(pin, "astro0", client, servers, is_server, ["3"])
    assert choice["error"], choice
    for word in words:
        assert word in choice["error"], (word, choice["error"])


def test_a_pin_they_can_do_is_kept():
    assert nfs_version.choose("4.1", "astro0", V42, {"astro7": V42}, True, ["3"])["version"] == "4.1"
