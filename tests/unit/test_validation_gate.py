"""validation/gate.py: the Open MPI hostfile of the nodes that passed, and the minimum count."""

from __future__ import annotations

import os
import stat

import pytest

from validation import gate


def test_hostfile_content_and_mode(tmp_path):
    path = tmp_path / "hostfile"
    old_umask = os.umask(0o077)
    try:
        gate.write_hostfile(path, [("astro0", 1), ("astro12", 2)])
    finally:
        os.umask(old_umask)
    assert path.read_text() == "astro0 slots=1\nastro12 slots=2\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert os.listdir(tmp_path) == ["hostfile"]


def test_a_failure_mid_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "hostfile"
    path.write_text("astro0 slots=1\n")

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(gate.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space left"):
        gate.write_hostfile(path, [("astro1", 1), ("astro2", 1)])
    assert path.read_text() == "astro0 slots=1\n"
    assert os.listdir(tmp_path) == ["hostfile"], "the temp file was left behind"


def test_the_new_file_replaces_the_old_one_whole(tmp_path, monkeypatch):
    path = tmp_path / "hostfile"
    path.write_text("astro0 slots=1\n")
    seen = []
    real_replace = os.replace

    def spy(src, dst):
        with open(src, encoding="utf-8") as new:
            seen.append((os.path.dirname(src), new.read(), path.read_text()))
        real_replace(src, dst)

    monkeypatch.setattr(gate.os, "replace", spy)
    gate.write_hostfile(path, [("astro3", 4)])
    assert seen == [(str(tmp_path), "astro3 slots=4\n", "astro0 slots=1\n")]
    assert path.read_text() == "astro3 slots=4\n"


@pytest.mark.parametrize(("nodes", "message"), [
    ([("astro0", 1), ("astro1;reboot", 1)], "node 'astro1;reboot' is not a plain host name"),
    ([("astro0 slots=99\nevil", 1)], "is not a plain host name"),
    ([("-astro0", 1)], "is not a plain host name"),
    ([("astro0", 1), ("astro0", 1)], "node astro0 is listed twice"),
    ([("astro0", 0)], "node astro0: slots 0 is not a positive integer"),
    ([("astro0", "1")], "node astro0: slots '1' is not a positive integer"),
    ([("astro0", True)], "node astro0: slots True is not a positive integer"),
    ([], "no nodes"),
])
def test_bad_nodes_are_refused_and_nothing_is_written(tmp_path, nodes, message):
    path = tmp_path / "hostfile"
    path.write_text("astro0 slots=1\n")
    with pytest.raises(ValueError, match="hostfile .*") as error:
        gate.write_hostfile(path, nodes)
    assert message in str(error.value)
    assert path.read_text() == "astro0 slots=1\n" and os.listdir(tmp_path) == ["hostfile"]


def test_enough():
    assert gate.enough(["astro0", "astro1", "astro2", "astro3"], 4) is None
    assert gate.enough({"astro0", "astro1", "astro2", "astro3", "astro4"}, 4) is None
    message = gate.enough(["astro1", "astro0"], 4)
    assert message == "only 2 node(s) passed the acceptance checks (astro0, astro1); at least 4 are needed"
    assert "(none)" in gate.enough([], 1)
