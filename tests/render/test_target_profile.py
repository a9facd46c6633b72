"""Every option the tree uses exists on the real target: tests/target/l4t-r28.1.yaml.

The options are extracted from what the tree really renders and runs: the highstate of one node
of each role of the table (master, worker) for the Ubuntu 16.04 / aarch64 grains (fstab entries, exports, sudoers, unit
files, ssh-keygen, apt keyrings), the units the shell scripts write, the suite's ssh and sudo
command lines (its own functions), every ``-o Key=value`` ssh option in the tree's code and the
sshd configs the tree ships. Each is looked up in the profile: missing there, the test fails
("unknown ... add it"); newer than the target's component, it fails with the version it needs.
How to add an option: docs/target.md.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import shlex
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from saltrender import REPO, call, contents, lowstate, pillar

from jetson_array import nodetable
from validation import inventory, probes

PROFILE_PATH = REPO / "tests" / "target" / "l4t-r28.1.yaml"
PROFILE: dict[str, Any] = yaml.safe_load(PROFILE_PATH.read_text())
PLATFORM = "ubuntu1604-aarch64"
CLUSTER = nodetable.load()


def _one_node_per_role() -> list[str]:
    """The first node of each (master, gpu) combination of the table: every role's highstate."""
    kinds: dict[tuple[bool, bool], str] = {}
    for row in CLUSTER["nodes"]:
        full = nodetable.node_row(CLUSTER, row["name"])
        kinds.setdefault((full["is_master"], bool(full.get("gpu"))), row["name"])
    return list(kinds.values())


NODES = _one_node_per_role()
# Code whose ssh options are scanned: everything but the repo's own tests and their fixtures.
CODE_DIRS = ("validation", "lab", "salt", "formulas", "pillar", "tools", "jetson_array")
UNIT_DIRS = ("/etc/systemd/", "/lib/systemd/", "/usr/lib/systemd/")


@dataclass(frozen=True, order=True)
class Use:
    """One use of an option: the profile section that holds it, its name there, and where."""

    section: str
    name: str
    where: str


def version(text: Any) -> tuple[int, ...]:
    """'7.2p2' -> (7, 2, 2), '229' -> (229,): numeric parts, compared left to right."""
    return tuple(int(part) for part in re.findall(r"\d+", str(text)))


def problems(uses: Iterable[Use], profile: dict[str, Any] = PROFILE) -> list[str]:
    """One message per option the profile lacks or the target is too old for (all its places)."""
    places: dict[tuple[str, str], list[str]] = {}
    for use in sorted(set(uses)):
        places.setdefault((use.section, use.name), []).append(use.where)
    found = []
    for (section, name), wheres in places.items():
        where = wheres[0] + (f" and {len(wheres) - 1} more" if len(wheres) > 1 else "")
        entry = profile.get(section, {}).get(name)
        if entry is None:
            found.append(f"unknown {section} option {name} ({where}): add it to "
                         f"{PROFILE_PATH.relative_to(REPO)} with the version that introduced it")
            continue
        component = profile["components"][entry["component"]]
        if version(entry["since"]) > version(component["version"]):
            found.append(f"{name} needs {entry['component']} {entry['since']}, the target has "
                         f"{component['version']} ({where})")
    return found


# ---- what the tree renders for the real nodes ----

@functools.cache
def chunks(node: str) -> tuple[dict[str, Any], ...]:
    return tuple(lowstate(node, PLATFORM))


