"""Which hosts to check: ``--hosts`` patterns over the node table, turned into testinfra specs.

A pattern without ``://`` is a shell glob over the table's names (``astro*``, ``astro1?``);
it becomes an ssh host with the options the operator gave (user, identity file, ssh config)
and one multiplexed ssh connection per host. A pattern with ``://`` is a plain testinfra
spec, used unchanged; the node it stands for is its ``?node=<name>`` query, its host part
when that is a table name or IP, or, for ``local://``, this machine's hostname.
"""

from __future__ import annotations

import fnmatch
import os
import shlex
import socket
import stat
import subprocess
import tempfile
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

CONTROL_PERSIST_S = 300


class InventoryError(ValueError):
    """``--hosts`` or an ssh option cannot be turned into hosts; the message says which part."""


@dataclass(frozen=True)
class SshOptions:
    """How to reach table nodes over ssh (from the command line)."""

    user: str | None = None
    config: str | None = None
    identity_file: str | None = None
    sudo: bool = False
    control_dir: str = field(default_factory=lambda: os.path.join(tempfile.gettempdir(), f"jv-ssh-{os.getuid()}"))


@dataclass(frozen=True)
class Target:
    """One selected node: its table name, the testinfra spec and the get_host() options."""

    name: str
    spec: str
    options: dict[str, Any]


def private_dir(path: str) -> str:
    """``path`` as a directory only this user can use (ssh control sockets: whoever can write
    there can put a socket in the way of ours): made 0700 if absent; if present, refused unless
    it is a directory, not a symlink, owned by this user, mode 0700."""
    try:
        os.mkdir(path, 0o700)
        os.chmod(path, 0o700)  # whatever the umask
    except FileExistsError:
        pass
    info = os.lstat(path)
    problems = []
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        problems.append("is a symlink" if stat.S_ISLNK(info.st_mode) else "is not a directory")
    if info.st_uid != os.getuid():
        problems.append(f"is owned by uid {info.st_uid}, not {os.getuid()}")
    if stat.S_IMODE(info.st_mode) != 0o700:
        problems.append(f"has mode {stat.S_IMODE(info.st_mode):04o}, not 0700")
    if problems:
        raise InventoryError(f"ssh control dir {path} {', '.join(problems)}: not used; "
                             "remove it (or find out who made it)")
    return path


def expand(patterns: str | None, cluster: dict[str, Any], ssh: SshOptions) -> list[Target]:
    """The targets selected by the comma-separated ``patterns``, in table order."""
    items = [item.strip() for item in (patterns or "").split(",") if item.strip()]
    if not items:
        raise InventoryError("no hosts: pass --hosts with node name globs (e.g. 'astro*')")
    names = [row["name"] for row in cluster["nodes"]]
    chosen: dict[str, Target] = {}
    for item in items:
        if "://" in item:
            name = node_of_spec(item, cluster)
            chosen.setdefault(name, Target(name, item, base_options(ssh)))
            continue
        matched = [name for name in names if fnmatch.fnmatchcase(name, item)]
        if not matched:
            raise InventoryError(
                f"--hosts pattern '{item}' matches no node of the table ({names[0]} .. {names[-1]}, {len(names)} nodes)"
            )
        for name in matched:
            chosen.setdefault(name, ssh_target(name, _ip(cluster, name), ssh))
    return sorted(chosen.values(), key=lambda target: names.index(target.name))


def node_of_spec(spec: str, cluster: dict[str, Any]) -> str:
    """The table node a plain testinfra spec stands for."""
    url = urllib.parse.urlparse(spec)
    by_ip = {row["ip"]: row["name"] for row in cluster["nodes"]}
    names = set(by_ip.values())
    explicit = urllib.parse.parse_qs(url.query).get("node", [None])[0]
    host = (url.hostname or "").lower()
    if url.scheme == "local" and not host:
        host = socket.gethostname()
    for candidate in (explicit, host, by_ip.get(host)):
        if candidate in names:
            return candidate
    if explicit:
        raise InventoryError(f"--hosts spec '{spec}': node={explicit} is not a node of the table")
    raise InventoryError(
        f"--hosts spec '{spec}': cannot tell which node of the table it is; "
        "append ?node=<name> (e.g. ssh://root@127.0.0.1:2222?node=astro3)"
    )


def base_options(ssh: SshOptions) -> dict[str, Any]:
    """testinfra get_host() options every spec gets (as testinfra's own --hosts would)."""
    options: dict[str, Any] = {"sudo": ssh.sudo}
    if ssh.config:
        options["ssh_config"] = ssh.config
    if ssh.identity_file:
        options["ssh_identity_file"] = ssh.identity_file
    return options


def ssh_target(name: str, ip: str, ssh: SshOptions) -> Target:
    """A table node over ssh: by its name, at its table IP unless the ssh config sets HostName."""
    settings = [
        "BatchMode=yes",
        "ControlMaster=auto",
        f"ControlPath={ssh.control_dir}/%C",
        f"ControlPersist={CONTROL_PERSIST_S}s",
        "ServerAliveInterval=10",
        "ServerAliveCountMax=3",
    ]
    if not configured_hostname(name, ssh):
        settings.append(f"HostName={ip}")
    args = [arg for setting in settings for arg in ("-o", setting)]
    user = f"{urllib.parse.quote(ssh.user)}@" if ssh.user else ""
    options = base_options(ssh) | {"ssh_extra_args": shlex.join(args)}
    return Target(name, f"ssh://{user}{name}", options)


def configured_hostname(name: str, ssh: SshOptions) -> bool:
    """True when the ssh config maps ``name`` to another HostName (``ssh -G`` tells)."""
    command = ["ssh", "-G"] + (["-F", ssh.config] if ssh.config else []) + [name]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise InventoryError(f"ssh config {ssh.config or '(default)'}: ssh -G {name} fails: {result.stderr.strip()}")
    for line in result.stdout.splitlines():
        key, _, value = line.partition(" ")
        if key == "hostname":
            return value.strip().lower() != name.lower()
    return False


def _ip(cluster: dict[str, Any], name: str) -> str:
    return next(row["ip"] for row in cluster["nodes"] if row["name"] == name)


def control_exit_commands(targets: list[Target]) -> list[list[str]]:
    """``ssh -O exit`` for every multiplexed target: run at session end to stop the masters."""
    commands = []
    for target in targets:
        extra = target.options.get("ssh_extra_args", "")
        if "ControlPath=" not in extra:
            continue
        url = urllib.parse.urlparse(target.spec)
        user = ["-o", f"User={urllib.parse.unquote(url.username)}"] if url.username else []
        config = ["-F", target.options["ssh_config"]] if "ssh_config" in target.options else []
        commands.append(["ssh", *config, *user, *shlex.split(extra), "-O", "exit", target.name])
    return commands
