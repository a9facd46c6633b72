"""qemu for the VM lab: the command line of one VM, its QMP socket, the vde switch.

Every VM runs in TCG (this host has no usable KVM) with two NICs: ``lan`` on the private vde
switch (the table's IPs, VM to VM) and ``user`` (qemu user networking, ``restrict=on``):
the host reaches the VM's sshd only through a ``hostfwd`` on 127.0.0.1, and the VM reaches
only the salt-master's ports through ``guestfwd`` (lab/vm/relay.py per connection).
The device list is the same for a cold boot and a restore, as ``-incoming`` requires.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.common.paths import LAB
from lab.common.shell import LabError

ACCEL = ["-accel", "tcg,thread=multi,tb-size=256", "-cpu", "qemu64", "-smp", "1"]
GUEST_MASTER = "10.0.2.100"  # the salt-master as the VMs see it (guestfwd)
USER_NET = "10.0.2.0/24"
RELAY = LAB / "vm" / "relay.py"


@dataclass(frozen=True)
class Disk:
    """A virtio disk: ``serial`` shows in the guest as /dev/disk/by-id/virtio-<serial>."""

    path: Path
    serial: str


@dataclass(frozen=True)
class Machine:
    """Everything qemu needs to run one lab VM."""

    name: str
    memory_mb: int
    kernel: Path
    initrd: Path
    append: str
    disks: list[Disk]
    seed: Path
    lan_mac: str
    user_mac: str
    ssh_port: int
    forwards: dict[int, int]  # guest port on GUEST_MASTER -> host port on 127.0.0.1
    vde_socket: Path
    qmp_socket: Path
    console: Path
    extra: list[str] = field(default_factory=list)

    def command(self, incoming: Path | None = None) -> list[str]:
        """The qemu command line; with ``incoming``, restore the state saved in that file."""
        cmd = ["qemu-system-x86_64", "-name", self.name, "-machine", "pc", *ACCEL,
               "-m", str(self.memory_mb), "-nodefaults", "-nographic", "-monitor", "none",
               "-serial", f"file:{self.console}",
               "-qmp", f"unix:{self.qmp_socket},server=on,wait=off",
               "-kernel", str(self.kernel), "-initrd", str(self.initrd), "-append", self.append,
               "-fw_cfg", f"name=opt/jetlab/seed,file={self.seed}"]
        for index, disk in enumerate(self.disks):
            cmd += ["-drive", f"file={disk.path},if=none,id=disk{index},format=qcow2",
                    "-device", f"virtio-blk-pci,drive=disk{index},serial={disk.serial}"]
        cmd += ["-netdev", f"vde,id=lan,sock={self.vde_socket}",
                "-device", f"virtio-net-pci,netdev=lan,mac={self.lan_mac}",
                "-netdev", self._user_netdev(),
                "-device", f"virtio-net-pci,netdev=user,mac={self.user_mac}", *self.extra]
        if incoming is not None:
            cmd += ["-incoming", f"exec:cat {incoming}"]
        return cmd

    def _user_netdev(self) -> str:
        relay = f"{sys.executable} {RELAY}"
        parts = ["user", "id=user", "restrict=on", f"net={USER_NET}",
                 f"hostfwd=tcp:127.0.0.1:{self.ssh_port}-:22"]
        parts += [f"guestfwd=tcp:{GUEST_MASTER}:{guest}-cmd:{relay} {host}"
                  for guest, host in sorted(self.forwards.items())]
        return ",".join(part.replace(",", ",,") for part in parts)


def start(machine: Machine, log: Path, incoming: Path | None = None) -> int:
    """Start qemu for ``machine`` in its own session; return its pid once QMP answers."""
    machine.qmp_socket.unlink(missing_ok=True)
    with open(log, "a") as out:
        proc = subprocess.Popen(machine.command(incoming), stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 30
    while not machine.qmp_socket.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise LabError(f"vm {machine.name}: qemu exited or gave no QMP socket; see {log}:\n"
                           + log.read_text(errors="replace")[-1500:])
        time.sleep(0.1)
    return proc.pid


def qmp(path: Path, command: str, timeout: float = 60, **arguments: Any) -> Any:
    """Run one QMP ``command`` on the socket at ``path``; return its ``return`` value."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        stream = sock.makefile("rw", encoding="utf-8")
        _reply(stream, path)  # greeting
        for name, args in (("qmp_capabilities", {}), (command, arguments)):
            stream.write(json.dumps({"execute": name, "arguments": args}) + "\n")
            stream.flush()
            reply = _reply(stream, path)
        return reply


def _reply(stream: Any, path: Path) -> Any:
    """The next non-event message; raise LabError on a QMP error."""
    while True:
        line = stream.readline()
        if not line:
            raise LabError(f"QMP {path}: connection closed")
        message = json.loads(line)
        if "error" in message:
            raise LabError(f"QMP {path}: {message['error'].get('desc', message['error'])}")
        if "event" not in message:
            return message.get("return", message)


def status(path: Path) -> str:
    """The run state (``running``, ``paused``, ``inmigrate``, ...) or ``gone``."""
    try:
        return str(qmp(path, "query-status", timeout=10)["status"])
    except (OSError, LabError):
        return "gone"


def wait_status(path: Path, wanted: set[str], timeout: float, what: str) -> str:
    """Poll until the VM's state is one of ``wanted``; raise naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    while (state := status(path)) not in wanted:
        if time.monotonic() > deadline:
            raise LabError(f"{what}: state {state!r} after {timeout:.0f}s, wanted {wanted}")
        time.sleep(0.2)
    return state


def save_state(path: Path, target: Path, timeout: float = 120) -> None:
    """Pause the VM and write its RAM and device state to ``target`` (disks are flushed)."""
    qmp(path, "stop")
    qmp(path, "migrate", uri=f"exec:cat > {target}")
    deadline = time.monotonic() + timeout
    while (info := qmp(path, "query-migrate")).get("status") != "completed":
        if info.get("status") in ("failed", "cancelled") or time.monotonic() > deadline:
            raise LabError(f"QMP {path}: saving the state to {target}: {info}")
        time.sleep(0.2)


def vde_start(folder: Path, log: Path) -> int:
    """Start a vde_switch with its control socket in ``folder``; return its pid."""
    pidfile = folder.with_suffix(".pid")
    pidfile.unlink(missing_ok=True)
    with open(log, "a") as out:
        subprocess.run(["vde_switch", "--sock", str(folder), "--daemon", "--pidfile",
                        str(pidfile)], stdout=out, stderr=subprocess.STDOUT, check=True)
    deadline = time.monotonic() + 10
    while not (pidfile.exists() and pidfile.read_text().strip()):
        if time.monotonic() > deadline:
            raise LabError(f"vde_switch gave no pid file {pidfile}; see {log}")
        time.sleep(0.1)
    return int(pidfile.read_text())
