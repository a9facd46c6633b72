"""NFS: every node sees master i's export at ~/cloud/<i>; masters serve /exports from their SSD.

Static checks (fstab, /etc/exports, mount points) always run. Live checks (mounted,
writable, served, coherent across nodes) exist only where pillar nfs:mount_now is true;
elsewhere the cross-node check stands for them, skipped with that reason.
"""

import secrets
import shlex
from typing import Any

import pytest

from validation import parse, pillars, probes
from validation.session import Node, State

# Bounds every access to a mount: a dead master fails the check, never hangs it. (A first
# access to a dead master's automount point itself gives up after systemd's default mount
# timeout, 90 s on systemd 229: this bound is shorter and kills the access instead.)
NFS_TIMEOUT_S = 45
# NFS v3 locks (NLM) wait out the server's grace period (90 s) after its nfsd (re)started.
LOCK_TIMEOUT_S = 150
KILLED = 137  # exit status of `timeout -s KILL` when the command did not finish
LIVE = "exports and fstab are written, nothing is served or mounted: the live NFS checks do not run"


def data_dir(node: Node, mount: dict[str, Any]) -> str:
    """Where the cluster user's data goes on ``mount`` (the export root is root's)."""
    return f"{mount['path']}/{node.formula('nfs')['server']['data_dir']}"


# What the nfs_kernel grain reads, read the same way (salt/_grains/nfs_kernel.py): the config
# file of the minion option nfs_kernel_config, else /proc/config.gz, else /boot/config-<release>;
# a running nfsd's versions.
KERNEL_PROBE = (
    "conf=$(sed -n 's/^nfs_kernel_config:[[:space:]]*//p' /etc/salt/minion /etc/salt/minion.d/*.conf "
    "2>/dev/null | tail -n 1); "
    'for f in $conf /proc/config.gz "/boot/config-$(uname -r)"; do if [ -r "$f" ]; then echo "== config $f"; '
    'case "$f" in *.gz) zcat "$f";; *) cat "$f";; esac | grep "^CONFIG_NFS"; break; fi; done; '
    "if [ -r /proc/fs/nfsd/versions ]; then echo '== nfsd'; cat /proc/fs/nfsd/versions; fi"
)
_KERNELS: dict[str, dict[str, Any]] = {}


def kernel(node: Node) -> dict[str, Any]:
    """``node``'s NFS versions as its nfs_kernel grain has them (read once per run)."""
    if node.name not in _KERNELS:
        grain = pillars.repo_module("salt/_grains/nfs_kernel.py")
        parts: dict[str, str] = {}
        head = ""
        for line in node.run(KERNEL_PROBE).stdout.splitlines():
            if line.startswith("== "):
                head = line[3:]
                parts[head] = ""
            elif head:
                parts[head] += line + "\n"
        config = next((k for k in parts if k.startswith("config ")), None)
        found = {**grain._from_config(parts[config]), "source": config[7:]} if config else {"client": [], "server": []}
        if "nfsd" in parts:
            found["server"] = grain._from_nfsd(parts["nfsd"])
        _KERNELS[node.name] = found
    return _KERNELS[node.name]


def chosen_version(node: Node, state: State) -> str:
    """The NFS version ``node`` must mount with: pillar nfs:version, else the highest its kernel
    and every master's kernel offer (salt/_modules/nfs_version.py, as the formula decides)."""
    nfs = node.formula("nfs")
    masters = {
        m["master"]: kernel(state.node(m["master"])) if m["master"] in state.reachable() else None
        for m in nfs["client"]["mounts"]
        if not m["bind"]
    }
    choice = pillars.repo_module("salt/_modules/nfs_version.py").choose(
        nfs["version"], node.name, kernel(node), masters, nfs["server"]["enabled"], nfs["unknown_server_versions"]
    )
    if choice["error"]:
        pytest.fail(f"{node.name}: {choice['error']}", pytrace=False)
    return str(choice["version"])


def _expected_fstab(node: Node, state: State, mount: dict[str, Any]) -> dict[str, Any]:
    nfs = node.formula("nfs")
    if mount["bind"]:
        return {
            "source": nfs["server"]["mountpoint"],
            "fstype": "none",
            "options": sorted(nfs["client"]["bind_options"]),
        }
    return {
        "source": f"{mount['server_ip']}:{nfs['server']['mountpoint']}",
        "fstype": "nfs",
        "options": sorted([f"nfsvers={chosen_version(node, state)}", *nfs["client"]["options"]]),
    }


