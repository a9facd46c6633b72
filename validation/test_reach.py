"""Reach: the preflight reached the host and runs commands as root (one check per host)."""

from typing import Any

from validation.session import State


def test_host_answers_as_root(node_name: str, state: State, record: Any) -> None:
    reach = state.reach[node_name]
    probes = reach.get("probes", {})
    record(**{name: probes[name]["out"].strip() for name in ("uid", "hostname") if name in probes})
    assert reach["ok"], f"{node_name}: {reach['reason']}"
