"""The Vagrantfile: the dev cluster is the table's masters + one worker, on the table's IPs.

Ruby evaluates the real Vagrantfile against a recording stand-in for ``Vagrant.configure``
(tests/lab/vagrant_record.rb): the machines, IPs, disks and provisioning it declares are compared
with the node table, for the real table and table5. ``vagrant validate`` checks it with
Vagrant itself. Every run writes its derived files into a temp dir (JETSON_VAGRANT_BUILD).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from saltrender import REPO

from jetson_array import nodetable

VAGRANTFILE = REPO / "Vagrantfile"
RECORDER = Path(__file__).with_name("vagrant_record.rb")
TABLES = {"real": REPO / "pillar" / "nodes.yaml", "table5": REPO / "tests" / "data" / "table5.yaml"}
SSD_DEVICE = {"libvirt": "/dev/vdb", "virtualbox": "/dev/sdb"}


def need(tool: str) -> str:
    path = shutil.which(tool)
    assert path, f"{tool} is missing: apt-get install --no-install-recommends {tool}"
    return path


def expected_nodes(cluster: dict) -> list[dict]:
    """What the dev cluster must be: the masters and the first non-master, in table order."""
    worker = next(r for r in cluster["nodes"] if r["name"] not in cluster["masters"])
    return [r for r in cluster["nodes"] if r["name"] in cluster["masters"] or r is worker]


def record(table: Path, build: Path, **env: str) -> list[dict]:
    """The machines the Vagrantfile defines, as recorded by tests/lab/vagrant_record.rb."""
    environment = {**os.environ, "JETSON_NODE_TABLE": str(table),
                   "JETSON_VAGRANT_BUILD": str(build), **env}
    result = subprocess.run([need("ruby"), str(RECORDER), str(VAGRANTFILE)], env=environment,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(params=TABLES)
def recorded(request, tmp_path) -> tuple[dict, list[dict], Path]:
    table = TABLES[request.param]
    machines = record(table, tmp_path, JETSON_SALT_TARBALL="salt-onedir-linux-x86_64.tar.xz",
                      JETSON_SALT_SHA256="ab" * 32)
    return nodetable.load(str(table)), machines, tmp_path


def test_ruby_accepts_the_vagrantfile_syntax() -> None:
    result = subprocess.run([need("ruby"), "-c", str(VAGRANTFILE)], capture_output=True, text=True)
    assert result.returncode == 0 and "Syntax OK" in result.stdout, result.stderr


def test_machines_are_the_masters_and_one_worker_on_their_table_ips(recorded) -> None:
    cluster, machines, _ = recorded
    want = expected_nodes(cluster)
    assert [(m["name"], m["hostname"], m["ip"]) for m in machines] == [
        (r["name"], r["name"], r["ip"]) for r in want
    ]


def test_only_masters_get_a_second_disk_with_every_provider(recorded) -> None:
    cluster, machines, _ = recorded
    for machine in machines:
        is_master = machine["name"] in cluster["masters"]
        assert machine["libvirt_disks"] == (1 if is_master else 0), machine["name"]
        assert machine["virtualbox_disks"] == (1 if is_master else 0), machine["name"]


@pytest.mark.parametrize("provider", SSD_DEVICE)
def test_each_vm_bootstraps_its_table_name_on_a_derived_table_that_passes_the_check(
    recorded, provider
) -> None:
    cluster, machines, build = recorded
    derived = nodetable.load(str(build / f"nodes-{provider}.yaml"))
    assert [r["name"] for r in derived["nodes"]] == [r["name"] for r in expected_nodes(cluster)]
    assert derived["masters"] == cluster["masters"]
    for row in derived["nodes"]:
        assert row["gpu"] is False, row["name"]
        assert row.get("ssd") == (SSD_DEVICE[provider] if "ssd" in row else None)
    for machine in machines:
        script = machine[f"{provider}_provision"]
        assert f"--id {machine['name']} --masterless /vagrant " in script
        assert script.split("--table ")[1].split()[0].endswith(f"nodes-{provider}.yaml")
        assert "salt-call --local --retcode-passthrough state.apply" in script
    site = yaml.safe_load((build / "site" / "site.sls").read_text())
    assert site == {"nfs": {"server": {"format_device": True}}}


def test_provisioning_without_the_salt_tarball_fails_with_a_pointer(tmp_path) -> None:
    env = {"JETSON_SALT_TARBALL": "", "JETSON_SALT_SHA256": ""}
    for machine in record(TABLES["table5"], tmp_path, **env):
        script = machine["libvirt_provision"]
        assert "JETSON_SALT_TARBALL" in script and script.endswith("exit 1")


def vagrant_validate(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "VAGRANT_CWD": str(REPO),
                   "VAGRANT_DOTFILE_PATH": str(tmp_path / "dot"),
                   "VAGRANT_HOME": str(tmp_path / "home"),
                   "JETSON_VAGRANT_BUILD": str(tmp_path / "build"), **env}
    return subprocess.run([need("vagrant"), "validate", *args], cwd=tmp_path, env=environment,
                          capture_output=True, text=True, timeout=300)


def test_vagrant_validates_the_config_without_a_provider(tmp_path) -> None:
    result = vagrant_validate(tmp_path, "--ignore-provider")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "validated successfully" in result.stdout


def test_vagrant_validates_the_libvirt_provider_config(tmp_path) -> None:
    plugins = subprocess.run([need("vagrant"), "plugin", "list"], capture_output=True, text=True,
                             env={**os.environ, "VAGRANT_HOME": str(tmp_path / "home")})
    if "vagrant-libvirt" not in plugins.stdout:
        pytest.skip("vagrant-libvirt is not installed (apt-get install vagrant-libvirt): "
                    "the libvirt provider block is checked only with it")
    result = vagrant_validate(tmp_path, VAGRANT_DEFAULT_PROVIDER="libvirt")
    assert result.returncode == 0, result.stdout + result.stderr
