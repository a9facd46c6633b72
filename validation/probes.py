"""What the preflight reads on a node: every read-only command the static checks parse.

All of a node's probes run in ONE ssh round trip at session start (preflight.py), every node
at once: a check then parses ``node.probe(name)`` instead of running its own command. The
cluster user's ssh to its mesh peers is a probe too (it only reads: every node's hops run at
the same time instead of one check after another). Commands that change something or
depend on other checks (NFS writes and reads, automount, mpirun, the GPU job) run in their
checks. Paths and names come from pillar and formula settings.
"""

from __future__ import annotations

import base64
import secrets
import shlex
from collections.abc import Sequence
from typing import Any

from jetson_array import merge
from validation import pillars

MOUNT_TIMEOUT_S = 10
# How the cluster user's ssh must work for MPI: keys only, host keys pinned, no prompt.
SSH_OPTIONS = "-o BatchMode=yes -o StrictHostKeyChecking=yes -o ConnectTimeout=10"


def for_node(pillar: dict[str, Any], peers: Sequence[str] = ()) -> dict[str, str]:
    """name -> shell command, for this node's pillar and its mesh ``peers`` (node names)."""
    probes = {"uid": "id -u", "hostname": "hostname", "host_keys": "cat /etc/ssh/ssh_host_*_key.pub",
              "machine": "uname -m"}  # outliers are judged among nodes of one machine type (verdicts.py)
    for part in (_users, _names, _nfs, _sudo, _swap, _gpu):
        probes |= part(pillar)
    if peers:
        probes["mesh"] = mesh(pillar["cluster_user"]["name"], peers)
    return probes


def as_user(user: str, command: str, timeout: int | None = None) -> str:
    """``command`` (a shell snippet) run as ``user`` in its home through sudo, optionally bounded."""
    bound = f"timeout -s KILL {timeout} " if timeout else ""
    return f"sudo -n -H -u {shlex.quote(user)} -- {bound}sh -c {shlex.quote(f'cd && {command}')}"


def mesh(user: str, peers: Sequence[str]) -> str:
    """As ``user``, ssh to each peer by name (as MPI does): a line '<peer> <last line it printed>'."""
    hops = [f"echo {p} $(ssh {SSH_OPTIONS} {p} hostname 2>&1 | tail -n1)" for p in map(shlex.quote, peers)]
    return as_user(user, "; ".join(hops), timeout=15 + 12 * len(peers))


def broken_hops(out: str, peers: Sequence[str]) -> dict[str, str]:
    """From the output of mesh(): the peers that did not answer with their own name -> what
    ssh said instead."""
    answers = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    return {peer: answers.get(peer, "no answer") for peer in peers if answers.get(peer) != peer}


def _users(pillar: dict[str, Any]) -> dict[str, str]:
    user = shlex.quote(pillar["cluster_user"]["name"])
    home, key = user_paths(pillar)
    files = [home, f"{home}/.ssh", key, f"{key}.pub", f"{home}/.ssh/authorized_keys"]
    mesh = pillars.formula(pillar, "ssh_mesh")
    known_hosts = mesh["known_hosts_file"]
    return {
        "passwd": f"getent passwd {user}",
        "groups": f"id -Gn {user}",
        "passwd_status": f"passwd -S {user}",
        "user_files": "stat -c '%n %a %U %G' " + shlex.join(files),
        # the root-owned copy the mine publishes, never the user's file (a link there would make
        # this root probe read what it points at: user_files shows the file's own type and owner)
        "user_key": f"cat {shlex.quote(mesh['published_key'])}",
        "authorized_keys": "cat " + shlex.quote(f"{home}/.ssh/authorized_keys"),
        "known_hosts": f"cat {shlex.quote(known_hosts)}",
    }


def user_paths(pillar: dict[str, Any]) -> tuple[str, str]:
    """The cluster user's home and private key path (the ssh_mesh formula's key type)."""
    home = pillar["cluster_user"]["home"]
    return home, f"{home}/.ssh/id_{pillars.formula(pillar, 'ssh_mesh')['key_type']}"


def _names(pillar: dict[str, Any]) -> dict[str, str]:
    hosts = pillars.formula(pillar, "hosts")
    return {
        "etc_hostname": "cat /etc/hostname",
        "getent_hosts": "getent hosts " + shlex.join(entry["name"] for entry in hosts["entries"]),
        "hosts_file": f"cat {shlex.quote(hosts['file'])}",
    }