def managed_files(node: str, prefixes: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    """(path, text) of every file.managed of the node's highstate under one of ``prefixes``."""
    for chunk in chunks(node):
        if chunk["state"] == "file" and chunk["fun"] == "managed" and chunk["name"].startswith(prefixes):
            yield chunk["name"], file_text(node, chunk)


def file_text(node: str, chunk: dict[str, Any]) -> str:
    """What a file.managed chunk writes: inline contents, or its salt:// source (rendered)."""
    if "contents" in chunk:
        return contents(chunk)
    source = chunk.get("source")
    if not source:
        raise AssertionError(f"{node}: {chunk['__id__']} has neither contents nor source: teach {__file__}")
    if chunk.get("template"):
        return call(node, PLATFORM, "slsutil.renderer", source, default_renderer=chunk["template"],
                    **chunk.get("defaults", {}), **chunk.get("context", {}))
    return call(node, PLATFORM, "cp.get_file_str", source)


def commands(node: str) -> Iterator[str]:
    for chunk in chunks(node):
        if chunk["state"] == "cmd":
            yield chunk["name"]


def fstab_entries(node: str) -> Iterator[tuple[str, str, list[str]]]:
    """(mount point, fstype, options) of every fstab entry of the node's highstate."""
    for chunk in chunks(node):
        if chunk["state"] == "mount" and chunk["fun"] == "fstab_present":
            options = chunk["fs_mntops"]
            yield chunk["fs_file"], chunk["fs_vfstype"], options if isinstance(options, list) else options.split(",")


def fstab_uses(node: str) -> Iterator[Use]:
    for mount_point, fstype, options in fstab_entries(node):
        for option in options:
            key = option.split("=", 1)[0]
            section = "nfs_mount" if fstype.startswith("nfs") and key in PROFILE["nfs_mount"] else "mount"
            yield Use(section, key, f"{node} fstab {mount_point} ({fstype})")


def nfs_versions(node: str) -> Iterator[tuple[str, str]]:
    """(nfsvers value, where) of every NFS fstab entry of the node."""
    for mount_point, fstype, options in fstab_entries(node):
        for option in options if fstype.startswith("nfs") else ():
            key, _, value = option.partition("=")
            if key in ("nfsvers", "vers"):
                yield value, f"{node} fstab {mount_point}"


def exports_uses(node: str) -> Iterator[Use]:
    for path, text in managed_files(node, ("/etc/exports",)):
        entries = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
        for options in re.findall(r"\(([^)]*)\)", entries):
            for option in options.split(","):
                yield Use("exports", option.split("=", 1)[0], f"{node} {path}")


def sudoers_uses(node: str) -> Iterator[Use]:
    for path, text in managed_files(node, ("/etc/sudoers",)):
        for feature in sudoers_features(text):
            yield Use("sudoers", feature, f"{node} {path}")


def sudoers_features(text: str) -> list[str]:
    """The sudoers(5) features a sudoers file uses (the names of the profile's sudoers section)."""
    features: list[str] = []
    for line in text.replace("\\\n", " ").splitlines():
        line = line.strip()
        if line.startswith(("#include", "@include")):
            features.append(line.split()[0])
        elif not line or line.startswith("#"):
            continue
        elif line.split()[0].startswith("Defaults"):
            features.append("Defaults")
            settings = line.split(None, 1)[1] if " " in line else ""
            for setting in settings.split(","):
                features.append("Defaults " + re.split(r"[+-]?=", setting.strip().lstrip("!"))[0].strip())
        elif line.split()[0].endswith("_Alias"):
            features.append(line.split()[0])
        else:
            features += user_spec_features(line.partition("=")[2].strip())
    return features


def user_spec_features(spec: str) -> list[str]:
    """Features of the part after '=' of a user specification: (runas) TAGS: commands."""
    features = ["user_spec"]
    if spec.startswith("("):
        features.append("runas_spec")
        spec = spec[spec.index(")") + 1:].strip()
    while tag := re.match(r"([A-Z_]+):\s*", spec):
        features.append(tag.group(1))
        spec = spec[tag.end():]
    for command in re.split(r"(?<!\\),", spec):
        path, _, args = command.strip().partition(" ")
        if re.match(r"sha(224|256|384|512):", path):
            features.append("digest")
        if path.startswith("^") and path.endswith("$"):
            features.append("regex_command")
        args = args.strip()
        if args == '""':
            features.append("empty_args")
        elif args:
            features.append("command_args")
            if args.startswith("^") and args.endswith("$"):
                features.append("regex_args")
            elif re.search(r"(?<!\\)[*?\[]", args):
                features.append("wildcard_args")
    return features


def unit_directives(text: str) -> Iterator[str]:
    """'[Section] Key' of every setting of a unit file or drop-in."""
    section = ""
    for line in text.splitlines():
        line = line.strip()
        if re.fullmatch(r"\[\w+\]", line):
            section = line
        elif line and not line.startswith(("#", ";")) and "=" in line:
            yield f"{section} {line.split('=', 1)[0].strip()}"


def unit_uses(node: str) -> Iterator[Use]:
    for path, text in managed_files(node, UNIT_DIRS):
        for directive in unit_directives(text):
            yield Use("systemd_unit", directive, f"{node} {path}")


def apt_uses(node: str) -> Iterator[Use]:
    texts = [c["name"] for c in chunks(node) if c["state"] in ("cmd", "file", "pkgrepo")]
    for text in texts:
        for suffix in re.findall(r"/etc/apt/trusted\.gpg\.d/[^\s/]+?\.(gpg|asc)\b", text):
            yield Use("apt", f"trusted.gpg.d *.{suffix}", f"{node} {text[:60]}")
    for chunk in chunks(node):
        if chunk["state"] == "pkgrepo" and (options := re.match(r"deb(?:-src)?\s+\[([^\]]*)\]", chunk["name"])):
            for option in options.group(1).split():
                yield Use("apt", "sources.list " + option.split("=", 1)[0], f"{node} {chunk['__id__']}")


def dpkg_uses(node: str) -> Iterator[Use]:
    """The flags of every dpkg call in a command state, its unless and onlyif included."""
    for chunk in chunks(node):
        if chunk["state"] != "cmd":
            continue
        guards = [g for key in ("unless", "onlyif") for g in _listed(chunk.get(key)) if isinstance(g, str)]
        for text in [chunk["name"], *guards]:
            for flags in re.findall(r"\bdpkg((?:\s+-[-\w]+)+)", text):
                yield from (Use("dpkg_cli", flag, f"{node} {chunk['__id__']}") for flag in flags.split())


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def key_type_uses(node: str) -> Iterator[Use]:
    for command in commands(node):
        if command.startswith("ssh-keygen"):
            args = shlex.split(command)
            yield Use("ssh_key_types", args[args.index("-t") + 1], f"{node} {command[:40]}")


# ---- what the tree's scripts, suite and lab image use ----

def tracked(*patterns: str) -> list[Path]:
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", *patterns],
                         cwd=REPO, capture_output=True, text=True, check=True)
    return [REPO / p for p in out.stdout.split() if (REPO / p).is_file()]


