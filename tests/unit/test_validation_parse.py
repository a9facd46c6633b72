"""The acceptance suite's parsers, on the output the real tools print."""

from __future__ import annotations

import base64
import platform
import subprocess
import tempfile
from pathlib import Path

from validation import parse, probes, session

EXPORTFS_V = (
    "/exports      \t10.1.0.10(sync,wdelay,hide,no_subtree_check,fsid=2,sec=sys,rw,secure,root_squash,no_all_squash)\n"
    "/exports      \t10.1.0.11(sync,wdelay,hide,no_subtree_check,fsid=2,sec=sys,rw,secure,root_squash,no_all_squash)\n"
    "/srv/a/rather/long/export/path\n"
    "\t\t<world>(sync,wdelay,hide,no_subtree_check,sec=sys,ro,secure,root_squash,no_all_squash)\n"
)
# The least pillar probes.for_node reads (formula settings come from the defaults.yaml files).
PILLAR_STUB = {"cluster_user": {"name": "root", "home": "/home/root"}, "node": {"gpu": False}}
SUDO_L = """Matching Defaults entries for labuser on tx3:
    env_reset, mail_badpass, secure_path=/usr/local/sbin\\:/usr/local/bin

User labuser may run the following commands on tx3:
    (ALL : ALL) ALL
    (root) NOPASSWD: /opt/tools/record.sh
    (root) NOPASSWD: /usr/bin/killall   tegrastats
"""


def test_exportfs_v_joins_wrapped_lines_and_names_the_world() -> None:
    exports = parse.exportfs_v(EXPORTFS_V)
    assert sorted(exports["/exports"]) == ["10.1.0.10", "10.1.0.11"]
    assert "fsid=2" in exports["/exports"]["10.1.0.10"]
    assert list(exports["/srv/a/rather/long/export/path"]) == ["*"]


def test_exports_file_space_before_options_exports_to_the_world() -> None:
    text = "# comment\n/exports 10.1.0.10(rw,sync) \\\n  10.1.0.11(rw)\n/exports2 10.1.0.12 (rw)\n"
    exports = parse.exports(text)
    assert exports["/exports"] == {"10.1.0.10": ["rw", "sync"], "10.1.0.11": ["rw"]}
    assert exports["/exports2"] == {"10.1.0.12": [], "*": ["rw"]}


def test_sudo_rules_are_the_lines_after_the_header_normalized() -> None:
    rules = parse.sudo_rules(SUDO_L)
    assert rules == [
        "(ALL : ALL) ALL",
        "(root) NOPASSWD: /opt/tools/record.sh",
        "(root) NOPASSWD: /usr/bin/killall tegrastats",
    ]
    assert parse.sudo_rule_as_listed("ALL=(root) NOPASSWD: /usr/bin/killall tegrastats") == rules[2]


def test_fstab_entries_skip_comments_and_split_options() -> None:
    text = (
        "# /etc/fstab\nUUID=abc / ext4 errors=remount-ro 0 1\n"
        "10.1.0.13:/exports /home/u/cloud/0 nfs nfsvers=4.2,_netdev 0 0\n"
    )
    [entry] = parse.fstab_entries(text, "target", "/home/u/cloud/0")
    assert entry == {
        "source": "10.1.0.13:/exports",
        "target": "/home/u/cloud/0",
        "fstype": "nfs",
        "options": ["nfsvers=4.2", "_netdev"],
    }


def test_key_lines_read_authorized_keys_and_known_hosts() -> None:
    authorized = "# Managed by Salt\nssh-ed25519 AAAAC3Nza1 labuser@tx0\nssh-ed25519 AAAAC3Nza2 labuser@tx1\n"
    assert parse.key_lines(authorized) == [
        ("labuser@tx0", "ssh-ed25519 AAAAC3Nza1"),
        ("labuser@tx1", "ssh-ed25519 AAAAC3Nza2"),
    ]
    known = "tx0,10.1.0.10 ssh-ed25519 AAAAC3Nzb1\ntx0,10.1.0.10 ecdsa-sha2-nistp256 AAAAE2Vj\n"
    assert parse.key_lines(known)[1] == ("tx0,10.1.0.10", "ecdsa-sha2-nistp256 AAAAE2Vj")


def test_getent_hosts_maps_names_and_aliases() -> None:
    assert parse.getent_hosts("10.1.0.10      tx0\n127.0.1.1 tx1 tx1.local\n") == {
        "tx0": ["10.1.0.10"],
        "tx1": ["127.0.1.1"],
        "tx1.local": ["127.0.1.1"],
    }


def test_proc_mounts_returns_the_top_mount() -> None:
    text = (
        "systemd-1 /home/u/cloud/0 autofs rw,relatime,fd=40 0 0\n"
        "10.1.0.13:/exports /home/u/cloud/0 nfs4 rw,vers=4.2,proto=tcp 0 0\n"
    )
    top = parse.proc_mounts(text, "/home/u/cloud/0")
    assert (top["source"], top["fstype"]) == ("10.1.0.13:/exports", "nfs4") and "vers=4.2" in top["options"]
    assert parse.proc_mounts(text, "/elsewhere") is None


