"""The highstate renders for every node of a table, on both platforms, with the states its roles ask for."""

from __future__ import annotations

import re
import shlex

import mesh_keys
import pytest
import yaml
from saltrender import PILLAR, PLATFORMS, REPO, RenderError, by_id, call, contents, lowstate
from sshd import public_key

from jetson_array import nodetable

MASTER_ID = nodetable.load()["masters"][0]

TABLES = {"real": None, "table5": REPO / "tests" / "data" / "table5.yaml"}


def _cases():
    for label, path in TABLES.items():
        cluster = nodetable.load(str(path) if path else None)
        for row in cluster["nodes"]:
            yield pytest.param(label, row["name"], id=f"{label}-{row['name']}")


def _cluster(label: str) -> dict:
    path = TABLES[label]
    return nodetable.load(str(path) if path else None)


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
@pytest.mark.parametrize(("label", "node"), list(_cases()))
def test_highstate_gives_each_node_the_states_of_its_roles(label, node, platform):
    cluster = _cluster(label)
    row = nodetable.node_row(cluster, node)
    chunks = by_id(lowstate(node, platform, table=TABLES[label]))

    # NFS server states only on masters.
    assert any(i.startswith("nfs-server-") for i in chunks) == row["is_master"]
    # One client mount per master, in mount-index order; the own master's one is a bind mount.
    mounts = {i: c for i, c in chunks.items() if re.fullmatch(r"nfs-client-mount-\d+", i)}
    assert sorted(mounts) == [f"nfs-client-mount-{i}" for i in range(len(cluster["masters"]))]
    for mount in nodetable.mounts(cluster):
        chunk = mounts[f"nfs-client-mount-{mount['index']}"]
        assert chunk["fs_file"] == mount["path"]
        if mount["master"] == node:
            assert (chunk["name"], chunk["fs_vfstype"]) == ("/exports", "none")
            assert "bind" in chunk["fs_mntops"].split(",")
        else:
            assert chunk["name"] == f"{mount['server_ip']}:/exports"
            assert chunk["fs_vfstype"] == "nfs"
    # GPU stack only on GPU nodes.
    gpu_sls = {c["__sls__"].split(".")[0] for c in chunks.values()} & {"gpu_stack", "diagnosenet"}
    assert bool(gpu_sls) == row["gpu"]
    # The user and the hostname come from the table.
    assert chunks["cluster-user-account"]["uid"] == cluster["user"]["uid"]
    assert chunks["hosts-hostname-file"]["contents"] == node


def test_minion_outside_the_table_gets_no_state():
    with pytest.raises(RenderError, match="minion 'intruder' is not a node of the table"):
        lowstate("intruder", "debian12-x86_64")


def test_bad_table_stops_pillar_and_names_the_culprit(tmp_path):
    table = tmp_path / "nodes.yaml"
    text = (REPO / "tests" / "data" / "table5.yaml").read_text()
    table.write_text(text.replace("ip: 192.168.50.14", "ip: 192.168.50.12"))
    errors = call("tx0", "debian12-x86_64", "pillar.items", unmask=True, table=table).get("_errors", [])
    assert any("node tx4 (row 4): field 'ip' 192.168.50.12 is also used by node tx2" in e for e in errors), errors
    with pytest.raises(RenderError, match="field 'ip' 192.168.50.12"):
        lowstate("tx0", "debian12-x86_64", table=table)


def test_empty_mine_refuses_to_write_the_mesh_files():
    """Rendered without a mine (salt-call --local here, salt-ssh on the array): the guard fails
    and both mesh files require it, so neither is emptied."""
    chunks = by_id(lowstate("astro0", "debian12-x86_64"))
    guard = chunks["ssh-mesh-mine-has-keys"]
    assert guard["fun"] == "fail_without_changes"
    for state_id in ("ssh-mesh-authorized-keys", "ssh-mesh-known-hosts"):
        assert {"test": "ssh-mesh-mine-has-keys"} in chunks[state_id].get("require", []), state_id


