"""Performance fingerprint job: CPU, NFS and MPI figures of one node, as one JSON line.

Copied to a node by the acceptance suite (validation/session.py, the fingerprint phase) and
run by the node's system Python (3.5 on L4T R28.1: no f-strings, stdlib only, checked by
vermin). Each subcommand prints one JSON line; exit status 0 when the figures are valid.

    python3 fingerprint.py cpu
    python3 fingerprint.py nfs DIR SIZE_MB            (as the cluster user: it writes in DIR)
    mpirun -np 2 python3 fingerprint.py pingpong SIZE ITER   (rank 0 prints)
"""
import ctypes
import ctypes.util
import json
import os
import sys
import time

# The CPU kernel: a fixed linear congruential walk folded into a checksum. Integer-only, so
# every Python and CPU computes the same checksum; a different one means a broken machine.
CPU_STEPS = 600000
CPU_OPS_PER_STEP = 6  # multiply, add, and, xor, add, and
CPU_ROUNDS = 3        # best of: a neighbour's burst only lengthens a round
CPU_CHECKSUM = 3487983616
BLOCK = 1 << 20
SMALL = 8  # bytes of the latency round trips


def cpu_kernel(steps):
    x, acc = 1, 0
    for i in range(steps):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        acc = (acc + (x ^ i)) & 0xFFFFFFFF
    return acc


def cpu():
    best, checksum = None, None
    for _ in range(CPU_ROUNDS):
        start = time.time()
        checksum = cpu_kernel(CPU_STEPS)
        took = time.time() - start
        best = took if best is None else min(best, took)
    mops = CPU_STEPS * CPU_OPS_PER_STEP / max(best, 1e-9) / 1e6
    result = {"cpu_mops": round(mops, 2), "checksum": checksum, "seconds": round(best, 4),
              "ok": checksum == CPU_CHECKSUM}
    if not result["ok"]:
        result["error"] = "checksum {} != {}: the CPU computed a wrong result".format(checksum, CPU_CHECKSUM)
    return result


def drop_cache(fd):
    """Forget the file's cached pages (for a read that goes to the server/disk)."""
    os.fsync(fd)
    if hasattr(os, "posix_fadvise"):
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


def write_file(path, size_mb):
    block = os.urandom(BLOCK)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        start = time.time()
        for _ in range(size_mb):
            os.write(fd, block)
        os.fdatasync(fd)
        took = time.time() - start
        drop_cache(fd)
    finally:
        os.close(fd)
    return took


def open_direct(path):
    """(fd, True) opened with O_DIRECT where the filesystem allows it, else (fd, False)."""
    flag = getattr(os, "O_DIRECT", 0)
    if flag:
        try:
            return os.open(path, os.O_RDONLY | flag), True
        except OSError:
            pass
    return os.open(path, os.O_RDONLY), False


def read_file(path):
    """Seconds to read ``path``, bypassing the page cache; and whether O_DIRECT did it."""
    fd, direct = open_direct(path)
    try:
        if not direct and hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        start = time.time()
        read = read_direct(fd) if direct else read_buffered(fd)
        took = time.time() - start
    finally:
        os.close(fd)
    return took, direct, read


def read_buffered(fd):
    total = 0
    while True:
        chunk = os.read(fd, BLOCK)
        if not chunk:
            return total
        total += len(chunk)


def read_direct(fd):
    """O_DIRECT wants an aligned buffer: an anonymous mmap is page-aligned."""
    import mmap

    buf = mmap.mmap(-1, BLOCK)
    total = 0
    try:
        with os.fdopen(os.dup(fd), "rb", buffering=0) as handle:
            while True:
                count = handle.readinto(buf)
                if not count:
                    return total
                total += count
    finally:
        buf.close()


