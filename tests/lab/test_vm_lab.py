"""The VM lab (qemu, real kernels): NFS for real, the SSD guard, reboots, a dead master.

One VM lab for the module (the three masters of the lab table, docs/vm-lab.md);
the checks run in file order, each on the cluster the previous ones left: rollout, the
acceptance suite with live NFS, the SSD guard on a spare disk, a refused outsider, a master
powered off while every other VM reboots, what its death fails, and its
recovery. Needs root, qemu and vde2 (Makefile deps).
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

pytestmark = [
    pytest.mark.vm,
    pytest.mark.skipif(os.geteuid() != 0, reason="the VM lab needs root (qemu, vde, master)"),
    pytest.mark.skipif(not (shutil.which("qemu-system-x86_64") and shutil.which("vde_switch")),
                       reason="qemu-system-x86 and vde2 are not installed (make deps)"),
]

from jetson_array import nodetable  # noqa: E402
from lab.common import converge, master, table, validate  # noqa: E402
from lab.common.paths import LAB_TABLE, REPORTS_DIR  # noqa: E402
from lab.containers import lifecycle  # noqa: E402
from lab.vm import lifecycle as vm  # noqa: E402
from lab.vm import node as vm_node  # noqa: E402

LIVE_NFS_CHECKS = [  # validation/test_nfs.py checks that only run with nfs:mount_now true
    "test_cloud_mount_comes_from_its_master",
    "test_cloud_mount_is_writable_by_user",
    "test_nfs_write_is_read_on_next_node_and_master",
    "test_nfs_lock_taken_on_one_node_is_refused_on_another",
]


@pytest.fixture(scope="module")
def cluster() -> Iterator[dict[str, Any]]:
    with lifecycle.locked():
        # The masters only: each is an NFS client of the two others' exports, as a worker is of
        # all three (the container lab has the workers). A fourth, worker VM added a quarter
        # to the TCG time of every step and no kernel path the masters' mounts do not take.
        up = vm.up(len(table.load(LAB_TABLE)["masters"]))
        try:
            yield up
        finally:
            assert vm.down() == [], "the VM lab left processes behind"


def names(cluster: dict[str, Any]) -> list[str]:
    return table.names(cluster)


def client(cluster: dict[str, Any]) -> str:
    """A node that is only a client here: neither the master whose disks the SSD tests use
    (the first) nor the one that dies (the last)."""
    return next(n for n in names(cluster) if n not in (cluster["masters"][0], cluster["masters"][-1]))


def apply(nodes: list[str], label: str) -> dict[str, converge.NodeResult]:
    return converge.apply_all(nodes, label)


def suite(label: str, tier: str = "quick") -> tuple[int, dict[str, Any]]:
    """The acceptance suite on every VM (one xdist worker per node); (exit code, report). The
    quick tier (configuration, mounts, mesh) after reboots and a dead master: the fingerprint
    phase (NFS throughput) runs once, after the rollout."""
    report = REPORTS_DIR / f"acceptance-{label}.json"
    code, data = validate.run_suite(report, ["-n", "4", "--tier", tier], quiet=True)
    assert data, f"the acceptance suite wrote no report {report} (pytest exit {code})"
    return code, data


def checks(data: dict[str, Any], node: str) -> list[dict[str, Any]]:
    return data["hosts"][node]["checks"]


def failed(data: dict[str, Any], node: str) -> list[str]:
    return [f"{c['check']}: {c['reason']}" for c in checks(data, node) if c["outcome"] == "failed"]


def test_rollout_then_reapply_changes_nothing(cluster: dict[str, Any]) -> None:
    # orch.rollout ends with state.apply on every node (the first apply).
    ok, summary = converge.rollout()
    assert ok, f"orch.rollout failed:\n{summary}"
    again = apply(names(cluster), "vm second apply")
    assert {n: r.failed for n, r in again.items() if r.failed} == {}
    assert {n: r.changed for n, r in again.items() if r.changed} == {}, "re-apply changed states"


def test_acceptance_suite_passes_with_live_nfs(cluster: dict[str, Any]) -> None:
    code, data = suite("rollout", tier="full")
    bad = {n: failed(data, n) for n in names(cluster) if failed(data, n)}
    assert (code, bad) == (0, {}), f"acceptance suite exit {code}"
    mounts = nodetable.mounts(cluster)
    for node in names(cluster):
        ran = {c["check"]: c["outcome"] for c in checks(data, node)}
        for check in LIVE_NFS_CHECKS[:2]:
            for mount in mounts:
                key = f"{check}[cloud/{mount['index']}]"
                assert ran.get(key) == "passed", f"{node}: {key} is {ran.get(key)}, not passed"
        for cross in LIVE_NFS_CHECKS[2:]:
            assert ran.get(cross) == "passed", f"{node}: {cross} is {ran.get(cross)}"
    _nfs_figures_are_reported_and_stored(data, names(cluster), mounts)


def _nfs_figures_are_reported_and_stored(data: dict[str, Any], nodes: list[str], mounts: list[dict]) -> None:
    """The fingerprint phase measured each export from each node: in the report and the history."""
    import sqlite3

    wanted = [f"nfs_{way}_mbs/cloud/{m['index']}" for m in mounts for way in ("write", "read")]
    missing = {n: [f for f in wanted if f not in data["hosts"][n].get("figures", {})] for n in nodes}
    assert not {n: f for n, f in missing.items() if f}, f"NFS figures missing from the report: {missing}"
    with sqlite3.connect(validate.HISTORY) as conn:
        stored = set(conn.execute("SELECT node, figure FROM figures WHERE run_id = ?", (data["record"]["run_id"],)))
    assert {(n, f) for n in nodes for f in wanted} <= stored, f"NFS figures missing from {validate.HISTORY}"


def nfs_files(node: str) -> str:
    """sha256 of the node's fstab and exports (if any): what NFS must leave alone when refused."""
    return vm.ssh(node, "sha256sum /etc/fstab; test ! -e /etc/exports || sha256sum /etc/exports").stdout