def script_units() -> Iterator[tuple[str, str]]:
    """(script:function, unit text) of every shell function that prints a unit file, run by bash."""
    for script in tracked("*.sh"):
        source = script.read_text()
        for name in re.findall(r"^(\w+)\(\) \{\n(?:(?!^\}).*\n)*?\[(?:Unit|Service|Install)\]", source, re.M):
            body = re.search(rf"^{name}\(\) \{{\n.*?^\}}$", source, re.M | re.S).group(0)
            out = subprocess.run(["bash", "-c", f"{body}\n{name}"], capture_output=True, text=True, check=True)
            yield f"{script.relative_to(REPO)}:{name}", out.stdout


def ssh_settings(text: str) -> Iterator[tuple[str, str]]:
    """(Key, value) of every ssh option in a command line or in code: ``-o Key=value`` (one word
    or a Python argument list) and ssh_config lines written from Python strings (``"  Key value\\n"``)."""
    yield from re.findall(r"""-o\s+["']?([A-Z][A-Za-z]+)=([^\s"',]+)""", text)
    yield from re.findall(r"""["']-o["'],\s*f?["']([A-Z][A-Za-z]+)=([^"']*)""", text)
    yield from re.findall(r'"\s{2}([A-Z][A-Za-z]+) ([^"]*)\\n"', text)


def ssh_client_uses(settings: Iterable[tuple[str, str]], where: str) -> Iterator[Use]:
    for key, value in settings:
        yield Use("ssh_client", key, where)
        if f"{key}={value}" in PROFILE["ssh_client"]:
            yield Use("ssh_client", f"{key}={value}", where)
        for token in re.findall(r"%\w", value):
            yield Use("ssh_client", f"{key} {token}", where)
        if key == "KexAlgorithms":
            yield from (Use("kex", alg, where) for alg in value.lstrip("+-^").split(","))


