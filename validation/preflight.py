"""Reach every selected host once, in parallel, before any check runs.

One command per host proves the transport works and that commands run as root, and brings
back everything the static checks read on that node (validation/probes.py): the checks then
parse it instead of each running its own command, and the SSH checks of the other nodes
compare against its keys. An unreachable host becomes one failure with this reason; its
checks are skipped.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import testinfra

from validation import probes as probes_module


def reach(spec: str, options: dict[str, Any], probes: dict[str, str]) -> dict[str, Any]:
    """Run all ``probes`` (validation/probes.py) on one host in one command: {ok, reason, probes}."""
    try:
        result = testinfra.get_host(spec, **options).run(probes_module.script(probes))
    except Exception as err:  # testinfra raises RuntimeError(result) for ssh errors, others too
        return {"ok": False, "reason": f"unreachable: {error_reason(err)}", "probes": {}}
    found = probes_module.parse(result.stdout)
    if result.rc != 0 or "uid" not in found:
        detail = (result.stderr or result.stdout).strip().splitlines()
        reason = f"cannot run commands: {detail[-1] if detail else f'exit {result.rc}'}"
        return {"ok": False, "reason": reason, "probes": found}
    uid = found["uid"]["out"].strip()
    if uid != "0":
        reason = (
            f"commands run as uid {uid}, not root: pass --sudo or --ssh-user root (the checks read root-only files)"
        )
        return {"ok": False, "reason": reason, "probes": found}
    return {"ok": True, "reason": "", "probes": found}


def error_reason(err: Exception) -> str:
    """The last line ssh printed for a failed connection (testinfra raises RuntimeError(result))."""
    result = err.args[0] if err.args else None
    stderr = getattr(result, "stderr", None)
    if stderr:
        lines = [line for line in stderr.strip().splitlines() if line.strip()]
        return lines[-1] if lines else str(err)
    return str(err) or type(err).__name__


def run_all(jobs: dict[str, tuple[str, dict[str, Any], dict[str, str]]]) -> dict[str, dict[str, Any]]:
    """{name: (spec, options, probes)} -> {name: reach result}, all hosts at once."""
    if not jobs:
        return {}
    with ThreadPoolExecutor(max_workers=min(32, len(jobs))) as pool:
        futures = {name: pool.submit(reach, *job) for name, job in jobs.items()}
        return {name: future.result() for name, future in futures.items()}
