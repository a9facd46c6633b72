"""The all-node MPI check (validation/test_mpi.py) when one node breaks the mesh: it names the
node and why, from the launcher's ssh to every rank and the preflight's hops; mpirun's own exit
status never reads as a lost connection to the launcher."""

from __future__ import annotations

import warnings
from types import SimpleNamespace
from typing import Any

import pytest

from validation import inventory, session

with warnings.catch_warnings():  # its marks are registered by validation/plugin.py, not here
    warnings.simplefilter("ignore", pytest.PytestUnknownMarkWarning)
    from validation import test_mpi as mpi

NAMES = ["astro0", "astro1", "astro2", "astro3"]
DENIED = "mpiuser@astro2: Permission denied (publickey)."


def make_state(preflight_hops: dict[str, str]) -> session.State:
    """Four reachable MPI nodes in a ring; ``preflight_hops``: node -> what its mesh probe printed."""
    targets = [inventory.Target(name, f"ssh://{name}", {}) for name in NAMES]
    pillar = {"cluster_user": {"name": "mpiuser"}, "gpu_stack": {"enabled": True}}
    state = session.State(targets, {name: pillar for name in NAMES})
    state.mesh_peers = {name: session.peers_among(NAMES, name, "ring") for name in NAMES}
    for name in NAMES:
        peer = state.mesh_peers[name][0]
        out = preflight_hops.get(name, f"{peer} {peer}")
        state.reach[name] = {"ok": True, "reason": "", "probes": {"mesh": {"rc": 0, "out": out}}}
    return state


def fake_run(mpirun_out: str, hops_out: str, seen: list[str]) -> Any:
    """Node.run on the launcher: mpirun's output, or the mesh probe's."""

    def run(node: session.Node, command: str, *args: Any) -> SimpleNamespace:
        seen.append(command)
        if "mpirun" in command:
            return SimpleNamespace(rc=0, stdout=mpirun_out, stderr="ORTE was unable to reliably start a daemon.")
        return SimpleNamespace(rc=0, stdout=hops_out, stderr="")

    return run


def check(monkeypatch: pytest.MonkeyPatch, state: session.State, mpirun_out: str, hops_out: str) -> str:
    """Run the check from the first node; return its failure message ('' when it passed)."""
    seen: list[str] = []
    monkeypatch.setattr(session.Node, "run", fake_run(mpirun_out, hops_out, seen))
    try:
        mpi.test_mpirun_starts_one_rank_per_node(state.node(NAMES[0]), state, lambda **values: None)
    except pytest.fail.Exception as failure:
        return str(failure)
    assert len(seen) == 1, "a passing run asks nothing more"
    return ""


def test_a_node_the_launcher_cannot_reach_is_named_with_ssh_s_reason(monkeypatch) -> None:
    mpirun_out = f"astro0\nastro1\nastro3\n{mpi.EXIT} 255\n"
    hops_out = f"astro1 astro1\nastro2 {DENIED}\nastro3 astro3\n"
    message = check(monkeypatch, make_state({}), mpirun_out, hops_out)
    assert "mpirun over 4 nodes (exit 255): no rank answered from ['astro2']" in message
    assert f"the mesh breaks at astro2: {DENIED}" in message
    assert "connection lost" not in message


def test_a_hop_the_preflight_saw_fail_is_named_with_its_origin(monkeypatch) -> None:
    state = make_state({"astro2": "astro3 Host key verification failed."})
    hops_out = "astro1 astro1\nastro2 astro2\nastro3 astro3\n"
    message = check(monkeypatch, state, f"astro0\n{mpi.EXIT} 1\n", hops_out)
    assert "the mesh breaks at astro3: Host key verification failed. (from astro2, preflight)" in message


def test_a_break_past_ssh_says_so(monkeypatch) -> None:
    hops_out = "astro1 astro1\nastro2 astro2\nastro3 astro3\n"
    message = check(monkeypatch, make_state({}), f"astro0\n{mpi.EXIT} 1\n", hops_out)
    assert "every rank answers ssh from astro0: the break is past ssh" in message


def test_every_rank_answering_passes(monkeypatch) -> None:
    assert check(monkeypatch, make_state({}), "astro3\nastro1\nastro0\nastro2\n" + f"{mpi.EXIT} 0\n", "") == ""

