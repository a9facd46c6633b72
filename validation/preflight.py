"""Reach every selected host once, in parallel, before any check runs.

One command per host proves the transport works and that commands run as root, and brings
back everything the static checks read on that node (validation/probes.py): the checks then
parse it instead of each running its own command, and the SSH checks of the other nodes
compare against its keys. An unreachable host becomes one failure with this reason; its
checks are skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import testinfra

from validation import inventory
from validation import probes as probes_module


def reach(spec: str, options: dict[str, Any], probes: dict[str, str]) -> dict[str, Any]:
    """Run all ``probes`` (validation/probes.py) on one host in one command: {ok, reason, probes}."""
    mark = probes_module.marker()
    try:
        result = testinfra.get_host(spec, **options).run(probes_module.script(probes, mark))
    except Exception as err:  # testinfra raises RuntimeError(result) for ssh errors, others too
        return {"ok": False, "reason": f"unreachable: {error_reason(err)}", "probes": {}}
    found = probes_module.parse(result.stdout, mark)
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


def connect(spec: str, options: dict[str, Any]) -> dict[str, Any] | None:
    """Open the host's (multiplexed) connection: None when it answers, else the failure."""
    try:
        testinfra.get_host(spec, **options).run("true")
    except Exception as err:  # as in reach()
        return {"ok": False, "reason": f"unreachable: {error_reason(err)}", "probes": {}}
    return None


def run_all(
    targets: list[inventory.Target],
    render: Callable[[], None],
    probes_of: Callable[[list[str]], dict[str, dict[str, str]]],
) -> dict[str, dict[str, Any]]:
    """Every host at once: open the connections while ``render()`` runs (it renders the pillar
    the probes come from), then run each answering host's probes (``probes_of(answering)``,
    the names in ``targets`` order) over its connection."""
    if not targets:
        return {}
    with ThreadPoolExecutor(max_workers=min(32, len(targets))) as pool:
        opening = {t.name: pool.submit(connect, t.spec, t.options) for t in targets}
        render()
        failed = {name: future.result() for name, future in opening.items()}
        probes = probes_of([t.name for t in targets if failed[t.name] is None])
        reaching = {t.name: pool.submit(reach, t.spec, t.options, probes[t.name]) for t in targets if t.name in probes}
        reached = {name: future.result() for name, future in reaching.items()}
    return {t.name: reached.get(t.name) or failed[t.name] for t in targets}
