"""salt/_modules/pillar_schema.py accepts what the formulas legitimately use (the refusals are the
hostile corpus, tests/render/test_hostile.py), and every rule it accepts is one visudo accepts."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from validation import pillars

SCHEMA = pillars.pillar_schema()

GOOD = {
    "nfs:version": ["auto", "3", "4", "4.1", "4.2", None],
    "nfs:unknown_server_versions": [["3"], ["3", "4"]],
    "nfs:server:data_dir": ["data", "users_data"],
    "nfs:server:unit": ["nfs-server.service"],
    "nfs:client:services": [["rpcbind", "rpc-statd"]],
    "nfs:export_options": [
        ["rw", "sync", "root_squash", "no_subtree_check", "sec=sys", "mp"],
        ["ro", "async", "all_squash", "anonuid=65534", "anongid=65534", "secure", "wdelay"],
    ],
    "sudoers:files": [
        {"diagnosenet": [
            'ALL=(root) NOPASSWD: /usr/local/sbin/jetson-tegrastats-stop ""',
            "ALL=(root) NOPASSWD: /usr/local/sbin/jetson-record start /var/log/jetson/run-1",
            "ALL=(root) NOPASSWD: /usr/bin/killall -9 tegrastats",
            "ALL=(root) PASSWD: /usr/bin/apt-get update",
        ]},
    ],
    "swap:size_mb": [16, 4096],
    "gpu_stack:nvpmodel_mode": [0, 2, None],
    "nfs:server:device": ["/dev/sda", "/dev/nvme0n1", "/dev/disk/by-id/ata-Samsung_SSD_850_EVO_S21PNXAG1"],
    "cluster_user:password_hash": [None, "$6$REPLACE.ME$this.is.not.a.hash"],
    "diagnosenet:source": ["https://github.com/IADBproject/diagnosenet.git", "diagnosenet.git"],
}


def _pillar(path: str, value) -> dict:
    *parents, last = path.split(":")
    data: dict = {}
    target = data
    for key in parents:
        target = target.setdefault(key, {})
    target[last] = value
    return data


@pytest.mark.parametrize(("path", "value"), [(p, v) for p, values in GOOD.items() for v in values])
def test_legitimate_values_pass(path, value):
    assert SCHEMA.problems(_pillar(path, value), "astro0") == []


@pytest.mark.parametrize(
    ("path", "value"),
    [("nfs:server:data_dir", "../etc"), ("nfs:server:data_dir", "a b"), ("nfs:server:unit", "x.service; id"),
     ("nfs:client:services", ["rpcbind", "$(id)"]), ("nfs:version", "4.3"), ("nfs:unknown_server_versions", ["auto"])],
)
def test_nfs_keys_that_reach_paths_and_units_refuse_other_values(path, value):
    assert SCHEMA.problems(_pillar(path, value), "astro0"), (path, value)


def test_unknown_keys_are_left_to_the_formulas():
    assert SCHEMA.problems({"nfs": {"some_new_key": "x y $z"}, "other": [1]}, "astro0") == []


@pytest.mark.skipif(shutil.which("visudo") is None, reason="visudo (package sudo) is not installed here")
def test_every_accepted_rule_is_valid_sudoers(tmp_path):
    rules = GOOD["sudoers:files"][0]["diagnosenet"]
    dropin = tmp_path / "rules"
    dropin.write_text("".join(f"mpiuser {rule}\n" for rule in rules))
    result = subprocess.run(["visudo", "-c", "-f", str(dropin)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
