"""validation/verdicts.py: references from the pillar, bounds, drift and outlier maths."""

from __future__ import annotations

import pytest
import yaml
from saltrender import REPO

from validation import session
from validation.verdicts import Reference, judge, references

FAILURES = {"floor", "ceiling", "outlier"}
CPU = Reference(floor=1.0, drift=-0.15, outlier=-0.20)
LATENCY = Reference(ceiling=2000, drift=0.50, outlier=1.00)


def no_history(node: str, figure: str) -> list[float]:
    return []


def run(values: dict[str, float], figure: str = "cpu_mops") -> dict[str, dict[str, float]]:
    return {node: {figure: value} for node, value in values.items()}


def test_the_repo_pillar_references_load():
    pillar = yaml.safe_load((REPO / "pillar" / "acceptance.sls").read_text())["acceptance"]
    refs = references(pillar["references"])
    assert refs["cpu_mops"] == CPU and refs["mpi_latency_us"] == LATENCY
    assert set(pillar["failures"]) == FAILURES


@pytest.mark.parametrize(("data", "message"), [
    ({"floor": "x"}, "acceptance:references:cpu_mops:floor: 'x' is not a number"),
    ({"drift": True}, "acceptance:references:cpu_mops:drift: True is not a number"),
    ({"outlier": float("nan")}, "acceptance:references:cpu_mops:outlier: nan is not a number"),
    ({"flor": 1.0}, "acceptance:references:cpu_mops: unknown key(s) flor"),
    ([1.0], "acceptance:references:cpu_mops: [1.0] is not a mapping"),
])
def test_bad_references_are_refused_naming_figure_and_field(data, message):
    with pytest.raises(ValueError) as error:
        references({"cpu_mops": data})
    assert message in str(error.value)


def test_a_node_30_percent_slow_is_the_only_outlier():
    steady = [29.7, 29.9, 30.0, 30.0, 30.1, 30.3, 30.4]  # with the slow node: median 30
    values = {f"astro{i}": value for i, value in enumerate(steady)} | {"astro7": 21.0}
    found = judge(run(values), {"cpu_mops": CPU}, no_history, FAILURES)
    assert [(v.node, v.kind, v.severity, v.reference) for v in found] == [("astro7", "outlier", "fail", 30.0)]
    assert found[0].text == ("astro7: cpu_mops 21 Mop/s is 30% below this run's median 30 Mop/s over 8 nodes "
                             "(outlier tolerance -20%)")


def test_fewer_than_three_nodes_give_no_outlier_verdict():
    assert judge(run({"astro0": 30.0, "astro1": 10.0}), {"cpu_mops": CPU}, no_history, FAILURES) == []
    three = judge(run({"astro0": 30.0, "astro1": 30.0, "astro2": 10.0}), {"cpu_mops": CPU}, no_history, FAILURES)
    assert [(v.node, v.kind) for v in three] == [("astro2", "outlier")]


def test_a_steady_node_is_not_drifting():
    past = {"astro0": [30.1, 29.8, 30.4, 30.0, 29.9]}
    found = judge(run({"astro0": 29.5}), {"cpu_mops": CPU}, lambda node, figure: past[node], FAILURES)
    assert found == []


def test_a_node_dropping_20_percent_against_its_own_median_of_5_runs_drifts_and_warns():
    past = [31.0, 29.0, 30.0, 32.0, 28.0]  # median 30
    asked = []

    def history(node, figure):
        asked.append((node, figure))
        return past

    found = judge(run({"astro3": 24.0}), {"cpu_mops": CPU}, history, FAILURES)
    assert asked == [("astro3", "cpu_mops")]
    assert [(v.kind, v.severity, v.reference, v.value) for v in found] == [("drift", "warn", 30.0, 24.0)]
    assert found[0].text == ("astro3: cpu_mops 24 Mop/s is 20% below its median 30 Mop/s of the last 5 run(s) "
                             "(drift tolerance -15%)")
    assert judge(run({"astro3": 24.0}), {"cpu_mops": CPU}, history, FAILURES | {"drift"})[0].severity == "fail"


def test_floor_breach_fails():
    found = judge(run({"astro0": 0.5}), {"cpu_mops": CPU}, no_history, FAILURES)
    assert [(v.kind, v.severity, v.reference) for v in found] == [("floor", "fail", 1.0)]
    assert found[0].text == "astro0: cpu_mops 0.5 Mop/s is below the floor 1 Mop/s"