def test_collected_keys_in_the_site_pillar_build_the_mesh_files_without_a_mine(tmp_path):
    """The agentless path: tools/mesh_keys.py's pillar file in the site root is read through
    pillar/top.sls and the formula's map; no guard, both files list every node's keys."""
    cluster = nodetable.load()
    keys = {row["name"]: {
        mesh_keys.USER_KEYS: {"mpiuser": {"mpiuser.pub": public_key(f"U{row['number']}") + " x"}},
        mesh_keys.HOST_KEYS: {"ssh_host_ed25519_key.pub": public_key(f"H{row['number']}") + " root@x"},
    } for row in cluster["nodes"]}
    mesh_keys.write(tmp_path / mesh_keys.PILLAR_FILE, keys)
    chunks = by_id(lowstate("astro0", "debian12-x86_64", pillar_roots=(PILLAR, tmp_path)))
    assert "ssh-mesh-mine-has-keys" not in chunks
    authorized = contents(chunks["ssh-mesh-authorized-keys"]).splitlines()[1:]
    assert authorized == [public_key(f"U{r['number']}") + f" mpiuser@{r['name']}" for r in cluster["nodes"]]
    known = contents(chunks["ssh-mesh-known-hosts"]).splitlines()[1:]
    assert known == [f"{r['name']},{r['ip']} " + public_key(f"H{r['number']}") for r in cluster["nodes"]]


@pytest.mark.parametrize("mount_now", [True, False])
def test_rollout_asks_the_exports_only_where_nfs_runs(mount_now, tmp_path):
    """orch.rollout: masters first; with live NFS their exports must answer before the clients."""
    (tmp_path / "site.sls").write_text(f"nfs:\n  mount_now: {mount_now}\n")
    orch = call(
        "astro0", "debian12-x86_64", "slsutil.renderer", "salt://orch/rollout.sls", pillar_roots=(PILLAR, tmp_path)
    )
    assert ("rollout-exports-answer" in orch) is mount_now
    clients = dict(orch["rollout-all-nodes"]["salt.state"][-1])["require"][0]
    assert dict(clients)["salt"] == ("rollout-exports-answer" if mount_now else "rollout-nfs-masters")
    masters = orch["rollout-nfs-masters"]["salt.state"]
    assert {"tgt": nodetable.load()["masters"]} in [dict(item) for item in masters]


# --- sudo: the cluster user's groups, the guards' reasons, the energy capture paths ---------

def _site_lowstate(tmp_path, site: dict, node: str = "astro0", platform: str = "ubuntu1604-aarch64"):
    (tmp_path / "site.sls").write_text(yaml.safe_dump(site))
    return by_id(lowstate(node, platform, pillar_roots=(PILLAR, tmp_path)))


@pytest.mark.parametrize(
    ("site", "groups"), [({}, ["video"]), ({"cluster_user": {"sudo_group": True}}, ["video", "sudo"])]
)
def test_cluster_user_is_in_sudo_only_by_pillar_choice(tmp_path, site, groups):
    account = _site_lowstate(tmp_path, site)["cluster-user-account"]
    assert (account["groups"], account["remove_groups"]) == (groups, True)


@pytest.mark.parametrize("site", [{"groups": ["sudo", "video"]}, {"groups": ["admin"]}, {"sudo_group": "yes"}])
def test_sudo_rights_through_the_group_list_or_a_non_boolean_are_refused(tmp_path, site):
    with pytest.raises(RenderError, match=r"cluster_user:(groups|sudo_group)"):
        _site_lowstate(tmp_path, {"cluster_user": site})


def test_uid_guard_gives_its_reason_as_the_comment_under_a_stable_name(tmp_path):
    """An existing account with other ids (here the host's `nobody`): the summary line must say why."""
    guard = _site_lowstate(tmp_path, {"cluster_user": {"name": "nobody"}})["cluster-user-uid-guard"]
    assert guard["name"] == "cluster_user uid/gid guard"
    assert "user nobody exists with uid 65534" in guard["comment"] and "usermod would chown" in guard["comment"]


def test_capture_recorder_and_wrapper_are_rendered_with_their_absolute_paths(tmp_path):
    chunks = _site_lowstate(tmp_path, {})
    wrapper, recorder = chunks["diagnosenet-capture-wrapper"], chunks["diagnosenet-capture-recorder"]
    tegrastats = chunks["diagnosenet-capture-tegrastats"]
    assert wrapper["context"] == recorder["context"] == {"tegrastats": tegrastats["name"], "wrapper": wrapper["name"]}
    assert tegrastats["source"] == "/home/nvidia/tegrastats"  # L4T R28.1: in the nvidia user's home
    for chunk in (wrapper, recorder, tegrastats):
        assert (chunk["user"], chunk["mode"]) == ("root", "0755") and chunk["name"].startswith("/opt/")