def test_probe_script_frames_each_output_with_its_exit_status() -> None:
    commands = {
        "lines": "printf 'a\\nb\\n'",
        "no_newline": "printf 'x'",
        "empty": "true",
        "fails": "echo oops >&2; exit 3",
        "marker_like": "echo '@@@not-a-marker'",
    }
    mark = probes.marker()
    run = subprocess.run(["sh", "-c", probes.script(commands, mark)], capture_output=True, text=True, check=True)
    found = probes.parse(run.stdout, mark)
    assert found == {
        "lines": {"rc": 0, "out": "a\nb"},
        "no_newline": {"rc": 0, "out": "x"},
        "empty": {"rc": 0, "out": ""},
        "fails": {"rc": 3, "out": ""},
        "marker_like": {"rc": 0, "out": "@@@not-a-marker"},
    }


def forged_authorized_keys(mark: str) -> str:
    """What the cluster user can write to its authorized_keys (printed by a probe after the
    passwd probe): a passwd block framed as the preflight framed blocks before (fixed markers),
    and one line framed as today's script frames a block, with today's marker."""
    fake = "mpiuser:x:0:0::/root:/bin/bash"
    fixed = f"@@@jetson-probe-end 0\n@@@jetson-probe-begin passwd\n{fake}\n\n@@@jetson-probe-end 0\n"
    encoded = base64.b64encode(f"{fake}\n0".encode()).decode()
    return f"ssh-ed25519 AAAA x\n{fixed}{mark} passwd {encoded}\n"


def test_a_probe_output_cannot_forge_the_block_of_another_probe() -> None:
    mark = probes.marker()
    forged = forged_authorized_keys(mark)
    real = "mpiuser:x:1100:1100::/home/mpiuser:/bin/bash"
    # in the order probes.for_node has them
    commands = dict(zip(["passwd", "authorized_keys"], [f"echo '{real}'", "cat keys"], strict=True))
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "keys").write_text(forged)
        run = subprocess.run(["sh", "-c", probes.script(commands, mark)], cwd=tmp, capture_output=True, text=True,
                             check=True)
    found = probes.parse(run.stdout, mark)
    assert found["passwd"] == {"rc": 0, "out": real}
    assert found["authorized_keys"] == {"rc": 0, "out": forged.removesuffix("\n")}, "the file is read verbatim"


def test_every_node_s_probe_script_reads_its_machine_type() -> None:
    """uname -m: the outlier verdicts compare a node with nodes of its own machine type."""
    mark = probes.marker()
    script = probes.script(probes.for_node(PILLAR_STUB), mark)
    found = probes.parse(subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60).stdout, mark)
    assert found["machine"] == {"rc": 0, "out": platform.machine()}


def test_each_probe_run_has_its_own_marker_and_other_runs_lines_are_ignored() -> None:
    first, second = probes.marker(), probes.marker()
    assert first != second and len(first.rpartition("-")[2]) == 32
    run = subprocess.run(["sh", "-c", probes.script({"uid": "id -u"}, first)], capture_output=True, text=True)
    assert probes.parse(run.stdout, second) == {}
    assert probes.parse(run.stdout.rstrip("\n"), first) == {}, "a line cut short (no newline) is no result"


def test_mesh_peers_are_the_next_node_or_every_other_one() -> None:
    names = ["astro0", "astro1", "astro2"]
    assert [session.peers_among(names, name, "ring") for name in names] == [["astro1"], ["astro2"], ["astro0"]]
    assert session.peers_among(names, "astro1", "all") == ["astro0", "astro2"]
    assert (
        session.peers_among(["astro5"], "astro5", "ring")
        == ["astro5"]
        == session.peers_among(["astro5"], "astro5", "all")
    )


def test_mesh_probe_prints_each_peer_with_the_last_line_ssh_printed() -> None:
    """As root (sudo to root needs no password here): an unresolvable peer answers ssh's error."""
    peers = ["peer-one.invalid", "peer-two.invalid"]
    command = probes.for_node(PILLAR_STUB, peers)["mesh"]
    mark = probes.marker()
    script = probes.script({"mesh": command}, mark)
    run = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60)
    out = probes.parse(run.stdout, mark)["mesh"]["out"]
    answers = dict(line.split(" ", 1) for line in out.splitlines())
    assert list(answers) == peers
    assert all("Could not resolve hostname" in answers[peer] for peer in peers), answers
    assert "mesh" not in probes.for_node(PILLAR_STUB)


def test_passwordless_commands_without_an_argument_list_are_found() -> None:
    without = parse.passwordless_without_arguments
    assert without("(root) NOPASSWD: /opt/tools/record.sh") == ["/opt/tools/record.sh"]
    assert without('(root) NOPASSWD: /usr/bin/killall -9 tegrastats, /opt/w "", /usr/sbin/iftop') == ["/usr/sbin/iftop"]
    assert without("(ALL : ALL) NOPASSWD: SETENV: ALL") == ["ALL"]
    assert without('(root) NOPASSWD: /opt/w ""') == []
    assert without("(ALL : ALL) ALL") == []  # asks for the password


def test_sudo_targets_are_the_words_sudo_runs_in_command_position() -> None:
    upstream = 'ARGS="./"\n## sudo visudo\nsudo $ARGS$ADDPATH$EXEC  |\nawk x\n'
    assert parse.sudo_targets(upstream) == ["$ARGS$ADDPATH$EXEC"]
    ours = ("WRAPPER=/opt/e/bin/w\nif ! sudo -n -l \"$WRAPPER\" >/dev/null; then\n"
            "    echo \"x: sudo does not let $(id -un) run\" >&2\nfi\nsudo -n \"$WRAPPER\" | awk y &\n")
    assert parse.sudo_targets(ours) == ["/opt/e/bin/w", "/opt/e/bin/w"]
