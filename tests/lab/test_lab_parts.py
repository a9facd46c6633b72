"""The container lab's pure parts (no root, no containers): table subsets, apt sources, the
package list, state-return summaries. The lab itself is tested in tests/lab/test_lab.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from jetson_array import nodetable
from lab.common import converge, table
from lab.common.paths import LAB_TABLE
from lab.containers import aptsources, image


@pytest.fixture(scope="module")
def cluster() -> dict:
    return table.load(LAB_TABLE)


@pytest.mark.parametrize("count", [3, 4, 10, 24])
def test_subset_keeps_every_master_and_the_lowest_other_nodes(cluster: dict, count: int) -> None:
    subset = table.select(cluster, count)
    names = table.names(subset)
    others = [r["number"] for r in cluster["nodes"] if r["name"] not in cluster["masters"]]
    want_others = sorted(others)[: count - len(cluster["masters"])]
    assert len(names) == count
    assert set(cluster["masters"]) <= set(names)
    assert sorted(r["number"] for r in subset["nodes"] if r["name"] not in cluster["masters"]) \
        == want_others


def test_subset_smaller_than_the_masters_names_them(cluster: dict) -> None:
    with pytest.raises(nodetable.NodeTableError) as err:
        table.select(cluster, len(cluster["masters"]) - 1)
    assert all(master in str(err.value) for master in cluster["masters"])


def test_derived_table_is_checked_and_reloads_the_same(cluster: dict, tmp_path: Path) -> None:
    path = table.write_derived(table.select(cluster, 4), tmp_path / "nodes.yaml")
    assert path.read_text().startswith("# DERIVED")
    assert table.load(path) == table.select(cluster, 4)


def test_derived_table_with_a_duplicate_ip_is_refused(cluster: dict, tmp_path: Path) -> None:
    broken = table.select(cluster, 4)
    broken["nodes"][1] = {**broken["nodes"][1], "ip": broken["nodes"][0]["ip"]}
    with pytest.raises(nodetable.NodeTableError, match="is also used by"):
        table.write_derived(broken, tmp_path / "nodes.yaml")


def test_host_address_is_the_first_host_of_the_subnet_and_no_node_has_it(cluster: dict) -> None:
    address = table.host_address(cluster)
    assert str(address.network) == cluster["subnet"]
    assert str(address.ip) not in {r["ip"] for r in cluster["nodes"]}


def test_deb822_and_one_line_sources_give_the_release_mirror(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text("deb [arch=amd64] http://one.example/debian bookworm main\n")
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://two.example/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main\n\nTypes: deb\nURIs: http://other.example\nSuites: nodistro\n"
        "Components: main\n")
    monkeypatch.setattr(aptsources, "APT_DIR", tmp_path)
    sources = aptsources.debian_sources("bookworm")
    assert [s.uri for s in sources] == ["http://one.example/debian", "http://two.example/debian",
                                        "http://two.example/debian"]
    assert aptsources.mirror(sources) == "http://one.example/debian"


def test_no_source_for_the_release_is_an_error(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sources.list").write_text("deb http://x.example/debian trixie main\n")
    monkeypatch.setattr(aptsources, "APT_DIR", tmp_path)
    with pytest.raises(aptsources.LabError, match="bookworm"):
        aptsources.debian_sources("bookworm")


def test_package_list_drops_comments_and_blanks(tmp_path: Path) -> None:
    listing = tmp_path / "packages.txt"
    listing.write_text("# header\nsudo\n\ngit  # for diagnosenet\n")
    assert image.read_packages(listing) == ["sudo", "git"]


def test_summary_counts_changes_and_names_failed_states() -> None:
    ret = {
        "a": {"__id__": "one", "result": True, "changes": {"x": 1}},
        "b": {"__id__": "two", "result": True, "changes": {}},
        "c": {"__id__": "three", "result": False, "changes": {}, "comment": "broken"},
    }
    result = converge.summarise("astro3", ret)
    assert (result.states, result.changed, result.failed) == (3, ["one"], {"three": "broken"})
    assert not result.ok


def test_summary_of_a_render_error_is_a_failure() -> None:
    result = converge.summarise("astro3", ["Rendering SLS 'base:site' failed: boom"])
    assert not result.ok and "boom" in next(iter(result.failed.values()))


def test_lab_vm_runs_the_vm_lab_commands(capsys: pytest.CaptureFixture[str]) -> None:
    from lab import cli

    with pytest.raises(SystemExit) as done:
        cli.main(["vm", "up", "--help"])
    assert done.value.code == 0
    assert "--cold" in capsys.readouterr().out, "`python -m lab vm up` is not the VM lab's up"


def test_one_lab_at_a_time_in_a_run_folder(tmp_path, monkeypatch) -> None:
    """`up` of one kind refuses while the other kind is up in the same run folder, naming the
    command that takes it down; a lab of its own kind is taken down first."""
    from lab.common import hoststate
    from lab.common.shell import LabError

    monkeypatch.setattr(hoststate, "STATE_FILE", tmp_path / "state.json")
    hoststate.save({"vms": {"astro7": {"pid": 1}}})
    downs = []
    with pytest.raises(LabError, match=r"the VM lab is up: `python -m lab vm down` first"):
        hoststate.take_over("nodes", lambda: downs.append("nodes"))
    hoststate.take_over("vms", lambda: downs.append("vms"))
    assert downs == ["vms"]
    hoststate.save({})
    hoststate.take_over("nodes", lambda: downs.append("nodes"))
    assert downs == ["vms"]


# --- arm64 nodes (python -m lab up --arm64) ---

def test_arm64_nodes_become_gpu_nodes_and_an_unknown_one_is_named(cluster: dict) -> None:
    marked = table.with_arm64(cluster, ["astro0"])
    gpu = {r["name"] for r in marked["nodes"] if r["gpu"]}
    assert gpu == {"astro0"} | {r["name"] for r in cluster["nodes"] if r["gpu"]}
    assert [r["name"] for r in marked["nodes"]] == table.names(cluster)
    with pytest.raises(nodetable.NodeTableError, match=r"--arm64 astro99: not a node of this lab"):
        table.with_arm64(table.select(cluster, 4), ["astro0", "astro99"])


def test_each_architecture_has_an_image_of_its_own() -> None:
    amd64, arm64 = image.image_dir("amd64"), image.image_dir("arm64")
    assert amd64.name.startswith("amd64-") and arm64.name.startswith("arm64-")
    assert amd64.name[6:] != arm64.name[6:], "one recipe hash for both architectures"


@pytest.mark.parametrize("node, included", [("astro0", True), ("astro1", False)])
def test_only_the_arm64_nodes_get_the_arm64_package_pillar(node: str, included: bool) -> None:
    import jinja2
    import yaml

    from lab.containers import install_package

    text = jinja2.Template(install_package.arch_pillar(["astro0", "astro2"])).render(grains={"id": node})
    data = yaml.safe_load(text)
    assert data == ({"include": ["lab_fixture_arm64"]} if included else {}), text
    assert "lab_arch" in (LAB_TABLE.parent / "pillar" / "site.sls").read_text(), "site.sls does not include it"


@pytest.fixture
def fake_binfmt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """binfmt_misc as a folder (mounted: it has ``register``) and the lab state beside it."""
    from lab.common import hoststate
    from lab.containers import binfmt

    misc = tmp_path / "binfmt_misc"
    misc.mkdir()
    (misc / "register").write_text("")
    conf = tmp_path / "qemu-aarch64.conf"
    conf.write_text(":qemu-aarch64:M::x:y:/usr/libexec/qemu-binfmt/aarch64-binfmt-P:OPF\n")
    monkeypatch.setattr(binfmt, "MISC", misc)
    monkeypatch.setattr(binfmt, "CONF", conf)
    monkeypatch.setattr(hoststate, "STATE_FILE", tmp_path / "state.json")
    return misc


QEMU = "/usr/libexec/qemu-binfmt/aarch64-binfmt-P"  # the interpreter of fake_binfmt's conf


def test_binfmt_entry_registered_before_the_lab_is_used_and_left(fake_binfmt: Path) -> None:
    from lab.containers import binfmt

    (fake_binfmt / "qemu-aarch64").write_text(f"enabled\ninterpreter {QEMU}\nflags: POF\n")
    binfmt.register()
    assert binfmt.restore() == [] and binfmt.leftovers() == []
    assert (fake_binfmt / "qemu-aarch64").read_text().startswith("enabled")


@pytest.mark.parametrize("interpreter, flags", [
    (QEMU, ""),  # no F: the interpreter cannot be found inside a container
    (QEMU, "OCF"),  # C: setuid aarch64 binaries as root, the caller's QEMU_* obeyed
    ("/tmp/qemu-aarch64", "OPF"),  # another interpreter than Debian's
])
def test_binfmt_entry_the_lab_cannot_use_safely_is_refused(fake_binfmt: Path, interpreter: str,
                                                           flags: str) -> None:
    from lab.common import hoststate
    from lab.common.shell import LabError
    from lab.containers import binfmt

    (fake_binfmt / "qemu-aarch64").write_text(f"enabled\ninterpreter {interpreter}\nflags: {flags}\n")
    with pytest.raises(LabError, match=r"not .*qemu-aarch64.conf: .*not C .*\(echo -1 >"):
        binfmt.register()
    assert "binfmt" not in hoststate.load(), "a refused entry was recorded as the lab's"


def test_binfmt_down_removes_the_entry_the_lab_registered(fake_binfmt: Path) -> None:
    from lab.common import hoststate
    from lab.containers import binfmt

    (fake_binfmt / "qemu-aarch64").write_text(f"enabled\ninterpreter {QEMU}\nflags: OPF\n")
    hoststate.update(binfmt={"registered": True})
    assert binfmt.leftovers() == ["binfmt: registered not undone"]
    assert binfmt.restore() == ["binfmt qemu-aarch64"]
    assert (fake_binfmt / "qemu-aarch64").read_text() == "-1\n", "the entry was not removed"
    assert binfmt.leftovers() == [] and "binfmt" not in hoststate.load()


def test_arm64_is_a_container_lab_option(capsys: pytest.CaptureFixture[str]) -> None:
    from lab import cli

    for argv, offered in ((["up", "--help"], True), (["vm", "up", "--help"], False)):
        with pytest.raises(SystemExit):
            cli.main(argv)
        assert ("--arm64" in capsys.readouterr().out) is offered, argv
    args = cli.parser().parse_args(["demo", "--arm64", "astro0, astro1"])
    assert args.arm64 == ["astro0", "astro1"]
