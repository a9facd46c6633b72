"""Parsers for the node files and command outputs the checks compare with pillar."""

from __future__ import annotations

import re
import shlex
from typing import Any


def table_lines(text: str) -> list[list[str]]:
    """Whitespace-split lines without comments and blanks (fstab, /proc/swaps, ...)."""
    rows = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            rows.append(line.split())
    return rows


def fstab(text: str) -> list[dict[str, Any]]:
    """/etc/fstab -> [{source, target, fstype, options[]}]."""
    return [
        {"source": row[0], "target": row[1], "fstype": row[2], "options": row[3].split(",") if len(row) > 3 else []}
        for row in table_lines(text)
        if len(row) >= 3
    ]


def fstab_entries(text: str, field: str, value: str) -> list[dict[str, Any]]:
    return [entry for entry in fstab(text) if entry[field] == value]


def exports(text: str) -> dict[str, dict[str, list[str]]]:
    """/etc/exports -> {path: {client: [options]}}; a bare ``(opts)`` exports to the world '*'."""
    result: dict[str, dict[str, list[str]]] = {}
    for row in table_lines(text.replace("\\\n", " ")):
        clients = result.setdefault(row[0], {})
        for token in row[1:]:
            client, _, options = token.partition("(")
            clients[client or "*"] = options.rstrip(")").split(",") if options else []
    return result


def exportfs_v(text: str) -> dict[str, dict[str, list[str]]]:
    """``exportfs -v`` -> {path: {client: [options]}} (a long path puts the client on the next
    line; ``<world>`` is '*')."""
    joined: list[str] = []
    for line in text.splitlines():
        if line[:1].isspace() and joined:
            joined[-1] += " " + line.strip()
        elif line.strip():
            joined.append(line.strip())
    result: dict[str, dict[str, list[str]]] = {}
    for line in joined:
        path, _, rest = line.partition(" ")
        client, _, options = rest.strip().partition("(")
        client = "*" if client in ("<world>", "") else client
        result.setdefault(path, {})[client] = options.rstrip(")").split(",")
    return result


def sudo_rules(text: str) -> list[str]:
    """``sudo -l -U user`` -> the rule lines after 'may run the following commands'."""
    rules, started = [], False
    for line in text.splitlines():
        if "may run the following commands" in line:
            started = True
        elif started and line.strip():
            rules.append(" ".join(line.split()))
    return rules


def passwordless_without_arguments(rule: str) -> list[str]:
    """A rule as ``sudo -l`` lists it -> its commands that run without a password and without an
    argument list (any argument allowed): '(root) NOPASSWD: /a, /b x' -> ['/a']. '""' (no
    argument) is an argument list."""
    match = re.match(r"\([^)]*\)\s+((?:[A-Z_]+:\s*)*)(.*)", rule)
    if not match or "NOPASSWD:" not in match[1]:
        return []
    commands = re.split(r"(?<!\\),\s*", match[2])
    return [command.strip() for command in commands if len(command.split()) < 2]


def sudo_targets(script: str) -> list[str]:
    """The command word after each `sudo [-x ...]` in command position in a shell script
    (comments dropped), with `$WRAPPER` expanded from the script's own `WRAPPER=` line."""
    code = "\n".join(line.split("#", 1)[0] for line in script.splitlines())
    assigned = re.search(r"^WRAPPER=(\S+)$", code, re.M)
    wrapper = shlex.split(assigned[1])[0] if assigned else "$WRAPPER"
    command = r"(?:^|[|;&(!`])\s*(?:(?:if|then|do|while|until)\s+)?!?\s*sudo(?:\s+-[A-Za-z]+)*\s+(\S+)"
    words = re.findall(command, code, re.M)
    return [wrapper if word in ('"$WRAPPER"', "$WRAPPER") else word for word in words]


def sudo_rule_as_listed(rule: str) -> str:
    """A sudoers rule without user, 'ALL=(root) NOPASSWD: /x' -> '(root) NOPASSWD: /x'
    (how ``sudo -l`` lists it)."""
    _hosts, _, rest = rule.partition("=")
    return " ".join(rest.split())


def key_lines(text: str) -> list[tuple[str, str]]:
    """authorized_keys / known_hosts -> [(first field or comment, 'type base64')]."""
    result = []
    for row in table_lines(text):
        if len(row) >= 3 and row[0].startswith(("ssh-", "ecdsa-", "sk-")):
            result.append((row[2], f"{row[0]} {row[1]}"))  # authorized_keys: key comment
        elif len(row) >= 3:
            result.append((row[0], f"{row[1]} {row[2]}"))  # known_hosts: hosts key
    return result


def getent_hosts(text: str) -> dict[str, list[str]]:
    """``getent hosts n1 n2 ...`` -> {name or alias: [ips]}."""
    result: dict[str, list[str]] = {}
    for row in table_lines(text):
        for name in row[1:]:
            result.setdefault(name, []).append(row[0])
    return result


def proc_mounts(text: str, target: str) -> dict[str, Any] | None:
    """The top mount at ``target`` in /proc/mounts: {source, fstype, options[]}, or None."""
    top = None
    for row in table_lines(text):
        if len(row) >= 4 and row[1] == target:
            top = {"source": row[0], "fstype": row[2], "options": row[3].split(",")}
    return top


def key_of(line: str) -> str:
    """'type base64 [comment]' -> 'type base64' (comments differ between files, keys do not)."""
    return " ".join(line.split()[:2])
