"""Rendered config files: golden copies for a master and a worker, checked by the real tools.

Set UPDATE_GOLDEN=1 to rewrite tests/golden/ after an intended change, then review the diff.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from saltrender import PILLAR, REPO, by_id, call, contents, lowstate

from jetson_array import nodetable

PLATFORM = "ubuntu1604-aarch64"
GOLDEN = REPO / "tests" / "golden"
CLUSTER = nodetable.load()
MASTER = CLUSTER["masters"][0]
WORKER = next(r["name"] for r in CLUSTER["nodes"] if r["name"] not in CLUSTER["masters"])


def fstab(node: str, chunks: dict, path: Path) -> str:
    """Write the node's fstab entries with Salt's own mount.set_fstab into ``path``."""
    path.write_text("")
    for chunk in chunks.values():
        if chunk["state"] == "mount" and chunk["fun"] == "fstab_present":
            result = call(
                node, PLATFORM, "mount.set_fstab",
                name=chunk["fs_file"], device=chunk["name"], fstype=chunk["fs_vfstype"],
                opts=chunk["fs_mntops"], dump=0, pass_num=chunk.get("fs_passno", 0),
                config=str(path), match_on=chunk["match_on"],
            )
            assert result == "new", (chunk["__id__"], result)
    return path.read_text()


def rendered(node: str, tmp_path: Path) -> dict[str, str]:
    chunks = by_id(lowstate(node, PLATFORM))
    files = {
        "hosts": contents(chunks["hosts-file"]),
        "sudoers-diagnosenet": contents(chunks["sudoers-dropin-diagnosenet"]),
        "fstab": fstab(node, chunks, tmp_path / "fstab"),
    }
    if "nfs-server-exports" in chunks:
        files["exports"] = contents(chunks["nfs-server-exports"])
    return files


@pytest.mark.parametrize("node", [MASTER, WORKER])
def test_rendered_files_match_golden(node, tmp_path):
    for name, text in rendered(node, tmp_path).items():
        golden = GOLDEN / node / name
        if os.environ.get("UPDATE_GOLDEN"):
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_text(text)
        assert golden.exists(), f"no golden file {golden}: run with UPDATE_GOLDEN=1 and review"
        assert text == golden.read_text(), f"{node}: {name} differs from {golden}"


def test_hosts_has_every_node_on_its_lan_ip_and_no_127_0_1_1(tmp_path):
    text = rendered(WORKER, tmp_path)["hosts"]
    for row in CLUSTER["nodes"]:
        assert re.search(rf"^{re.escape(row['ip'])} {row['name']}$", text, re.M), row["name"]
    assert "127.0.1.1" not in text
    assert re.search(r"^127\.0\.0\.1 localhost$", text, re.M)
    assert re.search(r"^::1 localhost", text, re.M)


def visudo(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["visudo", "-c", "-f", str(path)], capture_output=True, text=True)


def test_sudoers_passes_visudo_and_a_broken_copy_does_not(tmp_path):
    good = tmp_path / "diagnosenet"
    good.write_text(rendered(WORKER, tmp_path)["sudoers-diagnosenet"])
    assert visudo(good).returncode == 0, visudo(good).stderr
    broken = tmp_path / "broken"
    broken.write_text(good.read_text() + f"{CLUSTER['user']['name']} ALL=(root NOPASSWD /bin/sh\n")
    assert visudo(broken).returncode != 0


def test_sudoers_rules_are_exact_root_owned_local_paths(tmp_path):
    text = rendered(WORKER, tmp_path)["sudoers-diagnosenet"]
    home = f"/home/{CLUSTER['user']['name']}"
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        command = line.split("NOPASSWD:", 1)[1].strip()
        assert command.startswith(("/usr/", "/opt/")), line
        assert not command.startswith(home), f"target on the user's home or NFS: {line}"
        if command.startswith("/usr/bin/killall"):
            assert len(command.split()) > 1, f"killall allowed with any argument: {line}"


def findmnt_verify(path: Path) -> tuple[int, list[str]]:
    """Parse errors and the [E] lines other than 'mount point absent on this machine'."""
    out = subprocess.run(
        ["findmnt", "--verify", "--tab-file", str(path)], capture_output=True, text=True
    )
    summary = re.search(r"(\d+) parse errors?", out.stdout + out.stderr)
    assert summary, out.stdout + out.stderr
    errors = [
        line for line in out.stdout.splitlines()
        if "[E]" in line and "unreachable on boot required target" not in line
    ]
    return int(summary.group(1)), errors


@pytest.mark.parametrize("node", [MASTER, WORKER])
def test_fstab_entries_pass_findmnt_verify(node, tmp_path):
    path = tmp_path / "fstab"
    path.write_text(rendered(node, tmp_path)["fstab"])
    assert findmnt_verify(path) == (0, [])
    path.write_text(path.read_text() + "garbage-without-fields\n")
    assert findmnt_verify(path)[0] == 1


def test_fstab_nfs_entries_pin_version_and_never_hang_boot(tmp_path):
    text = rendered(WORKER, tmp_path)["fstab"]
    nfs_lines = [line.split() for line in text.splitlines() if "\tnfs\t" in line]
    assert len(nfs_lines) == len(CLUSTER["masters"])
    for fields in nfs_lines:
        options = fields[3].split(",")
        # The array's L4T kernel builds NFS v3 only; x-systemd.mount-timeout is systemd 233 (the array has 229).
        assert [o for o in options if o.startswith("nfsvers=")] == ["nfsvers=3"]
        assert not [o for o in options if o.startswith("x-systemd.mount-timeout")]
        assert {"_netdev", "nofail", "x-systemd.automount"} <= set(options)


def exportfs_v(exports_text: str, mountpoint: Path, tmp_path: Path) -> str:
    """`exportfs -ra; exportfs -v` on the rendered file, in a private mount namespace."""
    exports = tmp_path / "exports"
    exports.write_text(exports_text)
    script = (
        f"mount --bind {exports} /etc/exports && mount -t tmpfs jetson-test /var/lib/nfs "
        "&& exportfs -ra && exportfs -v"
    )
    out = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout


def exports_for(node: str, mountpoint: Path, tmp_path: Path, export_to: str) -> str:
    """The master's exports rendered with its mountpoint moved to a temp dir (site pillar)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "site.sls").write_text(
        f"nfs:\n  export_to: {export_to}\n  server:\n    mountpoint: {mountpoint}\n"
    )
    chunks = by_id(lowstate(node, PLATFORM, pillar_roots=(PILLAR, site)))
    return contents(chunks["nfs-server-exports"])


