"""GPU: on nodes the table marks gpu: true, the flashed L4T, CUDA, cuDNN, the workload's Python
and its pinned packages, the power mode, and a TensorFlow matmul job on the GPU (run by the
fingerprint phase, validation/phase.py, full tier; skipped where pillar
gpu_stack:acceptance:run_job is false). On a gpu: false node only the L4T check exists, skipped
with that reason."""

import json
import re
import shlex
from typing import Any

import pytest

from validation import phase, pillars, probes
from validation.session import Node, State

# Import names of distributions whose module is named otherwise.
MODULES = {"scikit-learn": "sklearn", "tensorflow-gpu": "tensorflow"}
VERSIONS = (
    "import importlib, json, sys\nout = {}\nfor name in sys.argv[1:]:\n    try:\n"
    "        out[name] = str(getattr(importlib.import_module(name), '__version__', 'no __version__'))\n"
    "    except Exception as err:\n        out[name] = 'error: %s' % err\nprint(json.dumps(out))\n"
)


def _gpu(node: Node) -> tuple[dict[str, Any], dict[str, Any]]:
    """The gpu_stack settings and the chosen JetPack's entry."""
    stack = node.formula("gpu_stack")
    jetpack = probes.jetpack_of(stack)
    assert jetpack, f"{node.name}: pillar gpu_stack:jetpack {stack['jetpack']} is not in gpu_stack:jetpacks"
    return stack, jetpack


@pytest.mark.where("node:gpu", reason="gpu: false in the node table: the GPU checks do not run")
def test_l4t_release_matches_the_jetpack(node: Node, record: Any) -> None:
    stack, jetpack = _gpu(node)
    text = node.probe("nv_tegra_release").out
    assert text, f"{node.name}: /etc/nv_tegra_release is missing: not an L4T image"
    have = pillars.repo_module("salt/_grains/tegra.py")._parse(text)
    want = jetpack["l4t"]
    record(release=have["release"], revision=have["revision"], expected=want)
    assert (have["release"], have["revision"]) == (want["release"], want["revision"]), (
        f"{node.name}: L4T {have['release']}.{have['revision']} is flashed, JetPack {stack['jetpack']} "
        f"needs {want['release']}.{want['revision']}"
    )


@pytest.mark.where("node:gpu")
def test_cuda_and_cudnn_packages_have_jetpack_versions(node: Node, record: Any) -> None:
    _stack, jetpack = _gpu(node)
    wanted = probes.gpu_packages(jetpack)
    out = node.probe("dpkg").out
    have = {row[0]: row[1:] for row in map(str.split, out.splitlines()) if row}
    record(packages={name: " ".join(value) for name, value in have.items()})
    wrong = [
        f"{name} {' '.join(have.get(name, ['not installed']))} (want {version})"
        for name, version in wanted.items()
        if not _installed(have.get(name, []), version)
    ]
    assert not wrong, f"{node.name}: " + "; ".join(wrong)


def _installed(have: list[str], version: str) -> bool:
    """dpkg-query's [version, status] is installed at ``version`` (8.0 matches 8.0.84-1)."""
    return len(have) == 2 and have[1] == "installed" and re.match(re.escape(version) + r"([.-]|$)", have[0]) is not None


@pytest.mark.where("node:gpu")
def test_nvcc_reports_the_cuda_release(node: Node, record: Any) -> None:
    stack, jetpack = _gpu(node)
    result = node.probe("nvcc")
    record(nvcc=result.out.strip().splitlines()[-1:])
    release = f"release {jetpack['cuda']['version']}"
    assert result.rc == 0 and release in result.out, (
        f"{node.name}: {stack['cuda_link']}/bin/nvcc does not report {release}: {result.out.strip()[-200:]}"
    )


