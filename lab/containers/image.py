"""The lab base image: a debootstrap'd Debian rootfs with systemd, sshd and a salt-minion,
plus the local apt repo that nodes install from.

Cached under lab/cache/image/<arch>-<recipe hash>/ and rebuilt when a recipe file changes
(this file, lab/files/packages.txt, lab/files/image/*, the L4T stand-ins) or the pinned Salt
dependency set changes. Layout: ``rootfs/`` (the node image, read-only lower layer of every
node), ``apt/`` (flat apt repo, bind-mounted read-only on each node) and ``COMPLETE`` (written
last).

One image per Debian architecture: ``amd64`` (this host's) and ``arm64`` for the TX2-like
nodes, built the same way under qemu-user (lab/containers/binfmt.py must have registered it;
its base system by mmdebstrap), with the L4T R28.1 stand-ins of lab/containers/l4t.py staged.
Salt's wheels for arm64 come from PyPI's aarch64 wheels and are installed by this host's pip (emulated pip would take
minutes); only ``timelib``, an optional C extension of Salt with no aarch64 wheel, is left out.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import importlib.metadata
import re
import shutil
from pathlib import Path

from packaging.requirements import Requirement

from lab.common.paths import CACHE, FILES, LAB, NODE_APT_REPO, PACKAGES, VENV_BIN, ensure
from lab.common.shell import LabError, run, say, step, write
from lab.containers import aptsources, l4t

RECIPE = [Path(__file__), PACKAGES, *sorted((FILES / "image").iterdir())]
NATIVE = "amd64"  # this host's Debian architecture (the lab runs on x86_64)
# pip's platform tags of the arm64 wheels (Debian 12: glibc 2.36, Python 3.11)
AARCH64_PLATFORMS = ["manylinux2014_aarch64", "manylinux_2_17_aarch64", "manylinux_2_28_aarch64",
                     "linux_aarch64"]
NO_AARCH64_WHEEL = {"timelib"}  # optional for Salt (salt/utils/dateutils.py: HAS_TIMELIB)
IMAGE_ROOT = CACHE / "image"
SALT_VENV = "/opt/salt"  # on the node
# Beyond debootstrap's minbase: what a node needs before any state runs.
BASE_PACKAGES = [
    "systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "python3-venv",
    "iproute2", "procps", "less",
]
# Units a container does not need (or that block an unattended boot).
MASKED_UNITS = [
    "systemd-firstboot.service", "console-getty.service", "getty@.service",
    "apt-daily.timer", "apt-daily-upgrade.timer", "e2scrub_all.timer", "e2scrub_reap.service",
    "fstrim.timer", "systemd-networkd-wait-online.service",
]
ENABLED_UNITS = ["systemd-networkd.service", "ssh.service", "salt-minion.service"]
# Under qemu-user: networkd needs a netlink protocol qemu does not offer (lab-net-qemu.service
# sets the address instead), and the units with LoadCredential= fail at their start ("Failed
# to set up credentials: Invalid argument"): a drop-in empties that list (no credentials here).
FOREIGN_UNITS = {"mask": ["systemd-networkd.service", "systemd-networkd.socket"],
                 "enable": ["lab-net-qemu.service"],
                 "no credentials": ["systemd-sysctl.service", "systemd-sysusers.service",
                                    "systemd-tmpfiles-setup.service", "systemd-tmpfiles-setup-dev.service"]}
NSPAWN_BASE = ["systemd-nspawn", "--quiet", "--register=no", "--keep-unit"]


def read_packages(path: Path = PACKAGES) -> list[str]:
    """The package names of lab/files/packages.txt (comments and blank lines dropped)."""
    names = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
    return [name for name in names if name]


def salt_pins(root: str = "salt") -> list[str]:
    """``name==version`` for Salt and every dependency installed with it in this venv."""
    pins: dict[str, str] = {}
    todo = [root]
    while todo:
        name = todo.pop()
        key = name.lower().replace("_", "-")
        if key in pins:
            continue
        dist = importlib.metadata.distribution(name)
        pins[key] = dist.version
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return [f"{name}=={version}" for name, version in sorted(pins.items())]


def recipe_hash(arch: str = NATIVE) -> str:
    """Hash of everything the ``arch`` image is built from; a new hash means a rebuild."""
    digest = hashlib.sha256(arch.encode())
    for path in RECIPE + (l4t.FILES if arch != NATIVE else []):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update("\n".join(salt_pins()).encode())
    return digest.hexdigest()[:16]


def image_dir(arch: str = NATIVE) -> Path:
    return IMAGE_ROOT / f"{arch}-{recipe_hash(arch)}"


def in_root(rootfs: Path, command: str, log: Path, binds: dict[Path, str] | None = None) -> None:
    """Run a shell ``command`` inside ``rootfs`` (not booted; host network, for downloads)."""
    flags = [f"--bind={src}:{dst}" for src, dst in (binds or {}).items()]
    run([*NSPAWN_BASE, "-D", rootfs, *flags, "--", "/bin/sh", "-ec", command],
        what=f"image build in {rootfs}", log=log)


def ensure_image(rebuild: bool = False, arch: str = NATIVE) -> Path:
    """The cached ``arch`` image dir for the current recipe; build it first if missing.

    Builders wait for each other (the VM lab builds on the native image too)."""
    target = image_dir(arch)
    with open(ensure(IMAGE_ROOT) / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / "COMPLETE").exists() and not rebuild:
            say(f"image: cached {target.relative_to(LAB.parent)}")
            return target
        with step(f"image: building {target.name} (debootstrap, salt, apt repo; "
                  "log in build.log)"):
            build(target, arch)
        for old in IMAGE_ROOT.glob(f"{arch}-*"):
            if old != target and old.is_dir():
                say(f"image: removing outdated {old.name}")
                shutil.rmtree(old)
    return target


def build(target: Path, arch: str = NATIVE) -> None:
    """Build the ``arch`` image into ``target`` (via a temporary directory, renamed at the end)."""
    work = target.with_name(target.name + ".tmp")
    if work.exists():
        shutil.rmtree(work)
    rootfs, repo, log = ensure(work / "rootfs"), ensure(work / "apt"), work / "build.log"
    sources = aptsources.debian_sources()
    _debootstrap(rootfs, sources, log, arch)
    if arch == NATIVE:
        _install_salt(rootfs, log)
    else:
        _install_foreign_salt(rootfs, log)
        l4t.stage(rootfs)
    _download_packages(rootfs, repo, log, arch)
    _configure_node(rootfs, repo, log, arch)
    _preinstall_dependencies(rootfs, repo, log)
    write(work / "COMPLETE", "\n".join(salt_pins()) + "\n")
    if target.exists():
        shutil.rmtree(target)
    work.rename(target)


def _debootstrap(rootfs: Path, sources: list[aptsources.Source], log: Path, arch: str) -> None:
    """The base system with the release's current updates, so the repo holds only what states
    add. A foreign arch by mmdebstrap from every source at once: debootstrap's second stage runs
    its own shell code emulated, then a dist-upgrade (3x the time, measured under load)."""
    release = aptsources.codename()
    with step(f"image: bootstrap {release} {arch} from {aptsources.mirror(sources)}"):
        if arch != NATIVE:
            run(["mmdebstrap", "--mode=root", "--variant=minbase", f"--architectures={arch}",
                 f"--include={','.join(BASE_PACKAGES)}", release, rootfs,
                 *[s.line() for s in sources]], what="mmdebstrap", log=log)
        else:
            run(["debootstrap", "--variant=minbase", f"--arch={arch}",
                 f"--include={','.join(BASE_PACKAGES)}",
                 f"--cache-dir={ensure(CACHE / 'debootstrap')}", release, rootfs,
                 aptsources.mirror(sources)], what="debootstrap", log=log)
    write(rootfs / "etc/apt/sources.list", "".join(s.line() + "\n" for s in sources))
    upgrade = " && apt-get dist-upgrade -q -y" if arch == NATIVE else ""  # mmdebstrap's is current
    in_root(rootfs, "apt-get update -q" + upgrade, log)  # mmdebstrap removes the package lists


def _wheels(arch: str, log: Path) -> Path:
    """The cached wheels of Salt's pins for ``arch``: built here for this host; for another
    arch PyPI's wheels for it, and Salt's own (pure Python) wheel from this host's set."""
    pins = salt_pins()
    key = hashlib.sha256("\n".join(pins).encode()).hexdigest()[:16]
    wheels = ensure(CACHE / "wheels" / (key if arch == NATIVE else f"{arch}-{key}"))
    if (wheels / "COMPLETE").exists():
        return wheels
    if arch == NATIVE:
        with step(f"image: salt wheels ({len(pins)} pinned from this venv)"):
            run([VENV_BIN / "pip", "wheel", "--quiet", "--no-deps", "-w", wheels, *pins],
                what="pip wheel (salt and its dependencies)", log=log)
    else:
        native = _wheels(NATIVE, log)
        wanted = [p for p in pins if p.split("==")[0] not in NO_AARCH64_WHEEL | {"salt"}]
        with step(f"image: {len(wanted)} {arch} wheels from PyPI (+ salt's own)"):
            run([VENV_BIN / "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                 *_platform_flags(), "-d", wheels, *wanted],
                what=f"pip download ({arch} wheels)", log=log)
            for wheel in native.glob("salt-*.whl"):
                shutil.copy(wheel, wheels)
    write(wheels / "COMPLETE", "\n".join(pins) + "\n")
    return wheels


def _platform_flags() -> list[str]:
    flags = [f"--platform={tag}" for tag in AARCH64_PLATFORMS]
    return [*flags, "--implementation=cp", "--python-version=3.11"]


def _install_salt(rootfs: Path, log: Path) -> None:
    wheels = _wheels(NATIVE, log)
    with step(f"image: salt-minion venv at {SALT_VENV}"):
        in_root(rootfs, (
            f"python3 -m venv {SALT_VENV}\n"
            f"{SALT_VENV}/bin/pip install --quiet --no-index --no-deps /wheels/*.whl\n"
            f"for tool in salt-call salt-minion; do "
            f"ln -sf {SALT_VENV}/bin/$tool /usr/local/bin/$tool; done\n"
            f"{SALT_VENV}/bin/salt-call --version"
        ), log, {wheels: "/wheels"})


def _install_foreign_salt(rootfs: Path, log: Path) -> None:
    """Salt in an emulated image: the venv made by the image's python3 (without ensurepip), the
    wheels and the image's bundled pip wheel unpacked into it by this host's pip, byte-compiled
    by this host's Python 3.11 (the same bytecode); the two commands the image runs as scripts
    on the venv's python."""
    wheels = _wheels("arm64", log)
    with step(f"image: salt-minion venv at {SALT_VENV} (wheels installed by this host's pip)"):
        in_root(rootfs, f"python3 -m venv --without-pip {SALT_VENV}", log)
        site = next((rootfs / SALT_VENV.lstrip("/") / "lib").glob("python3.*/site-packages"))
        # pip too (the bundled wheel python3-venv would install): Salt's pip states import it
        bundled = sorted((rootfs / "usr/share/python-wheels").glob("pip-*.whl"))
        run([VENV_BIN / "pip", "install", "--quiet", "--no-deps", "--no-index", "--only-binary=:all:",
             *_platform_flags(), "--target", site, *sorted(wheels.glob("*.whl")), *bundled],
            what="pip install --target (arm64 wheels)", log=log)
        shutil.rmtree(site / "bin", ignore_errors=True)  # scripts with this host's interpreter
        for tool, function in (("salt-call", "salt_call"), ("salt-minion", "salt_minion")):
            write(rootfs / SALT_VENV.lstrip("/") / "bin" / tool,
                  f"#!{SALT_VENV}/bin/python3\nimport sys\nfrom salt.scripts import {function}\n"
                  f"sys.exit({function}())\n", 0o755)
        in_root(rootfs, (
            f"for tool in salt-call salt-minion; do "
            f"ln -sf {SALT_VENV}/bin/$tool /usr/local/bin/$tool; done\n"
            f"{SALT_VENV}/bin/salt-call --version"
        ), log)


def _download_packages(rootfs: Path, repo: Path, log: Path, arch: str) -> None:
    packages = read_packages()
    with step(f"image: apt repo of {len(packages)} packages + dependencies"):
        ensure(repo / "partial")
        in_root(rootfs, (
            "apt-get install -q -y --download-only --no-install-recommends "
            f"-o Dir::Cache::archives=/repo {' '.join(packages)}"
        ), log, {repo: "/repo"})
        shutil.rmtree(repo / "partial")
        (repo / "lock").unlink(missing_ok=True)
        # Run in the repo dir: the paths in Packages are relative to it (a flat repo).
        index = run(["dpkg-scanpackages", "--multiversion", "."], what="dpkg-scanpackages",
                    cwd=repo)
        _write_index(repo, index.stdout, arch)
        say(f"image: apt repo holds {len(list(repo.glob('*.deb')))} .debs")


def _installed(rootfs: Path) -> set[str]:
    """Names of the packages installed in ``rootfs``."""
    out = run(["chroot", rootfs, "dpkg-query", "-W", "-f", "${Package} ${Status}\n"],
              what="dpkg-query in the image").stdout
    return {line.split()[0] for line in out.splitlines() if line.endswith(" installed")}


def _preinstall_dependencies(rootfs: Path, repo: Path, log: Path) -> None:
    """Install the repo's packages that no state names (the compilers under libopenmpi-dev,
    perl, ...): 24 nodes would each unpack them in the first apply. No package the states
    name is installed by this, so each pkg.installed state still installs what it names."""
    named = set(read_packages())
    index = (repo / "Packages").read_text()
    deps = sorted(set(re.findall(r"^Package: (\S+)$", index, re.M)) - named)
    before = _installed(rootfs)
    with step(f"image: pre-installing {len(deps)} dependencies no state names"):
        in_root(rootfs, (
            f"apt-get install -q -y --no-install-recommends {' '.join(deps)}\n"
            f"apt-mark auto {' '.join(deps)} > /dev/null\n"
            "apt-get clean"
        ), log, {repo: NODE_APT_REPO})
    early = sorted(named & (_installed(rootfs) - before))
    if early:
        raise LabError(f"image: pre-installing dependencies also installed {early}, which "
                       "the states name; the first apply would not install them")


def _write_index(repo: Path, packages: str, arch: str) -> None:
    """Packages, Packages.gz and an unsigned Release (the nodes trust the repo explicitly)."""
    write(repo / "Packages", packages)
    (repo / "Packages.gz").write_bytes(gzip.compress(packages.encode(), mtime=0))
    lines = ["Origin: jetlab", "Label: jetlab lab repo", "Suite: lab", "Codename: lab",
             f"Architectures: {arch} all", "SHA256:"]
    for name in ("Packages", "Packages.gz"):
        data = (repo / name).read_bytes()
        lines.append(f" {hashlib.sha256(data).hexdigest()} {len(data)} {name}")
    write(repo / "Release", "\n".join(lines) + "\n")


def _configure_node(rootfs: Path, repo: Path, log: Path, arch: str) -> None:
    """Node settings: apt on the lab repo only, minion, units, no host keys or machine-id."""
    units = {"enable": ENABLED_UNITS, "mask": MASKED_UNITS}
    if arch != NATIVE:
        write(rootfs / "etc/systemd/system/lab-net-qemu.service",
              (FILES / "image" / "lab-net-qemu.service").read_text())
        for unit in FOREIGN_UNITS["no credentials"]:
            write(rootfs / f"etc/systemd/system/{unit}.d/lab-qemu.conf",
                  "# lab: qemu-user cannot set up credentials (lab/containers/image.py)\n"
                  "[Service]\nLoadCredential=\n")
        units = {"enable": [u for u in ENABLED_UNITS if u not in FOREIGN_UNITS["mask"]]
                 + FOREIGN_UNITS["enable"], "mask": MASKED_UNITS + FOREIGN_UNITS["mask"]}
    write(rootfs / "etc/apt/sources.list", f"deb [trusted=yes] file:{NODE_APT_REPO} ./\n")
    for name, dest in [
        ("apt-lab.conf", "etc/apt/apt.conf.d/90lab"),
        ("dpkg-lab.cfg", "etc/dpkg/dpkg.cfg.d/90lab"),
        ("minion", "etc/salt/minion"),
        ("salt-minion.service", "etc/systemd/system/salt-minion.service"),
        ("journald.conf", "etc/systemd/journald.conf.d/lab.conf"),
        ("sshd-kex.conf", "etc/ssh/sshd_config.d/lab-kex.conf"),
    ]:
        write(rootfs / dest, (FILES / "image" / name).read_text())
    write(rootfs / "etc/hostname", "lab-node\n")
    in_root(rootfs, (
        f"systemctl enable {' '.join(units['enable'])}\n"
        f"systemctl mask {' '.join(units['mask'])}\n"
        "apt-get update -q\n"
        "apt-get clean\n"
        "rm -f /etc/ssh/ssh_host_*\n"
        ": > /etc/machine-id\n"
        "rm -f /var/lib/dbus/machine-id\n"
    ), log, {repo: NODE_APT_REPO})
    if (rootfs / "etc/ssh/ssh_host_ed25519_key").exists():
        raise LabError(f"image: {rootfs}/etc/ssh still has host keys; nodes would share them")