@pytest.mark.parametrize("bad", ["/opt/e/bin/x y", "/opt/e/../../tmp/x", "opt/x", "/opt/x;id", "/opt/x\n"])
def test_a_capture_path_that_is_not_plain_is_refused_naming_the_key(tmp_path, bad):
    with pytest.raises(RenderError, match="diagnosenet:capture:wrapper"):
        _site_lowstate(tmp_path, {"diagnosenet": {"capture": {"wrapper": bad}}})


# ---- nfs: the version the kernels can do, the guard before any NFS change, the export layout

NFS_CHANGES = (
    "nfs-client-mount-",
    "nfs-client-mountpoint-",
    "nfs-client-service-",
    "nfs-server-exports",
    "nfs-server-service",
    "nfs-server-requires-ssd",
    "nfs-server-export-root",
)


def _nfs_chunks(node: str, platform: str, tmp_path=None, site: str = "") -> dict:
    roots = ()
    if site:
        (tmp_path / "site.sls").write_text(site)
        roots = (PILLAR, tmp_path)
    return by_id(lowstate(node, platform, pillar_roots=roots))


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_every_nfs_mount_is_v3_where_a_kernel_offers_no_more(platform):
    """L4T kernels offer v3; Debian 12's offers 4.2 but the masters are unknown without a mine: v3."""
    chunks = _nfs_chunks("astro0", platform)
    assert chunks["nfs-version-supported"]["fun"] == "succeed_without_changes"
    nfs = [c for i, c in chunks.items() if i.startswith("nfs-client-mount-") and c["fs_vfstype"] == "nfs"]
    assert nfs and all("nfsvers=3" in c["fs_mntops"].split(",") for c in nfs)
    assert not [c for c in nfs if "x-systemd.mount-timeout" in c["fs_mntops"]], "systemd 233 option"


def test_a_pin_the_l4t_kernel_cannot_do_fails_before_any_nfs_change(tmp_path):
    chunks = _nfs_chunks(MASTER_ID, "ubuntu1604-aarch64", tmp_path, "nfs:\n  version: '4.2'\n")
    guard = chunks["nfs-version-supported"]
    assert guard["fun"] == "fail_without_changes"
    for words in (MASTER_ID, "NFS 4.2", "offers ['2', '3']", "fstab and exports were left as they are"):
        assert words in guard["comment"], (words, guard["comment"])
    changing = [i for i in chunks if i.startswith(NFS_CHANGES) and not i.endswith("-automount")]
    assert changing
    for state_id in changing:
        assert {"test": "nfs-version-supported"} in chunks[state_id].get("require", []), state_id


def test_a_pin_the_kernel_can_do_is_mounted(tmp_path):
    chunks = _nfs_chunks("astro0", "debian12-x86_64", tmp_path, "nfs:\n  version: '4.2'\n")
    assert chunks["nfs-version-supported"]["fun"] == "succeed_without_changes"
    assert "nfsvers=4.2" in chunks["nfs-client-mount-0"]["fs_mntops"].split(",")


def test_export_root_is_roots_the_package_too_the_data_the_users():
    cluster = nodetable.load()
    package = cluster["install_package"]
    chunks = _nfs_chunks(package["master"], "ubuntu1604-aarch64")
    root = chunks["nfs-server-export-root"]
    assert (root["name"], root["user"], root["group"], root["mode"]) == ("/exports", "root", "root", "0755")
    data = chunks["nfs-server-data-dir"]
    assert (data["name"], data["user"]) == ("/exports/data", cluster["user"]["name"])
    pkg = chunks["nfs-server-package-dir"]
    assert (pkg["name"], pkg["user"], pkg["mode"]) == (f"/exports/{package['dir']}", "root", "0755")
    assert chunks["nfs-server-fstab"]["name"] == "LABEL=cluster_files"
    dropin = chunks["nfs-server-requires-ssd"]
    assert dropin["name"] == "/etc/systemd/system/nfs-server.service.d/jetson-requires-ssd.conf"
    assert "RequiresMountsFor=/exports" in dropin["contents"]
    other = next(m for m in cluster["masters"] if m != package["master"])
    assert "nfs-server-package-dir" not in _nfs_chunks(other, "ubuntu1604-aarch64")