@pytest.mark.where("node:gpu")
def test_cuda_libraries_are_in_the_linker_cache(node: Node, record: Any) -> None:
    _stack, jetpack = _gpu(node)
    cuda, cudnn_major = jetpack["cuda"]["version"], jetpack["cudnn"]["version"].split(".")[0]
    wanted = [f"libcudart.so.{cuda}", f"libcublas.so.{cuda}", f"libcudnn.so.{cudnn_major}"]
    cached = {row[0] for row in map(str.split, node.probe("ldconfig").out.splitlines()[1:]) if row}
    record(found=sorted(cached & set(wanted)))
    missing = [lib for lib in wanted if lib not in cached]
    assert not missing, f"{node.name}: ldconfig -p lacks {missing}"


@pytest.mark.where("node:gpu")
def test_python_imports_the_pinned_versions(node: Node, record: Any) -> None:
    stack, jetpack = _gpu(node)
    pins = [
        w["requirement"]
        for w in [*stack["wheelhouse"], *jetpack["artifacts"]]
        if w.get("requirement") and w["role"] in ("wheel", "tensorflow-wheel")
    ]
    wanted = {}
    for pin in pins:
        name, _, version = pin.partition("==")
        wanted[MODULES.get(name.lower(), name.lower().replace("-", "_"))] = version.partition("+")[0]
    python = f"{stack['venv']}/bin/python"
    result = node.run_as_user(f"{python} -c {shlex.quote(VERSIONS)} {shlex.join(wanted)}", timeout=300)
    lines = result.stdout.strip().splitlines()
    assert result.rc == 0 and lines, f"{node.name}: {python} cannot run: {result.stderr.strip()[-300:]}"
    have = json.loads(lines[-1])
    record(versions=have, expected=wanted)
    wrong = [
        f"{module} {have.get(module)} (pin {version})"
        for module, version in wanted.items()
        if have.get(module) != version
    ]
    assert not wrong, f"{node.name}: {python}: " + "; ".join(wrong)


@pytest.mark.where("node:gpu")
def test_user_is_in_the_video_group(node: Node) -> None:
    _gpu(node)
    groups = node.probe("groups").out.split()
    assert "video" in groups, f"{node.name}: {node.user} is not in group video: the GPU is closed to it"


@pytest.mark.where("node:gpu")
def test_power_mode_is_the_pillar_mode(node: Node, record: Any) -> None:
    stack, _jetpack = _gpu(node)
    if stack["nvpmodel_mode"] is None:
        pytest.skip(f"{node.name}: pillar gpu_stack:nvpmodel_mode is null (the power mode is left alone)")
    out = node.probe("nvpmodel").out.strip().splitlines()
    record(nvpmodel=out)
    assert out[-1:] == [str(stack["nvpmodel_mode"])], (
        f"{node.name}: nvpmodel -q says {out}, pillar gpu_stack:nvpmodel_mode is {stack['nvpmodel_mode']}"
    )


@pytest.mark.tier("full")
@pytest.mark.where("node:gpu")
@pytest.mark.where(phase.GPU_JOB, reason=phase.NO_GPU_JOB)
def test_tensorflow_matmul_runs_on_the_gpu(node: Node, state: State, record: Any) -> None:
    """The matmul job (jobs/gpu_matmul.py) the fingerprint phase ran, tegrastats sampling meanwhile."""
    stack, _jetpack = _gpu(node)
    want = stack.get("acceptance") or {}
    missing = [key for key in ("matmul_size", "repeat", "max_error") if key not in want]
    assert not missing, f"{node.name}: pillar gpu_stack:acceptance lacks {missing} (the job's bounds)"
    ran = [job for job in state.jobs(node.name) if job["kind"] == "gpu"]
    assert ran, f"{node.name}: the fingerprint phase ran no GPU job here"
    job = ran[0]["result"]
    assert job, f"{node.name}: the GPU job printed no result: {ran[0]['error']}"
    record(**job)
    assert job.get("ok"), f"{node.name}: GPU job failed: {job.get('error')}"
    assert "GPU" in str(job["device"]).upper(), f"{node.name}: MatMul ran on {job['device']}, not on the GPU"
    assert job["max_error"] <= want["max_error"], f"{node.name}: max error {job['max_error']:.3g}"
    # Its GFLOP/s against the floor (and the run's other nodes, and the node's history):
    # test_perf.py's verdict check on the figure gpu_gflops (pillar acceptance:references).