def test_l4t_profile_serves_v3_and_refuses_a_4_2_pin(cluster: dict[str, Any]) -> None:
    """The L4T profile: the masters' nfsd serves no v4, every grain offers no v4, the mounts are
    v3; a pillar pin of NFS 4.2 fails nfs-version-supported naming node, version and what the
    kernel offers, and changes nothing (fstab, exports, no state with changes)."""
    for node in cluster["masters"]:
        served = vm.ssh(node, "cat /proc/fs/nfsd/versions").stdout.split()
        assert "+3" in served and not [v for v in served if v.startswith("+4")], f"{node}: nfsd serves {served}"
    address = next(r["ip"] for r in cluster["nodes"] if r["name"] == cluster["masters"][0])
    v4 = vm.ssh(client(cluster), f"mkdir -p /mnt/v4 && timeout 60 mount -t nfs -o nfsvers=4.2,retry=0 "
                                 f"{address}:/exports /mnt/v4", check=False)
    vm.ssh(client(cluster), "umount /mnt/v4", check=False)
    assert v4.returncode != 0, f"{cluster['masters'][0]} served an NFS 4.2 mount"
    grains = master.salt("-L", ",".join(names(cluster)), "grains.get", "nfs_kernel")
    for node, grain in grains.items():
        assert "3" in grain["client"] and not [v for v in grain["client"] if v.startswith("4")], (node, grain)
    pinned = json.dumps({"nfs": {"version": "4.2"}})
    nodes = [client(cluster), cluster["masters"][0]]
    before = {node: nfs_files(node) for node in nodes}
    reply = master.run_job(nodes, "state.apply", "nfs", f"pillar={pinned}", label="vm apply with nfs 4.2 pinned")
    for node in nodes:
        states = reply.get(node)
        assert isinstance(states, dict), f"{node}: {states!r}"
        guard = next(v for v in states.values() if v.get("__id__") == "nfs-version-supported")
        assert guard["result"] is False, f"{node}: a 4.2 pin was accepted: {guard}"
        for words in (node, "NFS 4.2", "offers ['2', '3']"):
            assert words in guard["comment"], f"{node}: the refusal does not say {words!r}: {guard['comment']}"
        changed = [v.get("__id__") for v in states.values() if v.get("changes")]
        assert changed == [], f"{node}: a refused pin changed {changed}"
        assert nfs_files(node) == before[node], f"{node}: fstab or exports changed"


