"""Names: hostname from the table, every table name resolves to its table IP, the pillar's
extra /etc/hosts entries are kept."""

from typing import Any

from validation import parse
from validation.session import Node


def test_hostname_is_the_table_name(node: Node, record: Any) -> None:
    want = node.formula("hosts")["hostname"]
    live, saved = node.probe("hostname").out.strip(), node.probe("etc_hostname").out.strip()
    record(live=live, etc_hostname=saved, expected=want)
    assert (live, saved) == (want, want), (
        f"{node.name}: hostname is {live!r}, /etc/hostname has {saved!r}, table name is {want!r}"
    )


def test_every_table_name_resolves_to_its_ip(node: Node, record: Any) -> None:
    entries = node.formula("hosts")["entries"]
    resolved = parse.getent_hosts(node.probe("getent_hosts").out)
    wrong = [
        f"{e['name']} -> {resolved.get(e['name'], ['nothing'])[0]} (table: {e['ip']})"
        for e in entries
        if resolved.get(e["name"], [None])[0] != e["ip"]
    ]
    record(wrong=wrong, names=len(entries))
    assert not wrong, f"{node.name}: getent hosts: " + "; ".join(wrong)


def _addresses(node: Node) -> dict[str, list[str]]:
    """Every name of the node's hosts file -> the addresses it stands on, in file order."""
    seen: dict[str, list[str]] = {}
    for row in parse.table_lines(node.probe("hosts_file").out):
        for name in row[1:]:
            seen.setdefault(name, []).append(row[0])
    return seen


def test_hosts_file_has_each_table_name_once(node: Node, record: Any) -> None:
    hosts = node.formula("hosts")
    seen = _addresses(node)
    wrong = [
        f"{e['name']} on {seen.get(e['name'], [])} (table: {e['ip']})"
        for e in hosts["entries"]
        if seen.get(e["name"]) != [e["ip"]]
    ]
    record(wrong=wrong)
    assert not wrong, f"{node.name}: {hosts['file']}: " + "; ".join(wrong)


def test_hosts_file_keeps_the_extra_entries(node: Node, record: Any) -> None:
    """/etc/hosts is a whole file: what pillar hosts:extra_entries adds (e.g. the salt-master) is in it."""
    hosts = node.formula("hosts")
    seen = _addresses(node)
    wrong = [f"{name} on {seen.get(name, [])} (pillar: {entry['ip']})"
             for entry in hosts["extra_entries"] for name in entry["names"] if seen.get(name) != [entry["ip"]]]
    record(extra=len(hosts["extra_entries"]), wrong=wrong)
    assert not wrong, f"{node.name}: {hosts['file']}: hosts:extra_entries: " + "; ".join(wrong)
