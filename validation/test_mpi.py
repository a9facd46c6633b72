"""MPI: as the cluster user, mpirun with a hostfile from the table starts one rank on every
selected node that has the MPI library, and each rank reports its hostname."""

import shlex
from typing import Any

import pytest

from validation import probes
from validation.session import Node, State

EXIT = "@@mpirun-exit"  # the line with mpirun's exit status


@pytest.mark.tier("full")
@pytest.mark.cluster_wide
def test_mpirun_starts_one_rank_per_node(node: Node, state: State, record: Any) -> None:
    ranks = [name for name in state.reachable() if probes.has_mpi(state.pillars[name])]
    if not ranks:
        pytest.skip(f"{node.name}: no reachable selected node has the GPU stack, so none has MPI")
    launcher = state.node(ranks[0])
    hostfile = "".join(f"{name} slots=1\\n" for name in ranks)
    # mpirun's exit status goes to stdout: its 255 (a daemon did not start) would read as ssh's
    # own 255 (the connection to the launcher broke) and hide which node broke the run.
    command = (
        f"f=$(mktemp) && printf '{hostfile}' > $f && mpirun --hostfile $f --map-by node -np {len(ranks)} "
        f"--mca plm_rsh_no_tree_spawn 1 --mca plm_rsh_args {shlex.quote(probes.SSH_OPTIONS)} hostname; "
        f"echo {EXIT} $?; rm -f $f"
    )
    result = launcher.run_as_user(command, timeout=120 + 5 * len(ranks))
    lines = result.stdout.splitlines()
    status = next((line.split()[-1] for line in lines if line.startswith(f"{EXIT} ")), "?")
    reported = sorted(word for line in lines if not line.startswith(EXIT) for word in line.split())
    record(launcher=launcher.name, ranks=ranks, reported=reported, skipped=sorted(set(state.names) - set(ranks)))
    if status == "0" and reported == sorted(ranks):
        return
    missing = sorted(set(ranks) - set(reported))
    broken = mesh_breakers(launcher, state, ranks)
    record(broken=broken)
    culprits = "; ".join(f"{peer}: {why}" for peer, why in broken.items()) or (
        f"every rank answers ssh from {launcher.name}: the break is past ssh (the daemons' TCP back to it)")
    pytest.fail(
        f"{launcher.name}: mpirun over {len(ranks)} nodes (exit {status}): no rank answered from "
        f"{missing}; the mesh breaks at {culprits}; mpirun: {result.stderr.strip()[-300:]}",
        pytrace=False,
    )


def mesh_breakers(launcher: Node, state: State, ranks: list[str]) -> dict[str, str]:
    """The ranks the cluster user cannot reach by ssh as mpirun does: from the launcher now
    (the mesh probe of validation/probes.py), and any a node's preflight hop did not reach."""
    peers = [name for name in ranks if name != launcher.name]
    broken = probes.broken_hops(launcher.run(probes.mesh(launcher.user, peers)).stdout, peers) if peers else {}
    for name in ranks:
        hops = probes.broken_hops(state.node(name).probes.get("mesh", {}).get("out", ""), state.peers(name))
        for peer, why in hops.items():
            broken.setdefault(peer, f"{why} (from {name}, preflight)")
    return {peer: broken[peer] for peer in ranks if peer in broken}