def test_cloud_mount_point_is_a_directory(node: Node, mount: dict[str, Any]) -> None:
    status = dict(reversed(line.split(" ", 1)) for line in node.probe("mount_points").out.splitlines())
    what = {"0": "", "1": "is not a directory", "137": "does not answer (its NFS server is down?)"}
    problem = what.get(status.get(mount["path"], "1"), f"cannot be checked (test -d exit {status.get(mount['path'])})")
    assert not problem, f"{node.name}: mount point {mount['path']} (export of {mount['master']}) {problem}"


def test_cloud_mount_has_its_fstab_entry(node: Node, state: State, mount: dict[str, Any], record: Any) -> None:
    entries = parse.fstab_entries(node.probe("fstab").out, "target", mount["path"])
    want = _expected_fstab(node, state, mount)
    have = [{"source": e["source"], "fstype": e["fstype"], "options": sorted(e["options"])} for e in entries]
    record(fstab=have, expected=want)
    assert have, f"{node.name}: /etc/fstab has no entry for {mount['path']} ({mount['master']})"
    assert have == [want], f"{node.name}: /etc/fstab entry for {mount['path']}: {have} != {want}"


def _exported_to(node: Node, server: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The clients (every node IP, or the subnet) and the options of the master's export."""
    nfs = node.formula("nfs")
    clients = [server["subnet"]] if nfs["export_to"] == "subnet" else server["client_ips"]
    return clients, sorted([*nfs["export_options"], f"fsid={server['fsid']}"])


def test_exports_file_matches_pillar(node: Node, nfs_server: dict[str, Any], record: Any) -> None:
    clients, options = _exported_to(node, nfs_server)
    text = node.probe("exports").out
    have = {path: {c: sorted(o) for c, o in cl.items()} for path, cl in parse.exports(text).items()}
    want = {nfs_server["mountpoint"]: {client: options for client in clients}}
    record(exports=have)
    wrong = [f"exports {path} too" for path in have if path not in want]
    mine = have.get(nfs_server["mountpoint"], {})
    wrong += [f"client {c} missing" for c in want[nfs_server["mountpoint"]] if c not in mine]
    wrong += [f"client {c} not in the table" for c in mine if c not in want[nfs_server["mountpoint"]]]
    wrong += [f"{c} options {o} != {options}" for c, o in mine.items() if c in clients and o != options]
    assert not wrong, f"{node.name}: {nfs_server['exports_file']}: " + "; ".join(wrong)


def test_ssd_has_its_fstab_entry(node: Node, nfs_server: dict[str, Any], record: Any) -> None:
    entries = parse.fstab_entries(node.probe("fstab").out, "target", nfs_server["mountpoint"])
    record(fstab=entries)
    have = [(entry["source"], entry["fstype"]) for entry in entries]
    want = (f"LABEL={nfs_server['fs_label']}", "ext4")
    assert have == [want], (
        f"{node.name}: /etc/fstab for {nfs_server['mountpoint']}: {have}, want the ssd {nfs_server['device']} "
        f"by its label: {want}"
    )


def test_export_layout_keeps_the_package_root_owned(node: Node, nfs_server: dict[str, Any], record: Any) -> None:
    """The export root and the install package are root's (read-only to every client: the
    share is sec=sys with root_squash); the users' data has its own directory beside them."""
    root, user = nfs_server["mountpoint"], node.user
    want = {root: "root:root 755", f"{root}/{nfs_server['data_dir']}": f"{user}:{user} 755"}
    package = node.get("cluster:install_package", {})
    if package.get("master") == node.name:
        want[f"{root}/{package['dir']}"] = "root:root 755"
    out = node.run("stat -c '%n %U:%G %a' " + shlex.join(want)).stdout
    have = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    record(layout=have)
    wrong = [
        f"{path} is {have.get(path, 'missing')}, want {mode}" for path, mode in want.items() if have.get(path) != mode
    ]
    assert not wrong, f"{node.name}: export layout: " + "; ".join(wrong)


def _stuck(node: Node) -> dict[str, str]:
    """Mount points of ``node`` that did not answer (a dead NFS server): the preflight's bounded
    `test -d`, then any live check that timed out. Later checks on them fail at once instead of
    waiting NFS_TIMEOUT_S again (the dict lives with the node, on its worker)."""
    if node.stuck is None:
        node.stuck = {}
        for line in node.probe("mount_points").out.splitlines():
            status, _, path = line.partition(" ")
            if status == "137":
                node.stuck[path] = f"did not answer `test -d` within {probes.MOUNT_TIMEOUT_S} s at session start"
    return node.stuck


def _answers(node: Node, mount: dict[str, Any]) -> None:
    reason = _stuck(node).get(mount["path"])
    if reason:
        pytest.fail(f"{node.name}: {mount['path']} ({mount['master']}) {reason}", pytrace=False)


@pytest.mark.where("nfs:mount_now")
def test_cloud_mount_comes_from_its_master(node: Node, state: State, mount: dict[str, Any], record: Any) -> None:
    _answers(node, mount)
    exported = node.formula("nfs")["server"]["mountpoint"]
    paths = [f"{mount['path']}/.", f"{exported}/."] if mount["bind"] else [f"{mount['path']}/."]
    stat = node.run(f"timeout -s KILL {NFS_TIMEOUT_S} stat -L -c %d:%i {shlex.join(paths)}")
    if stat.rc == KILLED:
        _stuck(node)[mount["path"]] = f"did not answer within {NFS_TIMEOUT_S} s"
        _answers(node, mount)
    top = parse.proc_mounts(node.read("/proc/mounts"), mount["path"])
    record(mount=top, stat=stat.stdout.split())
    assert stat.rc == 0, f"{node.name}: {mount['path']} does not answer: {stat.stderr.strip()}"
    if mount["bind"]:
        ids = stat.stdout.split()
        assert ids[0] == ids[1], f"{node.name}: {mount['path']} is not its own {exported} (bind)"
        return
    source = f"{mount['server_ip']}:{exported}"
    assert top and top["source"] == source and top["fstype"].startswith("nfs"), (
        f"{node.name}: {mount['path']} is {top}, want NFS from {source} ({mount['master']})"
    )
    version = f"vers={chosen_version(node, state)}"
    assert version in top["options"], (
        f"{node.name}: {mount['path']} is mounted with {[o for o in top['options'] if o.startswith('vers=')]}, "
        f"not the chosen {version} (pillar nfs:version, the kernels' NFS versions)"
    )
    honoured = [o for o in ("nosuid", "nodev") if o not in top["options"]]
    assert not honoured, (
        f"{node.name}: {mount['path']} is mounted without {', '.join(honoured)}: a setuid file or device "
        "node written on the share (sec=sys: any LAN host that claims a node's IP) would be honoured"
    )


@pytest.mark.where("nfs:mount_now")
def test_cloud_mount_is_writable_by_user(node: Node, mount: dict[str, Any]) -> None:
    _answers(node, mount)
    nonce = secrets.token_hex(8)
    path = shlex.quote(f"{data_dir(node, mount)}/.validation-{node.name}-{nonce}")
    result = node.run_as_user(f"echo {nonce} > {path} && cat {path}; rm -f {path}", timeout=NFS_TIMEOUT_S)
    assert result.stdout.strip() == nonce, (
        f"{node.name}: {node.user} cannot write {mount['path']} ({mount['master']}): "
        f"{result.stderr.strip() or result.stdout.strip()}"
    )


@pytest.mark.where("nfs:mount_now")
def test_ssd_is_mounted_at_exports(node: Node, nfs_server: dict[str, Any], record: Any) -> None:
    device = node.probe("ssd_device").out.strip()
    top = parse.proc_mounts(node.probe("proc_mounts").out, nfs_server["mountpoint"])
    record(mount=top, device=device)
    assert top and top["source"] == device, (
        f"{node.name}: {nfs_server['mountpoint']} is {top}, want the ssd {nfs_server['device']}"
    )
    check = node.run(f"mountpoint -q {shlex.quote(nfs_server['mountpoint'])}")
    assert check.rc == 0, f"{node.name}: mountpoint -q {nfs_server['mountpoint']}: not a mount point"


@pytest.mark.where("nfs:mount_now")
def test_exportfs_serves_pillar_clients(node: Node, nfs_server: dict[str, Any], record: Any) -> None:
    clients, wanted = _exported_to(node, nfs_server)
    options = {"mountpoint" if option == "mp" else option for option in wanted}  # how exportfs -v shows mp
    live = parse.exportfs_v(node.probe("exportfs").out)
    record(exportfs=live)
    mine = live.get(nfs_server["mountpoint"], {})
    wrong = [f"{path} exported too" for path in live if path != nfs_server["mountpoint"]]
    wrong += [f"client {c} missing" for c in clients if c not in mine]
    wrong += [f"client {c} not in the table" for c in mine if c not in clients]
    wrong += [f"{c} lacks {sorted(options - set(o))}" for c, o in mine.items() if options - set(o)]
    assert not wrong, f"{node.name}: exportfs -v: " + "; ".join(wrong)


@pytest.mark.where("nfs:mount_now")
def test_nfs_server_is_active_and_enabled(node: Node, nfs_server: dict[str, Any], record: Any) -> None:
    out = node.probe("nfs_service").out
    have = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    record(**have)
    assert (have.get("ActiveState"), have.get("UnitFileState")) == ("active", "enabled"), (
        f"{node.name}: {nfs_server['service']} is {have.get('ActiveState')}/"
        f"{have.get('UnitFileState')}, want active/enabled"
    )


@pytest.mark.where("nfs:mount_now", reason=LIVE)
def test_nfs_write_is_read_on_next_node_and_master(node: Node, state: State, record: Any) -> None:
    """Each node writes a nonce to every export; the next node and the export's master read
    it back: every node and every export covered with O(N) checks."""
    reader = state.node(state.ring_next(node.name))
    reader.skip_unless("nfs:mount_now", LIVE)
    nonce = secrets.token_hex(8)
    name = f"{node.formula('nfs')['server']['data_dir']}/.validation-coherence-{node.name}"
    mounts = node.formula("nfs")["client"]["mounts"]
    stuck = _stuck(node)
    wrong = [f"{node.name} cloud/{m['index']}: {stuck[m['path']]}" for m in mounts if m["path"] in stuck]
    written = _write(node, [m for m in mounts if m["path"] not in stuck], name, nonce)
    wrong += [f"{node.name} cannot write cloud/{m['index']}" for m in mounts if m["path"] not in set(stuck) | written]
    try:
        seen = _read_back(state, reader, [m for m in mounts if m["path"] in written], name)
    finally:
        node.run_as_user("rm -f " + shlex.join(f"{path}/{name}" for path in written), timeout=NFS_TIMEOUT_S)
    record(seen=seen, nonce=nonce)
    wrong += [f"{where} read {value!r}" for where, value in seen.items() if value != nonce]
    assert not wrong, f"{node.name}: wrote {nonce} to every export: " + "; ".join(wrong)


def _write(node: Node, mounts: list[dict[str, Any]], name: str, nonce: str) -> set[str]:
    """Write ``nonce`` to ``name`` on each mount, each write bounded; the mount paths written."""
    lines = []
    for mount in mounts:
        write = shlex.quote(f"echo {nonce} > {shlex.quote(mount['path'] + '/' + name)}")
        lines.append(f"timeout -s KILL {NFS_TIMEOUT_S} sh -c {write} && echo {shlex.quote(mount['path'])}")
    if not lines:
        return set()
    out = node.run_as_user("; ".join(lines), timeout=NFS_TIMEOUT_S * len(mounts) + 5).stdout
    return set(out.split()) & {mount["path"] for mount in mounts}


def _read_back(state: State, reader: Node, written: list[dict[str, Any]], name: str) -> dict[str, str]:
    """What the next node (through its mounts) and each export's master (from its disk) read."""
    indices, stuck = {m["index"] for m in written}, _stuck(reader)
    seen = {
        f"{reader.name} cloud/{m['index']}": stuck.get(m["path"]) or _read(reader, f"{m['path']}/{name}", True)
        for m in reader.formula("nfs")["client"]["mounts"]
        if m["index"] in indices
    }
    for m in written:
        if m["master"] in state.reachable():
            master = state.node(m["master"])
            exported = master.formula("nfs")["server"]["mountpoint"]
            seen[f"{m['master']} {exported}"] = _read(master, f"{exported}/{name}")
    return seen


def _read(node: Node, path: str, as_user: bool = False) -> str:
    """The content of ``path`` on ``node`` (as root, or as the cluster user through NFS)."""
    if as_user:
        result = node.run_as_user(f"cat {shlex.quote(path)}", timeout=NFS_TIMEOUT_S)
    else:
        result = node.run(f"timeout -s KILL {NFS_TIMEOUT_S} cat {shlex.quote(path)}")
    return result.stdout.strip() if result.rc == 0 else f"error: {result.stderr.strip() or result.rc}"


def _lock_pairs(state: State, node: Node) -> list[tuple[dict[str, Any], Node]]:
    """(mount, other node) for each export ``node`` mounts over NFS: the next reachable node
    that mounts it over NFS too (a master's own export is local there: its flock would not
    meet the NFS client's lock, which the server holds as a POSIX lock)."""
    names = state.reachable()
    order = names[names.index(node.name) + 1 :] + names[: names.index(node.name)] if node.name in names else []
    pairs = []
    for mount in node.formula("nfs")["client"]["mounts"]:
        if mount["bind"]:
            continue
        other = next((n for n in order if n != mount["master"]), None)
        if other:
            pairs.append((mount, state.node(other)))
    return pairs


def _flock(node: Node, path: str, how: str) -> int:
    """``flock <how> <path> true`` as the cluster user; its exit status (KILLED: no answer)."""
    return node.run_as_user(f"flock {how} {shlex.quote(path)} true", timeout=LOCK_TIMEOUT_S).rc


def _lock_problem(node: Node, path: str, other: Node) -> tuple[str, dict[str, Any]]:
    """Hold a flock on ``path`` on ``node``; ``other`` must be refused, then get it once it is
    let go. (what is wrong or '', what was seen)."""
    quoted, held_mark = shlex.quote(path), shlex.quote(f"{path}.held")
    # setsid: the holder (flock and its sleep) is a process group of its own, killed as one. It
    # marks the lock taken (a server in its grace period delays it), the shell waits for that.
    hold = (
        f"rm -f {held_mark} && touch {quoted} && {{ setsid flock -x {quoted} sh -c 'touch \"$1\" && exec sleep $2' "
        f"sh {held_mark} {LOCK_TIMEOUT_S} </dev/null >/dev/null 2>&1 & pid=$!; }} && i=0; "
        f"while [ ! -e {held_mark} ] && [ $i -lt {LOCK_TIMEOUT_S} ]; do sleep 1; i=$((i + 1)); done; "
        f"[ -e {held_mark} ] && echo $pid"
    )
    held = node.run_as_user(hold, timeout=LOCK_TIMEOUT_S + 10)
    pid = held.stdout.strip()
    if not pid.isdigit():
        return f"cannot hold a lock on {path}: {held.stderr.strip() or held.rc}", {}
    try:
        refused = _flock(other, path, "-n")
    finally:
        node.run_as_user(f"kill -- -{pid}", timeout=NFS_TIMEOUT_S)
    freed = _flock(other, path, f"-w {LOCK_TIMEOUT_S}")
    node.run_as_user(f"rm -f {quoted} {held_mark}", timeout=NFS_TIMEOUT_S)
    seen = {"held on": node.name, "tried on": other.name, "flock -n": refused, "after release": freed}
    if refused != 1:
        return f"{other.name} `flock -n` exit {refused}, want 1 (refused while {node.name} holds it)", seen
    if freed != 0:
        return f"{other.name} cannot lock it once {node.name} let go (exit {freed})", seen
    return "", seen


@pytest.mark.where("nfs:mount_now", reason=LIVE)
def test_nfs_lock_taken_on_one_node_is_refused_on_another(node: Node, state: State, record: Any) -> None:
    """For each export this node mounts over NFS: a flock it holds on a file there is refused to
    another node, which gets it once let go (NFS v3 locks need lockd and statd on both sides)."""
    stuck, wrong, seen = _stuck(node), [], {}
    for mount, other in _lock_pairs(state, node):
        where = f"cloud/{mount['index']}"
        if mount["path"] in stuck:
            wrong.append(f"{where}: {stuck[mount['path']]}")
            continue
        path = f"{data_dir(node, mount)}/.validation-lock-{node.name}"
        problem, seen[where] = _lock_problem(node, path, other)
        wrong += [f"{where}: {problem}"] if problem else []
    record(locks=seen)
    assert not wrong, f"{node.name}: NFS locks: " + "; ".join(wrong)