# A DOS partition table with one Linux partition (sectors 2048..65535), written with python3
# (the image has no fdisk): blkid -p reports PTTYPE=dos.
MBR = ("python3 -c \"import sys; f = open(sys.argv[1], 'r+b'); f.seek(446); "
       "f.write(bytes([0, 0, 2, 0, 0x83, 0xfe, 0xff, 0xff]) + (2048).to_bytes(4, 'little') + "
       "(63488).to_bytes(4, 'little')); f.seek(510); f.write(bytes([0x55, 0xaa]))\" {device}")


def device_state(node: str, device: str) -> tuple[str, str]:
    """(what blkid -p finds on ``device``, its sha256) on ``node``."""
    out = vm.ssh(node, f"blkid -p -o export {device} | grep -E '^(TYPE|PTTYPE)=' | sort | "
                       f"tr '\\n' ' '; echo; sha256sum < {device}").stdout.splitlines()
    return out[0].strip(), out[1].split()[0]


def prepare_device(cluster: dict[str, Any], format_device: bool) -> tuple[bool, str]:
    """Run the state nfs-server-device on the spare disk of the first master."""
    node, device = cluster["masters"][0], vm_node.spare_device()
    pillar = {"nfs": {"server": {"device": device, "format_device": format_device}}}
    reply = master.salt(node, "state.sls_id", "nfs-server-device", "nfs.server",
                        f"pillar={json.dumps(pillar)}", timeout=600)
    states = reply.get(node)
    assert isinstance(states, dict) and states, f"{node}: state.sls_id returned {states!r}"
    (result,) = states.values()
    return result["result"] is True, json.dumps(result)


@pytest.mark.parametrize("content", [
    pytest.param("", id="blank"),
    pytest.param(MBR, id="partition-table"),
    pytest.param("mkfs.ext2 -q {device}", id="ext2-filesystem"),
])
def test_ssd_guard_never_formats_a_used_or_forbidden_disk(
        cluster: dict[str, Any], content: str) -> None:
    node, device = cluster["masters"][0], vm_node.spare_device()
    vm.ssh(node, f"wipefs --all --quiet {device}; {content.format(device=device) or 'true'}")
    before = device_state(node, device)
    # A blank disk is refused without format_device; a used one even with it.
    ok, result = prepare_device(cluster, format_device=bool(content))
    assert not ok, f"{node}: {device} ({before[0] or 'blank'}) was accepted: {result}"
    assert device in result, f"{node}: the failure does not name {device}: {result}"
    assert device_state(node, device) == before, f"{node}: {device} changed"


def test_ssd_guard_formats_a_blank_disk_when_allowed(cluster: dict[str, Any]) -> None:
    node, device = cluster["masters"][0], vm_node.spare_device()
    vm.ssh(node, f"wipefs --all --quiet {device}")
    try:
        ok, result = prepare_device(cluster, format_device=True)
        assert ok, f"{node}: blank {device} not formatted: {result}"
        found = vm.ssh(node, f"blkid -p -o value -s TYPE {device}").stdout.strip()
        assert found == "ext4", f"{node}: {device} has {found!r} after formatting"
    finally:
        # formatted with the SSD's label: left so, /exports would mount either disk at boot
        vm.ssh(node, f"wipefs --all --quiet {device} && udevadm settle")


def outsider_ip(cluster: dict[str, Any]) -> str:
    """The highest address of the subnet that no node and not the lab host uses."""
    subnet = ipaddress.IPv4Network(cluster["subnet"])
    taken = {row["ip"] for row in cluster["nodes"]} | {str(table.host_address(cluster).ip)}
    return next(str(ip) for ip in reversed(list(subnet.hosts())) if str(ip) not in taken)


