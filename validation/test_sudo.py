"""Sudo: the config parses, the drop-ins hold exactly the pillar rules, sudo grants the cluster
user no passwordless rule beyond them and none without an argument list, and the energy
recorder reaches tegrastats only through the root-owned wrapper, by its absolute path."""

import shlex
from typing import Any

import pytest

from validation import parse
from validation.session import Node


def test_visudo_accepts_the_config(node: Node, record: Any) -> None:
    result = node.probe("visudo")
    record(output=result.out.strip().splitlines())
    assert result.rc == 0, f"{node.name}: visudo -c fails: {result.out.strip()}"


def test_dropins_hold_exactly_pillar_rules(node: Node, record: Any) -> None:
    sudoers = node.formula("sudoers")
    wrong = []
    for name, rules in sorted(sudoers["files"].items()):
        path = f"{sudoers['dir']}/{name}"
        meta = node.probe(f"sudoers_meta:{name}").out.strip()
        lines = [" ".join(row) for row in parse.table_lines(node.probe(f"sudoers_file:{name}").out)]
        want = [" ".join(f"{sudoers['user']} {rule}".split()) for rule in rules]
        record(**{name: {"mode": meta, "rules": lines}})
        if meta != "440 root root":
            wrong.append(f"{path} is '{meta or 'missing'}', want '440 root root'")
        if lines != want:
            wrong.append(
                f"{path} has {sorted(set(lines) - set(want))} beyond pillar and lacks {sorted(set(want) - set(lines))}"
            )
    assert not wrong, f"{node.name}: " + "; ".join(wrong)


def test_sudo_grants_only_pillar_rules_without_password(node: Node, record: Any) -> None:
    sudoers = node.formula("sudoers")
    listed = parse.sudo_rules(node.probe("sudo_l").out)
    want = [parse.sudo_rule_as_listed(rule) for rules in sudoers["files"].values() for rule in rules]
    record(listed=listed)
    missing = [rule for rule in want if rule not in listed]
    extra = [rule for rule in listed if "NOPASSWD" in rule and rule not in want]
    assert not (missing or extra), (
        f"{node.name}: sudo -l -U {sudoers['user']}: missing {missing}, passwordless beyond pillar {extra}"
    )


def test_every_passwordless_rule_has_an_argument_list(node: Node, record: Any) -> None:
    """A NOPASSWD command listed without arguments takes any: the recorder's unquoted sudo
    line, tegrastats --logfile, killall of any process all went through such rules."""
    listed = parse.sudo_rules(node.probe("sudo_l").out)
    bare = {rule: parse.passwordless_without_arguments(rule) for rule in listed}
    bare = {rule: commands for rule, commands in bare.items() if commands}
    record(listed=listed, without_arguments=bare)
    assert not bare, (
        f"{node.name}: sudo -l -U {node.formula('sudoers')['user']}: passwordless with any argument: "
        + "; ".join(f"{', '.join(commands)} (in '{rule}')" for rule, commands in bare.items())
    )


def test_recorder_runs_tegrastats_through_the_wrapper(node: Node, record: Any) -> None:
    """The installed recorder runs sudo only on the wrapper, by the absolute path sudoers names
    (upstream's relative `sudo ./.../tegrastats` matches no rule: empty energy logs); the three
    capture files are root-owned 0755 regular files."""
    stack = node.formula("gpu_stack")
    if not (stack["enabled"] or stack["install_without_gpu"]):
        pytest.skip(f"{node.name}: gpu: false in the node table (no workload, no recorder)")
    capture = node.formula("diagnosenet")["capture"]
    paths = [capture["recorder"], capture["wrapper"], capture["tegrastats"]]
    meta = node.run("stat -c '%n %U %G %a %F' " + " ".join(map(shlex.quote, paths))).stdout.splitlines()
    called = parse.sudo_targets(node.read(capture["recorder"]))
    record(files=meta, sudo_targets=called)
    wrong = [line for line in meta if line.split()[1:] != ["root", "root", "755", "regular", "file"]]
    wrong += [f"{path} missing" for path in paths if not any(line.startswith(f"{path} ") for line in meta)]
    if not called or set(called) != {capture["wrapper"]}:
        wrong.append(f"{capture['recorder']} runs sudo on {called}, want only {capture['wrapper']}")
    assert not wrong, f"{node.name}: " + "; ".join(wrong)