def _nfs(pillar: dict[str, Any]) -> dict[str, str]:
    nfs = pillars.formula(pillar, "nfs")
    paths = shlex.join(mount["path"] for mount in nfs["client"]["mounts"])
    # A mount point that is an NFS mount whose server died hangs a stat: bounded, exit 137 then.
    test_dirs = f'for d in {paths}; do timeout -s KILL {MOUNT_TIMEOUT_S} test -d "$d"; echo "$? $d"; done'
    probes = {"fstab": "cat /etc/fstab", "mount_points": test_dirs}
    server = nfs["server"]
    if server["enabled"]:
        probes |= {
            "exports": f"cat {shlex.quote(server['exports_file'])}",
            "exportfs": "exportfs -v",
            "nfs_service": f"systemctl show -p ActiveState -p UnitFileState {shlex.quote(server['service'])}",
            "ssd_device": f"readlink -f {shlex.quote(server['device'])}",
            "proc_mounts": "cat /proc/mounts",
        }
    return probes


def _sudo(pillar: dict[str, Any]) -> dict[str, str]:
    sudoers = pillars.formula(pillar, "sudoers")
    probes = {"visudo": f"{shlex.quote(sudoers['visudo'])} -c 2>&1",
              "sudo_l": f"sudo -l -U {shlex.quote(sudoers['user'])}"}
    for name in sudoers["files"]:
        path = shlex.quote(f"{sudoers['dir']}/{name}")
        probes |= {f"sudoers_meta:{name}": f"stat -c '%a %U %G' {path}", f"sudoers_file:{name}": f"cat {path}"}
    return probes


def _swap(pillar: dict[str, Any]) -> dict[str, str]:
    swap_file = shlex.quote(pillars.formula(pillar, "swap")["file"])
    return {"swap_file": f"stat -c '%s %a %U' {swap_file}", "proc_swaps": "cat /proc/swaps"}


def jetpack_of(stack: dict[str, Any]) -> dict[str, Any] | None:
    """The gpu_stack settings' chosen JetPack entry (None if the map has no such JetPack)."""
    return stack["jetpacks"].get(str(stack["jetpack"]))


def gpu_packages(jetpack: dict[str, Any]) -> dict[str, str]:
    """The JetPack's CUDA toolkit and cuDNN packages -> the version each must have."""
    wanted = {jetpack["cuda"]["toolkit_package"]: jetpack["cuda"]["version"]}
    wanted |= {a["package"]: jetpack["cudnn"]["version"] for a in jetpack["artifacts"] if a["role"] == "cudnn"}
    return wanted


def _gpu(pillar: dict[str, Any]) -> dict[str, str]:
    stack = pillars.formula(pillar, "gpu_stack")
    jetpack = jetpack_of(stack)
    if not pillar["node"]["gpu"] or not jetpack:
        return {}
    return {
        "nv_tegra_release": "cat /etc/nv_tegra_release",
        "dpkg": "dpkg-query -W -f '${Package} ${Version} ${db:Status-Status}\\n' " + shlex.join(gpu_packages(jetpack)),
        "nvcc": f"{shlex.quote(stack['cuda_link'])}/bin/nvcc --version 2>&1",
        "ldconfig": "ldconfig -p",
        "nvpmodel": "nvpmodel -q 2>&1",
    }


def has_mpi(pillar: dict[str, Any]) -> bool:
    """The gpu_stack formula installs Open MPI where it is active (its map.jinja's ``active``)."""
    return merge.gpu_stack_active(pillar)


def marker() -> str:
    """A fresh marker for one probe run: nothing on the node can have been written to match it."""
    return f"@@@jetson-probe-{secrets.token_hex(16)}"


def script(probes: dict[str, str], mark: str) -> str:
    """One shell script running every probe in its own subshell. Each probe prints one line,
    ``<mark> <name> <base64 of its output, a newline, its exit status>``: what a probe prints
    (authorized_keys is the cluster user's to write) stays inside its own line, so it cannot
    frame a block of another probe even by guessing ``mark`` (a fresh marker() per run)."""
    parts = [
        f"printf '%s %s ' {mark} {shlex.quote(name)}; "
        f"{{ ( {command} ) 2>/dev/null; printf '\\n%s' $?; }} | base64 -w0; echo"
        for name, command in probes.items()
    ]
    return "\n".join(parts) + "\nexit 0\n"


def parse(stdout: str, mark: str) -> dict[str, dict[str, Any]]:
    """The script's output -> {name: {"rc": exit status, "out": output}}; complete lines with
    ``mark`` only, the first per name."""
    results: dict[str, dict[str, Any]] = {}
    for line in stdout.split("\n")[:-1]:
        head, _, rest = line.partition(" ")
        name, _, body = rest.partition(" ")
        if head != mark or name in results:
            continue
        try:
            text, _, rc = base64.b64decode(body, validate=True).decode(errors="replace").rpartition("\n")
            results[name] = {"rc": int(rc), "out": text.removesuffix("\n")}
        except ValueError:  # binascii.Error too: a line cut short (the connection died)
            continue
    return results
