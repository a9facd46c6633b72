"""MPI: as the cluster user, mpirun with a hostfile from the table starts one rank on every
selected node that has the MPI library, and each rank reports its hostname."""

import shlex
from typing import Any

import pytest

from validation import probes
from validation.session import Node, State


def has_mpi(node: Node) -> bool:
    """The gpu_stack formula installs Open MPI where it is active (its map.jinja: enabled, i.e.
    gpu: true, or install_without_gpu)."""
    stack = node.formula("gpu_stack")
    return bool(stack["enabled"] or stack["install_without_gpu"])


@pytest.mark.cluster_wide
def test_mpirun_starts_one_rank_per_node(node: Node, state: State, record: Any) -> None:
    ranks = [name for name in state.reachable() if has_mpi(state.node(name))]
    if not ranks:
        pytest.skip(f"{node.name}: no reachable selected node has the GPU stack, so none has MPI")
    launcher = state.node(ranks[0])
    hostfile = "".join(f"{name} slots=1\\n" for name in ranks)
    command = (
        f"f=$(mktemp) && printf '{hostfile}' > $f && mpirun --hostfile $f --map-by node -np {len(ranks)} "
        f"--mca plm_rsh_no_tree_spawn 1 --mca plm_rsh_args {shlex.quote(probes.SSH_OPTIONS)} hostname; "
        "rc=$?; rm -f $f; exit $rc"
    )
    result = launcher.run_as_user(command, timeout=120 + 5 * len(ranks))
    reported = sorted(result.stdout.split())
    record(launcher=launcher.name, ranks=ranks, reported=reported, skipped=sorted(set(state.names) - set(ranks)))
    missing = sorted(set(ranks) - set(reported))
    assert result.rc == 0 and reported == sorted(ranks), (
        f"{launcher.name}: mpirun over {len(ranks)} nodes: no rank answered from {missing}, got {reported}; "
        f"{result.stderr.strip()[-300:]}"
    )
