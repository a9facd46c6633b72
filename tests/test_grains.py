"""The `tegra` grain reads /etc/nv_tegra_release into structured data, and says what is wrong with a bad one."""

from __future__ import annotations

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