def test_ssd_values_reach_the_shell_quoted(tmp_path):
    """A device name with shell syntax either stops the pillar (table schema) or reaches
    blkid, e2label and prepare-device.sh as one quoted word."""
    hostile = "/dev/sdb$(touch /tmp/p) x True"
    table = tmp_path / "nodes.yaml"
    table.write_text(
        (REPO / "tests" / "data" / "table5.yaml").read_text().replace("ssd: /dev/sdb}", f"ssd: '{hostile}'}}")
    )
    try:
        chunks = by_id(lowstate("tx1", "debian12-x86_64", table=table))
    except RenderError as err:
        assert "ssd" in str(err), err
        return
    quoted = shlex.quote(hostile)
    assert chunks["nfs-server-device"]["args"] == f"{quoted} cluster_files False"
    assert quoted in chunks["nfs-server-device"]["unless"]
    assert f"dev={quoted};" in chunks["nfs-server-label"]["name"]
    assert quoted in chunks["nfs-server-label"]["unless"]


def test_rollout_does_not_stop_for_a_worker_and_never_goes_on_without_a_master():
    orch = call("astro0", "debian12-x86_64", "slsutil.renderer", "salt://orch/rollout.sls")
    steps = {
        sid: dict((k, v) for item in body[next(iter(body))] if isinstance(item, dict) for k, v in item.items())
        for sid, body in orch.items()
    }
    cluster = nodetable.load()
    workers = [r["name"] for r in cluster["nodes"] if r["name"] not in cluster["masters"]]
    assert steps["rollout-ssh-keys"]["tgt"] == cluster["masters"]
    assert steps["rollout-ssh-keys-workers"]["tgt"] == workers
    required = [req for body in steps.values() for req in body.get("require", [])]
    assert {"salt": "rollout-ssh-keys-workers"} not in required, "a worker's failure would stop the rollout"
    for sid, body in steps.items():
        assert "fail_minions" not in body and "allow_fail" not in body, sid
    # cmd as a kwarg: an arg "d=/exports; ..." would be parsed as the keyword d.
    assert "arg" not in steps["rollout-exports-answer"]
    assert "mountpoint -q" in steps["rollout-exports-answer"]["kwarg"]["cmd"]
    # Only a highstate syncs custom modules and grains: synced and reloaded before the mine and NFS.
    order = [
        sid
        for sid in orch
        if sid in ("rollout-sync", "rollout-grains-refresh", "rollout-mine-update", "rollout-nfs-masters")
    ]
    assert order == ["rollout-sync", "rollout-grains-refresh", "rollout-mine-update", "rollout-nfs-masters"]
    assert steps["rollout-sync"]["name"] == "saltutil.sync_all"


@pytest.mark.parametrize("node", [MASTER_ID, nodetable.load()["install_package"]["master"], "astro0"])
def test_no_file_state_under_the_users_home_follows_a_link(node, tmp_path):
    """The cluster user owns its home: any path there may be a link it planted (to /etc/passwd,
    /root/.ssh). Every file state below the home must refuse a link (directories) or replace it
    (files), never write or chmod through it."""
    home = "/home/" + nodetable.load()["user"]["name"] + "/"
    user_written = (home, "/exports/")  # the export root is root's; what is below it was the user's
    # a site root of its own: a fresh Caller, whatever table an earlier test rendered
    rendered = lowstate(node, "ubuntu1604-aarch64", pillar_roots=(PILLAR, tmp_path))
    chunks = [c for c in rendered if c["state"] == "file" and str(c.get("name", "")).startswith(user_written)]
    assert chunks, f"{node}: no file state under {home}"
    following = [c["__id__"] for c in chunks
                 if (c["fun"] == "directory" and c.get("allow_symlink", True))
                 or (c["fun"] == "managed" and c.get("follow_symlinks", True))]
    assert not following, f"{node}: file states that follow a link the user planted: {following}"


def test_stock_accounts_that_exist_get_their_password_locked(tmp_path):
    """Pillar cluster_user:lock_accounts: a state for each account the node has (here the host's
    `nobody`), none for one it lacks; the name reaches the shell quoted."""
    chunks = _site_lowstate(tmp_path, {"cluster_user": {"lock_accounts": ["nobody", "no-such-account"]}})
    locks = {k: v for k, v in chunks.items() if k.startswith("cluster-user-stock-account-locked-")}
    assert list(locks) == ["cluster-user-stock-account-locked-nobody"]
    assert locks["cluster-user-stock-account-locked-nobody"]["name"] == "passwd -l nobody"