def suite_ssh_uses() -> Iterator[Use]:
    """The suite's own ssh command lines: the mesh probe (the node's ssh client, as mpirun's
    plm_rsh_args) and the operator's connection to each node (validation/inventory.py)."""
    node, peer = NODES[0], NODES[1]
    mesh = probes.for_node(pillar(node, PLATFORM), [peer])["mesh"]
    yield from ssh_client_uses(ssh_settings(mesh), f"validation/probes.py mesh probe on {node}")
    row = CLUSTER["nodes"][0]
    target = inventory.ssh_target(row["name"], row["ip"], inventory.SshOptions())
    yield from ssh_client_uses(ssh_settings(target.options["ssh_extra_args"]), "validation/inventory.py ssh_target")


def code_ssh_uses() -> Iterator[Use]:
    """Every ``-o Key=value`` in the tree's code (suite, lab, Salt tools, states)."""
    for path in tracked(*(f"{d}/*" for d in CODE_DIRS)):
        if path.suffix in (".py", ".sh", ".sls", ".jinja", ".conf", ".service", "") and "testdata" not in path.parts:
            yield from ssh_client_uses(ssh_settings(path.read_text(errors="replace")), str(path.relative_to(REPO)))


def roster_uses() -> Iterator[Use]:
    """ssh_options of the salt-ssh roster the tree generates from the table (wherever roster.py lives)."""
    rosters = [p for p in tracked("*roster.py") if "tests" not in p.relative_to(REPO).parts]
    assert rosters, "no roster.py in the tree (the salt-ssh roster generator): the extraction is broken"
    for path in rosters:
        spec = importlib.util.spec_from_file_location("jetson_roster_profile", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for name, entry in module.entries(CLUSTER).items():
            for option in entry.get("ssh_options", []):
                yield from ssh_client_uses(ssh_settings(f"-o {option}"), f"{path.relative_to(REPO)} {name}")


def sshd_configs() -> list[Path]:
    return [p for p in tracked("*sshd*") if p.suffix in (".conf", "") and "tests" not in p.relative_to(REPO).parts]


def sshd_settings(path: Path) -> Iterator[tuple[str, str]]:
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.strip().partition(" ")
            yield key, value.strip()


def sshd_uses() -> Iterator[Use]:
    for path in sshd_configs():
        where = str(path.relative_to(REPO))
        for key, value in sshd_settings(path):
            yield Use("sshd", key, where)
            if key == "KexAlgorithms":
                yield from (Use("kex", alg, where) for alg in value.split(","))


def sudo_cli_uses() -> Iterator[Use]:
    """The flags of the suite's sudo on the node (validation/probes.py as_user)."""
    words = shlex.split(probes.as_user(CLUSTER["user"]["name"], "true"))
    for word in words[words.index("sudo") + 1:words.index("--")]:
        if word.startswith("-"):
            yield Use("sudo_cli", word, "validation/probes.py as_user")


# ---- the checks ----

def every_node(extract) -> list[Use]:
    return [use for node in NODES for use in extract(node)]


@pytest.mark.parametrize(
    "extract",
    [fstab_uses, exports_uses, sudoers_uses, unit_uses, apt_uses, key_type_uses, dpkg_uses],
    ids=["fstab", "exports", "sudoers", "units", "apt", "ssh-key-types", "dpkg"],
)
def test_rendered_options_exist_on_the_target(extract):
    uses = every_node(extract)
    if extract in (fstab_uses, exports_uses, sudoers_uses, key_type_uses, dpkg_uses):
        assert uses, f"{extract.__name__}: nothing extracted from the highstate: the extraction is broken"
    assert not problems(uses), "\n".join(problems(uses))


def test_nfs_mounts_use_a_version_the_target_kernel_offers():
    offered = PROFILE["components"]["kernel"]["nfs_client_versions"]
    found = [(value, where) for node in NODES for value, where in nfs_versions(node)]
    assert found, "no NFS fstab entry pins nfsvers="
    wrong = sorted({f"nfsvers={value} ({where})" for value, where in found if value not in offered})
    assert not wrong, f"the target kernel's NFS client offers {offered}: " + "; ".join(wrong[:3])


def test_units_the_scripts_write_use_only_directives_of_the_target():
    units = list(script_units())
    assert units, "no script prints a unit (tools/bootstrap's minion unit): the extraction is broken"
    uses = [Use("systemd_unit", d, where) for where, text in units for d in unit_directives(text)]
    assert uses and not problems(uses), "\n".join(problems(uses))


def test_ssh_options_of_the_suite_the_lab_and_the_tools_exist_on_the_target():
    uses = [*suite_ssh_uses(), *code_ssh_uses(), *roster_uses()]
    assert any(use.where.startswith("validation/probes.py mesh") for use in uses), "mesh probe: no ssh option found"
    assert not problems(uses), "\n".join(problems(uses))


def test_sshd_configs_exist_on_the_target():
    uses = list(sshd_uses())
    assert uses, "no sshd config found (lab/files/image/sshd-kex.conf)"
    assert not problems(uses), "\n".join(problems(uses))


def test_lab_sshd_offers_exactly_the_target_default_key_exchanges():
    expected = PROFILE["components"]["openssh"]["server_default_kex"]
    for path in sshd_configs():
        offered = [value.split(",") for key, value in sshd_settings(path) if key == "KexAlgorithms"]
        assert offered == [expected], (
            f"{path.relative_to(REPO)}: KexAlgorithms {offered}, OpenSSH 7.2p2 offers exactly {expected}"
        )


def test_the_suites_sudo_flags_exist_on_the_target():
    uses = list(sudo_cli_uses())
    assert uses and not problems(uses), "\n".join(problems(uses))


def test_on_node_jobs_are_code_for_the_workload_python():
    workload = PROFILE["components"]["python"]["workload"]
    for node in NODES:
        stack = pillar(node, PLATFORM)["gpu_stack"]
        if stack.get("enabled"):
            chosen = stack["jetpacks"][str(stack["jetpack"])]["python"]["version"]
            assert chosen == workload, f"{node}: the pillar's JetPack runs Python {chosen}, the profile says {workload}"
    jobs = [str(p) for p in tracked("validation/jobs/*.py")]
    vermin = [str(Path(sys.executable).parent / "vermin"), f"--target={workload}-", "--no-tips", "--violations"]
    out = subprocess.run([*vermin, *jobs], capture_output=True, text=True)
    assert jobs and out.returncode == 0, out.stdout + out.stderr


# ---- the checks can fail ----

def test_a_newer_fstab_option_fails_with_the_version_it_needs():
    uses = every_node(fstab_uses)
    uses = [u for u in uses if u.name != "x-systemd.mount-timeout"]
    assert not [p for p in problems(uses) if "x-systemd.mount-timeout" in p]
    injected = uses + [Use("mount", "x-systemd.mount-timeout", "astro0 fstab /home/mpiuser/cloud/1 (nfs)")]
    assert "x-systemd.mount-timeout needs systemd 233, the target has 229 (astro0 fstab /home/mpiuser/cloud/1 (nfs))" \
        in problems(injected)


def test_a_newer_key_exchange_fails_with_the_version_it_needs():
    uses = list(sshd_uses()) + [Use("kex", "curve25519-sha256", "lab/files/image/sshd-kex.conf")]
    assert "curve25519-sha256 needs openssh 7.4, the target has 7.2p2 (lab/files/image/sshd-kex.conf)" in problems(uses)


def test_an_option_missing_from_the_profile_fails_as_unknown():
    found = problems([Use("nfs_mount", "nconnect", "astro0 fstab")])
    assert found == ["unknown nfs_mount option nconnect (astro0 fstab): add it to tests/target/l4t-r28.1.yaml "
                     "with the version that introduced it"]


def test_sudoers_regex_arguments_are_seen_and_need_sudo_1_9_10():
    features = sudoers_features('u ALL=(root) NOPASSWD: /usr/bin/killall ^tegrastats$, /usr/sbin/iftop ""\n')
    assert features == ["user_spec", "runas_spec", "NOPASSWD", "command_args", "regex_args", "empty_args"]
    found = problems(Use("sudoers", f, "sample") for f in features)
    assert found == ["regex_args needs sudo 1.9.10, the target has 1.8.16 (sample)"]


def test_profile_entries_name_a_component_a_version_and_a_source():
    sections = {k: v for k, v in PROFILE.items() if k not in ("target", "components")}
    assert sections
    for section, entries in sections.items():
        for name, entry in entries.items():
            assert entry["component"] in PROFILE["components"], (section, name)
            assert version(entry["since"]) and entry["source"], (section, name)
