"""A throwaway sshd on loopback addresses, for tests that need a real ssh server, and
well-formed public keys for tests that need none (public_key).

Host and client keys are made in a temp dir; the client trusts the host key through a
known_hosts file (never by switching host key checking off). Needs root: the client logs
in as root, and sshd wants its privilege separation directory.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SSHD = "/usr/sbin/sshd"
SFTP_SERVER = "/usr/lib/openssh/sftp-server"  # scp (OpenSSH >= 9) goes through sftp
PRIVSEP_DIR = Path("/run/sshd")  # made by the ssh service at boot; this host boots none


@dataclass
class Sshd:
    port: int
    addresses: list[str]
    client_key: Path
    known_hosts: Path


def free_port(address: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


def public_key(seed: str, kind: str = "ssh-ed25519") -> str:
    """'ssh-ed25519 <base64>': a well-formed public key (its 32 key bytes derived from ``seed``)."""
    fields = (kind.encode(), hashlib.sha256(seed.encode()).digest())
    return f"{kind} {base64.b64encode(b''.join(len(f).to_bytes(4, 'big') + f for f in fields)).decode()}"


def keygen(path: Path) -> str:
    """Make an ed25519 key pair without passphrase at ``path``; return the public line."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.with_name(f"{path.name}.pub").read_text().strip()


def wait_listening(address: str, port: int, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex((address, port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"sshd did not listen on {address}:{port}")


def _config(tmp: Path, addresses: list[str], port: int) -> str:
    listen = "".join(f"ListenAddress {address}:{port}\n" for address in addresses)
    return listen + (
        f"HostKey {tmp}/host_key\nAuthorizedKeysFile {tmp}/authorized_keys\n"
        f"PidFile {tmp}/sshd.pid\nSubsystem sftp {SFTP_SERVER}\n"
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
    )


@contextmanager
def throwaway_sshd(tmp: Path, addresses: list[str]) -> Iterator[Sshd]:
    """Run sshd on ``addresses`` (one port for all) until the block ends."""
    if os.geteuid() != 0:
        raise PermissionError("the throwaway sshd needs root")
    PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
    host_pub = keygen(tmp / "host_key")
    (tmp / "authorized_keys").write_text(keygen(tmp / "client_key") + "\n")
    port = free_port(addresses[0])
    known = "".join(f"[{address}]:{port} {host_pub}\n" for address in addresses)
    (tmp / "known_hosts").write_text(known)
    (tmp / "sshd_config").write_text(_config(tmp, addresses, port))
    log = (tmp / "sshd.log").open("w")
    sshd = subprocess.Popen([SSHD, "-D", "-e", "-f", str(tmp / "sshd_config")], stderr=log)
    try:
        for address in addresses:
            wait_listening(address, port)
        yield Sshd(port, addresses, tmp / "client_key", tmp / "known_hosts")
    finally:
        sshd.terminate()
        sshd.wait(timeout=10)
        log.close()
