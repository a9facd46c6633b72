"""Users: the cluster user with pinned ids, its groups and shell, its files' modes."""

import shlex
from typing import Any

from validation import probes
from validation.session import Node


def test_user_has_pinned_uid_gid_and_shell(node: Node, record: Any) -> None:
    want = node.formula("cluster_user")
    entry = node.probe("passwd").out.strip().split(":")
    assert len(entry) == 7, f"{node.name}: user {want['name']} does not exist"
    have = {"uid": int(entry[2]), "gid": int(entry[3]), "shell": entry[6], "home": entry[5]}
    expected = {"uid": want["uid"], "gid": want["gid"], "shell": want["shell"], "home": node.home}
    record(have=have, expected=expected)
    wrong = [f"{key} {have[key]} (pillar: {expected[key]})" for key in have if have[key] != expected[key]]
    assert not wrong, f"{node.name}: user {want['name']}: " + ", ".join(wrong)


def test_user_is_in_pillar_groups(node: Node, record: Any) -> None:
    """Exactly the pillar's groups: `sudo` only when pillar cluster_user:sudo_group is true
    (with a password hash, membership is root for everyone using the account)."""
    want = node.formula("cluster_user")
    expected = set(want["groups"]) | ({"sudo"} if want["sudo_group"] else set())
    have = node.probe("groups").out.split()
    supplementary = set(have[1:])  # `id -Gn` lists the primary group first
    record(groups=have, expected=sorted(expected))
    missing, extra = sorted(expected - supplementary), sorted(supplementary - expected)
    assert not (missing or extra), (
        f"{node.name}: user {want['name']} is not in group(s) {missing}, and is in {extra} beyond pillar "
        f"cluster_user:groups (sudo_group: {want['sudo_group']})"
    )


def test_password_is_locked_without_pillar_hash(node: Node, record: Any) -> None:
    want = node.formula("cluster_user")
    status = node.probe("passwd_status").out.split()[1:2]
    record(status=status)
    if want.get("password_hash"):
        assert status == ["P"], f"{node.name}: {want['name']} has no usable password"
    else:
        assert status == ["L"], (
            f"{node.name}: {want['name']} password is not locked (status {status}) "
            "but pillar cluster_user:password_hash is empty"
        )


def test_home_and_key_files_have_safe_modes(node: Node, record: Any) -> None:
    user = node.user
    home, key = probes.user_paths(node.pillar)
    expected = {
        home: node.formula("cluster_user")["home_mode"].lstrip("0"),
        f"{home}/.ssh": "700",
        key: "600",
        f"{key}.pub": "644",
        f"{home}/.ssh/authorized_keys": "600",
    }
    rows = [line.split() for line in node.probe("user_files").out.splitlines()]
    have = {row[0]: tuple(row[1:]) for row in rows if len(row) == 4}
    record(have={path: " ".join(value) for path, value in have.items()})
    wrong = [f"{path} missing" for path in expected if path not in have]
    wrong += [
        f"{path} is {mode} {owner}:{group}, want {expected[path]} {user}:{user}"
        for path, (mode, owner, group) in have.items()
        if (mode, owner, group) != (expected[path], user, user)
    ]
    assert not wrong, f"{node.name}: " + "; ".join(wrong)


def test_stock_accounts_are_locked(node: Node, record: Any) -> None:
    """L4T's stock accounts (nvidia/nvidia, ubuntu/ubuntu, both in group sudo): where one exists,
    its password must be locked, or any researcher is root through `su`."""
    accounts = node.formula("cluster_user")["lock_accounts"]
    present = [a for a in accounts if node.run(f"getent passwd {shlex.quote(a)}").rc == 0]
    status = {a: node.run(f"passwd -S {shlex.quote(a)}").stdout.split()[1:2] for a in present}
    record(accounts=accounts, present=present, status=status)
    unlocked = {a: s for a, s in status.items() if s != ["L"]}
    assert not unlocked, f"{node.name}: stock account(s) with a usable password (passwd -S): {unlocked}"