@contextmanager
def outsider(cluster: dict[str, Any], node: str) -> Iterator[str]:
    """A network namespace on ``node``, on the VM LAN (a macvlan of its LAN link) with an address
    of no node: yields the address; gone afterwards."""
    address, prefix = outsider_ip(cluster), ipaddress.IPv4Network(cluster["subnet"]).prefixlen
    row = next(r for r in cluster["nodes"] if r["name"] == node)
    lan = vm.ssh(node, f"ip -br link | awk '$3 == \"{vm_node.lan_mac(row)}\" {{print $1}}'")
    vm.ssh(node, f"ip netns add outsider && ip link add outside link {lan.stdout.strip()} "
                 f"type macvlan mode bridge && ip link set outside netns outsider && "
                 f"ip -n outsider addr add {address}/{prefix} dev outside && "
                 "ip -n outsider link set outside up && mkdir -p /mnt/outsider")
    try:
        yield address
    finally:
        vm.ssh(node, "umount /mnt/outsider; ip netns del outsider", check=False)


def test_client_outside_the_table_is_refused(cluster: dict[str, Any]) -> None:
    """Every master refuses a mount from an address of no node. The outsider sits on another
    node than the server: a macvlan never reaches its own parent's address."""
    for mount in nodetable.mounts(cluster):
        server, node = mount["server_ip"], next(n for n in names(cluster) if n != mount["master"])
        with outsider(cluster, node) as address:
            reach = vm.ssh(node, f"ip netns exec outsider timeout 20 bash -c "
                                 f"'</dev/tcp/{server}/2049'", check=False)
            assert reach.returncode == 0, f"{address} on {node} cannot reach {server}:2049: {reach.stderr}"
            tried = vm.ssh(node, f"ip netns exec outsider timeout 60 mount -t nfs -o "
                                 f"nfsvers=3,nolock,retry=0 {server}:/exports /mnt/outsider",
                           check=False)
            assert tried.returncode != 0, f"{address} mounted {mount['master']}'s export"
            assert "denied" in tried.stderr, f"{mount['master']}: {tried.stderr.strip()}"


def test_master_without_its_ssd_serves_nothing(cluster: dict[str, Any]) -> None:
    """A master whose SSD is gone (here: its label, so `LABEL=` finds no disk) serves nothing:
    the NFS server requires the mount (never the eMMC under /exports), no client can mount its
    export, and the rollout stops at the masters naming the node and the disk."""
    node, other, device = cluster["masters"][0], client(cluster), vm_node.ssd_device()
    address = next(r["ip"] for r in cluster["nodes"] if r["name"] == node)
    # The label goes, udev drops /dev/disk/by-label/cluster_files: the mount unit finds no disk.
    try:
        vm.ssh(node, f"systemctl stop nfs-server.service exports.mount && e2label {device} gone && "
                     f"udevadm trigger --action=change {device} && udevadm settle && "
                     "test ! -e /dev/disk/by-label/cluster_files")
        # Waits for the disk that never comes (systemd's device timeout), starts nothing.
        vm.ssh(node, "systemctl start --no-block nfs-server.service")
        state = vm.ssh(node, "sleep 5; systemctl is-active nfs-server.service; mountpoint /exports",
                       check=False).stdout.split("\n")
        assert state[0] != "active", f"{node}: nfs-server is active without its SSD: {state}"
        tried = vm.ssh(other, f"mkdir -p /mnt/deadssd && timeout 60 mount -t nfs -o nfsvers=3,nolock,retry=0 "
                               f"{address}:/exports /mnt/deadssd", check=False)
        assert tried.returncode != 0, f"{other} mounted {node}'s export without its SSD"
        ok, summary = converge.rollout()
        assert not ok, f"orch.rollout passed with {node}'s SSD gone:\n{summary}"
        assert "FAILED rollout-nfs-masters" in summary, summary
        assert f"{node}: nfs-server-label" in summary and device in summary, summary
    finally:
        vm.ssh(other, "umount /mnt/deadssd", check=False)
        vm.ssh(node, f"e2label {device} cluster_files && udevadm trigger {device} && udevadm settle && "
                     "systemctl start nfs-server.service")
    assert vm.ssh(node, "mountpoint -q /exports && exportfs -v", check=False).stdout.startswith("/exports")


