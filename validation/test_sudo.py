"""Sudo: the config parses, the drop-ins hold exactly the pillar rules, and sudo grants the
cluster user no passwordless rule beyond them."""

from typing import Any

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
