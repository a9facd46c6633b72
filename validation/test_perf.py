"""Performance: each figure the fingerprint phase measured on a node (validation/phase.py,
jobs/fingerprint.py), judged against the pillar's acceptance references, this run's other
nodes and the node's own history (validation/verdicts.py); the GPU's clock and temperature
during the GPU job (tegrastats). Full tier only. A 'warn' verdict passes, recorded."""

from typing import Any

import pytest

from validation import phase, pillars, tegrastats
from validation.session import Node, State
from validation.verdicts import UNITS

pytestmark = pytest.mark.tier("full")


def _job_of(state: State, node: Node, figure: str) -> dict[str, Any]:
    for job in state.jobs(node.name):
        if figure in phase.figure_ids(job):
            return job
    pytest.fail(f"{node.name}: the fingerprint phase planned no job measuring {figure}", pytrace=False)


def _peer_at_fault(state: State, job: dict[str, Any]) -> str:
    """A ring pair's figure measures both ends: when the peer fails its own (not pair) jobs or
    figures, a slow or broken pair is the peer's to answer for, not this node's."""
    if job["kind"] != "mpi":
        return ""
    peer = job["subject"]
    own = [f"{peer}: {j['kind']} job: {j['error']}" for j in state.jobs(peer) if j["kind"] != "mpi" and j["error"]]
    own += [v["text"] for v in state.verdicts
            if v["node"] == peer and v["severity"] == "fail" and not v["figure"].startswith("mpi_")]
    return "; ".join(own)


def test_figure(node: Node, figure: str, state: State, record: Any, record_property: Any) -> None:
    job = _job_of(state, node, figure)
    if job["skip"]:
        pytest.skip(job["skip"])
    blame = _peer_at_fault(state, job)
    if blame and (not job["ok"] or any(v["severity"] == "fail" for v in state.verdicts_of(node.name, figure))):
        pytest.skip(f"{node.name}: {figure}: not judged, its ring peer fails its own figures: {blame}")
    assert job["ok"], f"{node.name}: the {job['kind']} job {job['subject']} failed: {job['error']}".replace("  ", " ")
    value = state.figures.get(node.name, {}).get(figure)
    if value is None:
        pytest.skip(f"{node.name}: {figure}: no tegrastats line during the GPU job (no energy figure)")
    found = state.verdicts_of(node.name, figure)
    name = figure.partition("/")[0]
    warnings = [v["text"] for v in found if v["severity"] != "fail"]
    reference = pillars.get(node.pillar, f"acceptance:references:{name}")
    record(value=value, unit=UNITS[name], reference=reference, warnings=warnings)
    record_property(figure, f"{value:g} {UNITS[name]}")
    failed = [v["text"] for v in found if v["severity"] == "fail"]
    assert not failed, "; ".join(failed)


@pytest.mark.where("node:gpu")
@pytest.mark.where(phase.GPU_JOB, reason=phase.NO_GPU_JOB)
def test_gpu_clock_and_temperature_during_the_gpu_job(node: Node, state: State, record: Any) -> None:
    """The GR3D clock reached the power mode's maximum, no zone passed the thermal limit."""
    ran = [job for job in state.jobs(node.name) if job["kind"] == "gpu"]
    assert ran and ran[0]["tegrastats"], f"{node.name}: no tegrastats line during the GPU job: {_why(ran)}"
    settings = pillars.get(node.pillar, "acceptance", {})
    summary = tegrastats.summarize(ran[0]["tegrastats"])
    mode = pillars.formula(node.pillar, "gpu_stack")["nvpmodel_mode"]
    record(mode=mode, **summary)
    problems = [
        tegrastats.clock_verdict(mode, summary["gpu_freq_mhz"], settings.get("gpu_clock_mhz") or {}),
        tegrastats.thermal_verdict(summary["temp_max_c"], pillars.required(node.pillar, "acceptance:thermal_limit_c")),
    ]
    problems = [text for text in problems if text]
    assert not problems, f"{node.name}: " + "; ".join(problems)


def _why(ran: list[dict[str, Any]]) -> str:
    return ran[0]["error"] or "the capture wrapper printed nothing" if ran else "the phase ran no GPU job"