def test_reboot_with_a_master_off_reaches_multi_user(cluster: dict[str, Any]) -> None:
    """The last master is powered off (qemu quits: no shutdown); every other VM reboots and
    reaches multi-user.target (automount + nofail, _netdev: a dead master never hangs a boot).
    Before the plug is pulled the export is unmounted everywhere, as its idle timeout would:
    a client that shuts down holding a dead hard mount waits out systemd's stop timeout, which
    proves nothing and costs minutes of TCG time (docs/operations.md: do not reboot clients
    of a dead master)."""
    dead, index = cluster["masters"][-1], len(cluster["masters"]) - 1
    alive = [n for n in names(cluster) if n != dead]
    unit = next(m["unit"] for m in nodetable.mounts(cluster) if m["index"] == index)
    for node in alive:
        vm.ssh(node, f"systemctl stop {unit}.mount", check=False)
    vm.power_off(dead)
    before = vm.boot_ids(alive)
    vm.reboot(alive)
    after = vm.boot_ids(alive)
    assert [n for n in alive if before[n] == after[n]] == [], "a VM did not reboot"
    states = {n: vm.ssh(n, "systemctl is-active multi-user.target", check=False).stdout.strip() for n in alive}
    assert {n: s for n, s in states.items() if s != "active"} == {}, f"multi-user.target with {dead} off"


def test_dead_master_fails_only_what_needs_it(cluster: dict[str, Any]) -> None:
    """After the reboot above: the suite on every VM marks the dead master unreachable and fails
    only its export's checks on the others, so mounts, swap, hostname and the live masters'
    exports came back from fstab, systemd and /etc/exports without a re-apply."""
    dead = cluster["masters"][-1]
    index = cluster["masters"].index(dead)
    alive = [n for n in names(cluster) if n != dead]
    # A re-apply on a live client of the dead master and on the dead one: the live node converges
    # without it (automount: nothing waits for its export), the dead one is named at once
    # (manage.down), not after a timeout. (The live masters are such clients too; their applies
    # would add ~2 min of TCG time and prove nothing this client's does not.)
    results = apply([client(cluster), dead], "vm apply with a dead master")
    failed_nodes = {n: r.failed for n, r in results.items() if r.failed}
    assert list(failed_nodes) == [dead], f"failed states with {dead} off: {failed_nodes}"
    assert f"{dead} is down" in str(failed_nodes[dead]), failed_nodes[dead]
    code, data = suite("dead-master")
    assert code != 0 and data["hosts"][dead]["status"] == "unreachable", data["hosts"][dead]
    for node in alive:
        wrong = [f for f in failed(data, node) if f"cloud/{index}" not in f
                 and not f.startswith(LIVE_NFS_CHECKS[2])]
        assert wrong == [], f"{node}: failures beyond {dead}'s export: {wrong}"
        check = f"{LIVE_NFS_CHECKS[0]}[cloud/{index}]"
        outcome = {c["check"]: c["outcome"] for c in checks(data, node)}.get(check)
        assert outcome == "failed", f"{node}: {check} is {outcome} with {dead} off"


def test_dead_master_back_on_serves_without_a_reapply(cluster: dict[str, Any]) -> None:
    """Powered on again (a cold boot from its own disks, after a pulled plug), the master serves
    its export and the others' automounts reach it by themselves: the suite passes on every VM
    with no re-apply anywhere."""
    dead = cluster["masters"][-1]
    vm.power_on(dead, cluster)
    code, data = suite("master-back")
    bad = {n: failed(data, n) for n in names(cluster) if failed(data, n)}
    assert (code, bad) == (0, {})