@pytest.mark.parametrize("export_to", ["nodes", "subnet"])
def test_exportfs_reads_the_exports_as_the_pillar_says(export_to, tmp_path):
    mountpoint = tmp_path / "exports-root"
    mountpoint.mkdir()
    text = exports_for(MASTER, mountpoint, tmp_path, export_to)
    listed = re.findall(rf"^{re.escape(str(mountpoint))}\s+(\S+?)\((\S+)\)$",
                        exportfs_v(text, mountpoint, tmp_path), re.M)
    expected = (
        [CLUSTER["subnet"]] if export_to == "subnet" else [r["ip"] for r in CLUSTER["nodes"]]
    )
    assert sorted(client for client, _ in listed) == sorted(expected)
    fsid = CLUSTER["masters"].index(MASTER) + 1
    for client, options in listed:
        options = options.split(",")
        assert "<world>" not in client
        # mp (shown as mountpoint): exported only while the SSD is mounted at the export root.
        assert {"rw", "sync", "root_squash", f"fsid={fsid}", "mountpoint"} <= set(options), (client, options)
        assert "no_root_squash" not in options


def test_exportfs_check_can_fail_on_a_world_export(tmp_path):
    mountpoint = tmp_path / "exports-root"
    mountpoint.mkdir()
    listed = exportfs_v(f"{mountpoint} *(rw)\n", mountpoint, tmp_path)
    assert "<world>" in listed
