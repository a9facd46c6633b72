"""qemu guestfwd helper: relay one guest connection (stdin/stdout) to 127.0.0.1:PORT.

qemu's user network runs this once per connection a VM opens to the salt-master's guest
address (``guestfwd=tcp:10.0.2.100:P-cmd:python3 relay.py PORT``); the VMs reach nothing
else on the host (``restrict=on``).
"""

import os
import socket
import sys
import threading


def _to_host(sock: socket.socket) -> None:
    while data := os.read(0, 65536):
        sock.sendall(data)
    sock.shutdown(socket.SHUT_WR)


def main(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        threading.Thread(target=_to_host, args=(sock,), daemon=True).start()
        while data := sock.recv(65536):
            os.write(1, data)


if __name__ == "__main__":
    main(int(sys.argv[1]))