def nfs(directory, size_mb):
    path = os.path.join(directory, ".jetson-fingerprint-{}-{}-{}".format(os.uname()[1], os.getpid(), time.time()))
    size_mb = int(size_mb)
    try:
        wrote = write_file(path, size_mb)
        took, direct, read = read_file(path)
    finally:
        if os.path.lexists(path):
            os.unlink(path)
    result = {"nfs_write_mbs": round(size_mb / max(wrote, 1e-9), 2), "nfs_read_mbs": round(size_mb / max(took, 1e-9), 2),
              "direct": direct, "size_mb": size_mb, "ok": read == size_mb * BLOCK}
    if not result["ok"]:
        result["error"] = "read back {} bytes of {}".format(read, size_mb * BLOCK)
    return result


def libmpi():
    """Open MPI's C library, global so its plugins (dlopen'ed by MPI_Init) see its symbols."""
    names = [ctypes.util.find_library("mpi"), "libmpi.so.40", "libmpi.so.20", "libmpi.so.12", "libmpi.so.1"]
    errors = []
    for name in names:
        if not name:
            continue
        try:
            return ctypes.CDLL(name, mode=ctypes.RTLD_GLOBAL)
        except OSError as err:
            errors.append(str(err))
    raise OSError("no Open MPI library: " + "; ".join(errors))


def pingpong(size, iterations):
    """Rank 0 sends, rank 1 returns: latency of SMALL-byte round trips (us, one way) and the
    bandwidth of ``size``-byte ones (MB/s, one way)."""
    mpi = libmpi()
    comm = ctypes.c_void_p(ctypes.addressof(ctypes.c_char.in_dll(mpi, "ompi_mpi_comm_world")))
    byte = ctypes.c_void_p(ctypes.addressof(ctypes.c_char.in_dll(mpi, "ompi_mpi_byte")))
    mpi.MPI_Init(None, None)
    rank, peers = ctypes.c_int(), ctypes.c_int()
    mpi.MPI_Comm_rank(comm, ctypes.byref(rank))
    mpi.MPI_Comm_size(comm, ctypes.byref(peers))
    try:
        if peers.value != 2:
            return rank.value, {"ok": False, "error": "pingpong needs exactly 2 ranks, got {}".format(peers.value)}
        small = exchange(mpi, comm, byte, rank.value, SMALL, iterations)
        large = exchange(mpi, comm, byte, rank.value, size, max(iterations // 10, 3))
    finally:
        mpi.MPI_Finalize()
    return rank.value, {"mpi_latency_us": round(small * 1e6 / 2, 2),
                        "mpi_bw_mbs": round(size / (large / 2) / 1e6, 2), "size": size, "ok": True}


def exchange(mpi, comm, byte, rank, size, iterations):
    """Seconds of one round trip of ``size`` bytes (the mean over ``iterations`` after a warm-up)."""
    buf = ctypes.create_string_buffer(size)
    status = ctypes.create_string_buffer(64)  # MPI_Status: a few ints
    peer = 1 - rank
    start = 0.0
    for step in range(iterations + 1):
        if step == 1:
            start = time.time()
        if rank == 0:
            mpi.MPI_Send(buf, size, byte, peer, 7, comm)
            mpi.MPI_Recv(buf, size, byte, peer, 7, comm, status)
        else:
            mpi.MPI_Recv(buf, size, byte, peer, 7, comm, status)
            mpi.MPI_Send(buf, size, byte, peer, 7, comm)
    return (time.time() - start) / iterations


def main(argv):
    command, args = (argv[0], argv[1:]) if argv else ("", [])
    rank = 0
    try:
        if command == "cpu":
            result = cpu()
        elif command == "nfs" and len(args) == 2:
            result = nfs(args[0], args[1])
        elif command == "pingpong" and len(args) == 2:
            rank, result = pingpong(int(args[0]), int(args[1]))
        else:
            result = {"ok": False, "error": "usage: fingerprint.py cpu | nfs DIR SIZE_MB | pingpong SIZE ITER"}
    except Exception as err:  # the suite reads the JSON line: report, do not trace back
        result = {"ok": False, "error": "{}: {}".format(type(err).__name__, err)}
    if rank == 0:
        print(json.dumps(result, sort_keys=True))
        sys.stdout.flush()
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