def test_latency_is_judged_upwards_ceiling_drift_and_outlier_with_the_subject():
    figure = "mpi_latency_us/astro1"
    values = {"astro0": 400.0, "astro1": 410.0, "astro2": 2500.0, "astro3": 380.0}
    found = judge(run(values, figure), {"mpi_latency_us": LATENCY}, lambda node, fig: [400.0, 420.0], FAILURES)
    assert [(v.node, v.kind) for v in found] == [("astro2", "ceiling"), ("astro2", "drift"), ("astro2", "outlier")]
    assert all(figure in v.text for v in found)
    assert found[0].text == f"astro2: {figure} 2500 us is above the ceiling 2000 us"
    assert "above its median 410 us" in found[1].text and "(drift tolerance +50%)" in found[1].text
    # a faster node (lower latency) is never flagged by an upward tolerance
    fast = judge(run({"astro0": 400.0, "astro1": 400.0, "astro2": 100.0}, figure), {"mpi_latency_us": LATENCY},
                 lambda node, fig: [400.0], FAILURES)
    assert fast == []


def test_figures_without_a_reference_get_no_verdict():
    assert judge(run({"astro0": 0.0, "astro1": 99.0, "astro2": 99.0}, "gpu_freq_mhz"), {"cpu_mops": CPU},
                 no_history, FAILURES) == []


def test_ring_pair_figures_are_compared_across_nodes_by_name() -> None:
    """Each node's MPI figure names its own ring peer: the outlier check compares them by name."""
    ring = ["a", "b", "c", "d"]
    figures = {node: {f"mpi_bw_mbs/{ring[(i + 1) % 4]}": 100.0} for i, node in enumerate(ring)}
    figures["a"]["mpi_bw_mbs/b"] = 1.0
    found = judge(figures, {"mpi_bw_mbs": Reference(outlier=-0.40)}, lambda n, f: [], {"outlier"})
    assert [(v.node, v.figure, v.kind) for v in found] == [("a", "mpi_bw_mbs/b", "outlier")]


X86 = {f"x{i}": 30.0 + i / 10 for i in range(4)}  # x86_64 nodes: median 30.15


def test_an_emulated_arm64_node_is_judged_only_among_arm64_nodes() -> None:
    """An arm64 node under qemu-user runs ~90% below the x86_64 nodes beside it: not an outlier
    when too few arm64 nodes are there to compare it with, nor among arm64 peers alike."""
    machines = {node: "x86_64" for node in X86} | {"a0": "aarch64", "a1": "aarch64", "a2": "aarch64"}
    alone = run(X86 | {"a0": 3.0})
    assert [v.node for v in judge(alone, {"cpu_mops": CPU}, no_history, FAILURES)] == ["a0"]  # against everyone
    assert judge(alone, {"cpu_mops": CPU}, no_history, FAILURES, machines=machines) == []
    assert judge(run(X86 | {"a0": 3.0, "a1": 3.1, "a2": 2.9}), {"cpu_mops": CPU}, no_history, FAILURES,
                 machines=machines) == []


def test_an_x86_node_among_x86_peers_is_still_an_outlier_over_its_machine_type() -> None:
    machines = {node: "x86_64" for node in [*X86, "x9"]} | {"a0": "aarch64", "a1": "aarch64", "a2": "aarch64"}
    figures = run(X86 | {"x9": 15.0, "a0": 3.0, "a1": 3.1, "a2": 2.9})
    found = judge(figures, {"cpu_mops": CPU}, no_history, FAILURES, machines=machines)
    assert [(v.node, v.kind, v.reference) for v in found] == [("x9", "outlier", 30.1)]
    assert "this run's median 30.1 Mop/s over 5 x86_64 nodes" in found[0].text
    # an arm64 node slow among its own kind is caught too; a node of unknown type only among the unknown
    slow = judge(run({"a0": 3.0, "a1": 3.1, "a2": 1.0, "u0": 1.0}), {"cpu_mops": CPU}, no_history, FAILURES,
                 machines=machines)
    assert [(v.node, v.text.split(" over ")[1]) for v in slow] == [("a2", "3 aarch64 nodes (outlier tolerance -20%)")]


def test_session_judges_each_node_with_the_machine_its_preflight_read() -> None:
    names = [*X86, "a0"]
    state = session.State([session.inventory.Target(name, f"ssh://{name}", {}) for name in names], {},
                          figures=run(X86 | {"a0": 3.0}))
    pillar = {"acceptance": {"failures": ["outlier"], "references": {"cpu_mops": {"outlier": -0.2}}}}
    state.reach = {name: {"ok": True, "probes": {}} for name in names}  # no machine read: one group
    assert [v["node"] for v in session.judge(state, pillar)] == ["a0"]
    for name in names:
        state.reach[name]["probes"]["machine"] = {"rc": 0, "out": "aarch64" if name == "a0" else "x86_64"}
    assert session.machines(state) == {name: "aarch64" if name == "a0" else "x86_64" for name in names}
    assert session.judge(state, pillar) == []
