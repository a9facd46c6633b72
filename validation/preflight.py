"""Reach every selected host once, in parallel, before any check runs.

One command per host proves the transport works and that commands run as root, and
brings back the few facts other nodes' checks need (the user's public key, the host
keys). An unreachable host becomes one failure with this reason; its checks are skipped.
"""

from __future__ import annotations

import shlex
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import testinfra

FACTS_SCRIPT = """\
echo "uid $(id -u)"
echo "hostname $(hostname)"
home=$(getent passwd {user} | cut -d: -f6)
[ -n "$home" ] && [ -r "$home/.ssh/{keyfile}" ] && sed 's/^/user_key /' "$home/.ssh/{keyfile}"
for f in /etc/ssh/ssh_host_*_key.pub; do [ -r "$f" ] && sed 's/^/host_key /' "$f"; done
exit 0
"""


def facts_command(user: str, key_type: str) -> str:
    return FACTS_SCRIPT.format(user=shlex.quote(user), keyfile=f"id_{key_type}.pub")


def parse_facts(stdout: str) -> dict[str, Any]:
    """``key value`` lines -> {uid, hostname, user_key, host_keys[]}."""
    facts: dict[str, Any] = {"host_keys": []}
    for line in stdout.splitlines():
        key, _, value = line.partition(" ")
        if key == "host_key":
            facts["host_keys"].append(key_of(value))
        elif key == "user_key":
            facts["user_key"] = key_of(value)
        elif key in ("uid", "hostname"):
            facts[key] = value.strip()
    return facts


def key_of(line: str) -> str:
    """'type base64 [comment]' -> 'type base64'."""
    return " ".join(line.split()[:2])


def reach(spec: str, options: dict[str, Any], command: str) -> dict[str, Any]:
    """Run the facts command on one host: {ok, reason, facts}."""
    try:
        result = testinfra.get_host(spec, **options).run(command)
    except Exception as err:  # testinfra raises RuntimeError(result) for ssh errors, others too
        return {"ok": False, "reason": f"unreachable: {error_reason(err)}", "facts": {}}
    if result.rc != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        return {"ok": False, "reason": f"cannot run commands: {detail[-1] if detail else result.rc}", "facts": {}}
    facts = parse_facts(result.stdout)
    if facts.get("uid") != "0":
        return {
            "ok": False,
            "facts": facts,
            "reason": f"commands run as uid {facts.get('uid')}, not root: pass --sudo or "
            "--ssh-user root (the checks read root-only files)",
        }
    return {"ok": True, "reason": "", "facts": facts}


def error_reason(err: Exception) -> str:
    """The last line ssh printed for a failed connection (testinfra raises RuntimeError(result))."""
    result = err.args[0] if err.args else None
    stderr = getattr(result, "stderr", None)
    if stderr:
        lines = [line for line in stderr.strip().splitlines() if line.strip()]
        return lines[-1] if lines else str(err)
    return str(err) or type(err).__name__


def run_all(jobs: dict[str, tuple[str, dict[str, Any], str]]) -> dict[str, dict[str, Any]]:
    """{name: (spec, options, command)} -> {name: reach result}, all hosts at once."""
    if not jobs:
        return {}
    with ThreadPoolExecutor(max_workers=min(32, len(jobs))) as pool:
        futures = {name: pool.submit(reach, *job) for name, job in jobs.items()}
        return {name: future.result() for name, future in futures.items()}
