"""The acceptance suite's host selection: --hosts globs over the node table, plain specs."""

from __future__ import annotations

import os
import stat

import pytest

from validation import inventory, pillars, session

SSH = inventory.SshOptions(control_dir="/tmp/jv-test")


def cluster(count: int) -> dict:
    """A synthetic table n0..n<count-1> on 10.9.0.0/24 (the expansion needs names and IPs only)."""
    return {"nodes": [{"name": f"n{i}", "ip": f"10.9.0.{10 + i}"} for i in range(count)]}


def names(targets: list[inventory.Target]) -> list[str]:
    return [target.name for target in targets]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("n*", [f"n{i}" for i in range(13)]),
        ("n1?", ["n10", "n11", "n12"]),
        ("n1", ["n1"]),
        ("n12,n3", ["n3", "n12"]),  # table order, not command-line order
        ("n1*, n1?", ["n1", "n10", "n11", "n12"]),  # overlaps counted once
        ("n[02]", ["n0", "n2"]),
    ],
)
def test_globs_expand_over_table_names_in_table_order(pattern: str, expected: list[str]) -> None:
    assert names(inventory.expand(pattern, cluster(13), SSH)) == expected


def test_glob_target_is_ssh_to_the_table_ip_with_one_multiplexed_connection() -> None:
    ssh = inventory.SshOptions(user="root", identity_file="/k", control_dir="/tmp/jv-test")
    [target] = inventory.expand("n3", cluster(5), ssh)
    assert target.spec == "ssh://root@n3"
    extra = target.options["ssh_extra_args"]
    for option in ("HostName=10.9.0.13", "ControlMaster=auto", "ControlPath=/tmp/jv-test/%C", "BatchMode=yes"):
        assert f"-o {option}" in extra
    assert "ControlPersist=" in extra
    assert target.options["ssh_identity_file"] == "/k"
    assert "StrictHostKeyChecking" not in extra


def test_hostname_from_ssh_config_wins_over_table_ip(tmp_path) -> None:
    config = tmp_path / "ssh_config"
    config.write_text("Host n2\n  HostName 127.0.0.1\n  Port 2202\n")
    ssh = inventory.SshOptions(config=str(config), control_dir="/tmp/jv-test")
    by_name = {t.name: t for t in inventory.expand("n2,n3", cluster(5), ssh)}
    assert "HostName" not in by_name["n2"].options["ssh_extra_args"]
    assert "-o HostName=10.9.0.13" in by_name["n3"].options["ssh_extra_args"]
    assert by_name["n2"].options["ssh_config"] == str(config)


@pytest.mark.parametrize(
    ("spec", "node"),
    [
        ("ssh://root@127.0.0.1:2222?node=n4", "n4"),
        ("ssh://root@n2", "n2"),
        ("paramiko://admin@10.9.0.11:22", "n1"),
        ("salt://n0", "n0"),
        ("local://?node=n3", "n3"),
    ],
)
def test_plain_specs_are_kept_and_mapped_to_their_node(spec: str, node: str) -> None:
    [target] = inventory.expand(spec, cluster(5), SSH)
    assert (target.name, target.spec) == (node, spec)


@pytest.mark.parametrize(
    ("patterns", "message"),
    [
        ("", "no hosts"),
        (None, "no hosts"),
        ("m*", "'m*' matches no node of the table (n0 .. n4, 5 nodes)"),
        ("n1,x?", "'x?' matches no node"),
        ("ssh://root@127.0.0.1:2222", "cannot tell which node of the table it is; append ?node=<name>"),
        ("local://?node=n9", "node=n9 is not a node of the table"),
    ],
)
def test_bad_patterns_are_refused_with_the_culprit(patterns: str | None, message: str) -> None:
    with pytest.raises(inventory.InventoryError) as error:
        inventory.expand(patterns, cluster(5), SSH)
    assert message in str(error.value)


def test_astro_glob_selects_every_node_of_the_default_table() -> None:
    table = pillars.table(pillars.salt_opts(None))
    prefix = table["name_prefix"]
    assert names(inventory.expand(f"{prefix}*", table, SSH)) == [row["name"] for row in table["nodes"]]


def test_control_masters_are_closed_with_the_same_options() -> None:
    targets = inventory.expand("n1,ssh://root@n2", cluster(3), inventory.SshOptions(user="root", control_dir="/c"))
    [command] = inventory.control_exit_commands(targets)
    assert command[-3:] == ["-O", "exit", "n1"]
    assert "User=root" in command and "ControlPath=/c/%C" in command and "HostName=10.9.0.11" in command


# --- the ssh control dir: sockets of root's connections to every node --------------------


def test_control_dir_is_made_private(tmp_path) -> None:
    path = str(tmp_path / "ctl")
    assert inventory.private_dir(path) == path
    info = os.lstat(path)
    assert stat.S_ISDIR(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o700 and info.st_uid == os.getuid()
    assert inventory.private_dir(path) == path, "our own private dir is reused"


def bad_dirs(tmp_path) -> dict[str, tuple[str, str]]:
    """Control dirs another user could have prepared: path -> the reason it is refused."""
    good = tmp_path / "good"
    good.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(good)
    (tmp_path / "file").write_text("")
    (tmp_path / "open").mkdir()
    (tmp_path / "open").chmod(0o777)
    cases = {"link": "is a symlink", "file": "is not a directory", "open": "has mode 0777, not 0700"}
    if os.geteuid() == 0:
        (tmp_path / "theirs").mkdir(mode=0o700)
        os.chown(tmp_path / "theirs", 65534, 65534)
        cases["theirs"] = f"is owned by uid 65534, not {os.getuid()}"
    return {str(tmp_path / name): reason for name, reason in cases.items()}


def test_a_control_dir_we_do_not_own_alone_is_refused(tmp_path) -> None:
    for path, reason in bad_dirs(tmp_path).items():
        with pytest.raises(inventory.InventoryError) as err:
            inventory.private_dir(path)
        assert f"ssh control dir {path} {reason}" in str(err.value)


def test_the_run_stops_before_any_connection_on_a_bad_control_dir(tmp_path) -> None:
    path = next(iter(bad_dirs(tmp_path)))
    ssh = inventory.SshOptions(control_dir=path)
    with pytest.raises(inventory.InventoryError, match=f"ssh control dir {path} is a symlink"):
        session.build("astro0", None, ssh, "ring")
