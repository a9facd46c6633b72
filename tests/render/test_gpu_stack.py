"""The gpu_stack and diagnosenet formulas render per node, gated on the L4T/JetPack check and the install package."""

from __future__ import annotations

import os
import sys
import zipfile
from pathlib import Path
from typing import Any

import install_package as package_tool
import pytest
import salt.client
import yaml
from saltrender import PILLAR, REPO, by_id, minion_opts

from jetson_array import manifest, nodetable

UBUNTU = "ubuntu1604-aarch64"
LAB_TABLE = REPO / "lab" / "files" / "nodes.yaml"
GATE = "gpu-stack-jetpack-matches"
VERIFIED = "gpu-stack-install-package-verified"
R28_1 = "# R28 (release), REVISION: 1.0, GCID: 9379712, BOARD: t186ref, EABI: aarch64, DATE: x\n"
R28_2_1 = "# R28 (release), REVISION: 2.1, GCID: 11272647, BOARD: t186ref, EABI: aarch64, DATE: x\n"
R32_1 = "# R32 (release), REVISION: 1.0, GCID: 14531094, BOARD: t186ref, EABI: aarch64, DATE: x\n"
GPU_SLS = ("gpu_stack", "diagnosenet")


def render(
    tmp_path: Path,
    node: str,
    *,
    table: Path | None = None,
    site: dict[str, Any] | None = None,
    tegra: str | None = R28_1,
    platform: str = UBUNTU,
) -> dict[str, dict[str, Any]]:
    """The highstate's low chunks of ``node`` by id; ``tegra`` is the nv_tegra_release text (None: absent)."""
    roots = [PILLAR]
    if site is not None:
        (tmp_path / "site").mkdir()
        (tmp_path / "site" / "site.sls").write_text(yaml.safe_dump(site))
        roots.append(tmp_path / "site")
    release = tmp_path / "nv_tegra_release"
    if tegra is not None:
        release.write_text(tegra)
    opts = minion_opts(node, platform, table, roots, {"tegra_release_file": str(release)})
    opts["cachedir"] = str(tmp_path / "cache")
    chunks = salt.client.Caller(mopts=opts).cmd("state.show_lowstate")
    errors = [c for c in chunks if not isinstance(c, dict)]
    assert not errors, errors
    return by_id(chunks)


def gpu_states(chunks: dict[str, dict]) -> dict[str, dict]:
    return {i: c for i, c in chunks.items() if c["__sls__"].split(".")[0] in GPU_SLS}


def requisites(chunk: dict[str, Any], kinds=("require", "onchanges", "watch")) -> list[str]:
    """State ids a chunk depends on."""
    ids = []
    for kind in kinds:
        for req in chunk.get(kind, []):
            ids.extend(req.values() if isinstance(req, dict) else [req])
    return ids


def reaches(chunks: dict[str, dict], start: str, goal: str) -> bool:
    seen, todo = set(), [start]
    while todo:
        current = todo.pop()
        if current == goal:
            return True
        if current not in seen and current in chunks:
            seen.add(current)
            todo.extend(requisites(chunks[current]))
    return False


@pytest.fixture(scope="module")
def gpu_node(tmp_path_factory) -> tuple[str, dict[str, dict]]:
    """A GPU node of the real table that is not the install package's master, on a matching L4T."""
    cluster = nodetable.load()
    node = next(r["name"] for r in cluster["nodes"] if r["gpu"] and r["name"] not in cluster["masters"])
    return node, render(tmp_path_factory.mktemp("gpu"), node)


def test_gpu_node_gets_cuda_cudnn_python_mpi_and_the_workload(gpu_node):
    _, chunks = gpu_node
    assert chunks[GATE]["fun"] == "succeed_without_changes"
    expected = {
        "gpu-stack-cuda-repo-deb",
        "gpu-stack-cuda-repo-key",
        "gpu-stack-apt-update",
        "gpu-stack-cuda-toolkit",
        "gpu-stack-cudnn",
        "gpu-stack-cuda-link",
        "gpu-stack-cuda-profile",
        "gpu-stack-cuda-ldconf",
        "gpu-stack-ldconfig",
        "gpu-stack-mpi",
        "gpu-stack-python",
        "gpu-stack-venv",
        "gpu-stack-pip",
        "gpu-stack-python-packages",
        "gpu-stack-nvpmodel",
        "diagnosenet-checkout",
        "diagnosenet-packages",
        "diagnosenet-capture-tegrastats",
        "diagnosenet-capture-wrapper",
        "diagnosenet-capture-recorder",
    }
    assert expected <= set(chunks)
    assert chunks["gpu-stack-cuda-toolkit"]["name"] == "cuda-toolkit-8-0"
    assert chunks["gpu-stack-cuda-link"]["target"] == "/usr/local/cuda-8.0"
    assert chunks["gpu-stack-mpi"]["pkgs"] == ["openmpi-bin", "libopenmpi-dev"]
    assert "diagnosenet-packages" in chunks and "iftop" in chunks["diagnosenet-packages"]["pkgs"]


def test_every_gpu_state_waits_for_the_l4t_check(gpu_node):
    """A failed check (JetPack mismatch, missing package) leaves every GPU state unrun: nothing changes."""
    _, chunks = gpu_node
    ungated = [i for i in gpu_states(chunks) if i != GATE and not reaches(chunks, i, GATE)]
    assert not ungated, f"states that would run despite a failed L4T check: {ungated}"
    needs_package = [
        i for i, c in gpu_states(chunks).items() if c["state"] in ("pkg", "pip") and i.startswith("gpu-stack-")
    ]
    assert needs_package and all(reaches(chunks, i, VERIFIED) for i in needs_package)


def test_package_check_requires_the_mount_of_the_install_package_master(gpu_node):
    node, chunks = gpu_node
    cluster = nodetable.load()
    pillar = nodetable.pillar_for(cluster, node)
    mount = next(m for m in pillar["nfs"]["client"]["mounts"] if m["path"] == pillar["gpu_stack"]["package_mount"])
    needs = requisites(chunks[VERIFIED])
    assert f"nfs-client-mount-{mount['index']}" in needs and GATE in needs
    assert f"nfs-client-mount-{mount['index']}" in chunks  # the nfs formula's id really exists
    if f"nfs-client-automount-{mount['index']}" in chunks:
        assert f"nfs-client-automount-{mount['index']}" in needs
    call = chunks[VERIFIED]["install_package.verify"]
    assert {"directory": pillar["gpu_stack"]["package_dir"]} in call


def test_wheels_are_copied_with_their_sha256_and_installed_offline(gpu_node):
    _, chunks = gpu_node
    wheelhouse = yaml.safe_load((PILLAR / "gpu.sls").read_text())["gpu_stack"]["wheelhouse"]
    for wheel in wheelhouse:
        chunk = chunks[f"gpu-stack-wheel-{wheel['file'].split('/')[-1]}"]
        assert chunk["source"].endswith("/" + wheel["file"])
        if wheel["sha256"]:
            assert chunk["source_hash"] == f"sha256={wheel['sha256']}"
    install = chunks["gpu-stack-python-packages"]
    assert install["no_index"] is True and install["bin_env"] == "/opt/tf-venv"
    pins = [w["requirement"] for w in wheelhouse if w["role"] == "wheel" and w.get("requirement")]
    assert install["pkgs"] == ["tensorflow==1.3.0", *pins]
    assert "pip==21.3.1" in chunks["gpu-stack-pip"]["name"]


LOCAL = "/var/cache/jetson-array/install-package"


def _sources(chunk: dict[str, Any]) -> list[str]:
    """The files a pkg.installed (sources:) or file.managed (source:) state takes."""
    if chunk["state"] == "pkg":
        return [path for entry in chunk.get("sources", []) for path in entry.values()]
    return [chunk["source"]] if chunk["state"] == "file" and chunk.get("source") else []


def test_every_artifact_is_installed_from_the_verified_local_copy(gpu_node):
    """No race with the share: dpkg and pip get the root-owned copies install_package.verify hashed."""
    node, chunks = gpu_node
    package_dir = nodetable.pillar_for(nodetable.load(), node)["gpu_stack"]["package_dir"]
    sources = {i: _sources(c) for i, c in gpu_states(chunks).items() if i.startswith("gpu-stack-")}
    files = [path for paths in sources.values() for path in paths]
    assert len(files) >= 10, sources  # repo deb, cuDNN debs, Python debs, every wheel
    assert all(path.startswith(LOCAL + "/") for path in files), sources
    assert not any(package_dir in path for path in files)
    assert {"local": LOCAL} in chunks[VERIFIED]["install_package.verify"]
    assert chunks[VERIFIED]["unless"][0]["local"] == LOCAL


def test_cudnn_with_a_file_gone_is_installed_again_from_the_local_copies(gpu_node):
    """pkg.installed leaves a package dpkg lists as installed, even with its library deleted:
    dpkg --verify finds the missing file, and the verified copies are installed again (then
    ldconfig), so a re-apply repairs the node."""
    _node, chunks = gpu_node
    debs = _sources(chunks["gpu-stack-cudnn"])
    packages = [next(iter(entry)) for entry in chunks["gpu-stack-cudnn"]["sources"]]
    assert packages == ["libcudnn6", "libcudnn6-dev"] and all(d.startswith(LOCAL + "/") for d in debs)
    state = chunks["gpu-stack-cudnn-verified"]
    assert state["name"].split() == ["dpkg", "-i", *debs]
    assert state["unless"] == f'test -z "$(dpkg --verify {" ".join(packages)} | grep -v \' /usr/share/doc/\')"'
    assert "gpu-stack-cudnn" in requisites(state)
    assert "gpu-stack-cudnn-verified" in requisites(chunks["gpu-stack-ldconfig"])


def test_nvpmodel_mode_is_refused_unless_an_integer_and_reaches_the_shell_quoted(tmp_path):
    site = {"gpu_stack": {"install_without_gpu": True, "nvpmodel_mode": "2; touch /tmp/p"}}
    (tmp_path / "bad").mkdir()
    with pytest.raises(AssertionError, match=r"gpu_stack:nvpmodel_mode.{0,4} must be an integer"):
        render(tmp_path / "bad", "astro1", table=LAB_TABLE, tegra=None, site=site)
    site["gpu_stack"]["nvpmodel_mode"] = 3
    (tmp_path / "good").mkdir()
    state = render(tmp_path / "good", "astro1", table=LAB_TABLE, tegra=None, site=site)["gpu-stack-nvpmodel"]
    assert state["name"] == "nvpmodel -m 3"
    assert state["unless"].endswith("grep -qxF -- 3")


def test_non_gpu_node_gets_no_gpu_state(tmp_path):
    chunks = render(tmp_path, "astro1", table=LAB_TABLE, tegra=None)
    assert not gpu_states(chunks)


def test_install_without_gpu_runs_the_stack_on_a_gpu_false_node(tmp_path):
    chunks = render(tmp_path, "astro1", table=LAB_TABLE, tegra=None, site={"gpu_stack": {"install_without_gpu": True}})
    assert chunks[GATE]["fun"] == "succeed_without_changes"
    assert "gpu: false and has no" in chunks[GATE]["comment"]
    assert "gpu-stack-python-packages" in chunks


@pytest.mark.parametrize(
    ("tegra", "words"),
    [
        (R28_2_1, ["runs L4T R28 REVISION 2.1", "gpu_stack:jetpack 3.1 needs L4T R28 REVISION 1.0"]),
        (R32_1, ["runs L4T R32 REVISION 1.0", "gpu_stack:jetpack 3.1 needs L4T R28 REVISION 1.0"]),
        ("garbage\n", ["nv_tegra_release: line 1 does not start with", "needs L4T R28 REVISION 1.0"]),
        (None, ["is gpu: true in the node table but has no", "nv_tegra_release"]),
    ],
    ids=["jetpack3.3-node", "jetpack4.2-node", "garbled", "absent"],
)
def test_l4t_that_disagrees_with_pillar_fails_naming_both(tmp_path, tegra, words):
    chunks = render(tmp_path, "astro0", tegra=tegra)
    assert chunks[GATE]["fun"] == "fail_without_changes"
    for word in words:
        assert word in chunks[GATE]["comment"]
    assert "astro0" in chunks[GATE]["comment"]


@pytest.mark.parametrize(
    ("jetpack", "tegra", "toolkit", "home"),
    [
        ("3.3", R28_2_1, "cuda-toolkit-9-0", "/usr/local/cuda-9.0"),
        ("4.2", R32_1, "cuda-toolkit-10-0", "/usr/local/cuda-10.0"),
    ],
)
def test_other_jetpacks_render_their_own_artifacts(tmp_path, jetpack, tegra, toolkit, home):
    chunks = render(tmp_path, "astro0", tegra=tegra, site={"gpu_stack": {"jetpack": jetpack}})
    assert chunks[GATE]["fun"] == "succeed_without_changes", chunks[GATE]["comment"]
    assert chunks["gpu-stack-cuda-toolkit"]["name"] == toolkit
    assert chunks["gpu-stack-cuda-link"]["target"] == home
    python = chunks["gpu-stack-python"]
    source = manifest.python_source(yaml.safe_load((PILLAR / "gpu.sls").read_text())["gpu_stack"], jetpack)
    if source["kind"] == "apt":
        assert python["pkgs"] == source["packages"]
    else:
        assert [list(s)[0] for s in python["sources"]] == [d["package"] for d in source["debs"]]


def test_unknown_jetpack_fails_and_renders_nothing_else(tmp_path):
    chunks = render(tmp_path, "astro0", site={"gpu_stack": {"jetpack": "5.0"}})
    assert chunks[GATE]["fun"] == "fail_without_changes"
    assert "'5.0', not in gpu_stack:jetpacks (3.1, 3.3, 4.2)" in chunks[GATE]["comment"]
    assert not [i for i in gpu_states(chunks) if i.startswith("gpu-stack-cuda")]


def test_capture_tools_are_root_owned_local_files_and_sudoers_names_only_the_wrapper(gpu_node):
    node, chunks = gpu_node
    tools = {c["name"]: c for i, c in chunks.items() if i.startswith("diagnosenet-capture-") and c["fun"] == "managed"}
    for path, chunk in tools.items():
        assert (chunk["user"], chunk["group"], chunk["mode"]) == ("root", "root", "0755")
        assert not path.startswith("/home/"), f"{path} must not be on NFS or in a user's home"
    stack = yaml.safe_load((PILLAR / "stack.sls").read_text())
    rules = stack["sudoers"]["files"]["diagnosenet"]
    allowed = {r.split("NOPASSWD:")[1].split()[0] for r in rules}
    named = {p for p in allowed if p.startswith("/opt/")}
    assert named == {chunks["diagnosenet-capture-wrapper"]["name"]}, "sudoers must allow only the capture wrapper"


def test_diagnosenet_from_the_install_package_waits_for_its_verification(tmp_path):
    chunks = render(tmp_path, "astro0", site={"diagnosenet": {"source": "diagnosenet.git"}})
    checkout = chunks["diagnosenet-checkout"]
    assert checkout["name"].endswith("/UTXJetson2_install_packages/diagnosenet.git")
    assert VERIFIED in requisites(checkout)
    assert checkout["rev"] == yaml.safe_load((PILLAR / "gpu.sls").read_text())["diagnosenet"]["revision"]


def test_pillar_top_includes_the_gpu_pillar():
    top = yaml.safe_load((PILLAR / "top.sls").read_text())
    assert "gpu" in top["base"]["*"], "pillar/top.sls must list `gpu` (pillar/gpu.sls) for every node"


# --- the lab's fixture install package (lab/fixtures/build.py) ----------------------------

from lab.fixtures import build as fixtures  # noqa: E402
from lab.fixtures import wheels as fixture_wheels  # noqa: E402


def _build(out: Path, tmp: Path, arch: str | None = None) -> dict[str, Any]:
    pip = fixture_wheels.build_wheel(tmp / "pip", "pip", "21.3.1", "pip")  # stands in for the real pip
    return fixtures.build(out, pip, arch or fixtures.host_arch())


@pytest.fixture(scope="module")
def fixture_package(tmp_path_factory) -> tuple[Path, dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("fixture")
    out = tmp / "UTXJetson2_install_packages"
    return out, _build(out, tmp)


@pytest.fixture(scope="module")
def arm64_package(tmp_path_factory) -> tuple[Path, dict[str, Any]]:
    """The package for the lab's arm64 (TX2-like) nodes: lab/fixtures/build.py --arch arm64."""
    tmp = tmp_path_factory.mktemp("fixture-arm64")
    out = tmp / "UTXJetson2_install_packages"
    return out, _build(out, tmp, "arm64")


def deb_field(deb: Path, field: str) -> str:
    return fixtures.debs._run(["dpkg-deb", "--field", str(deb), field]).stdout.strip()


def deb_contents(deb: Path) -> set[str]:
    lines = fixtures.debs._run(["dpkg-deb", "--contents", str(deb)]).stdout.splitlines()
    return {line.split()[5] for line in lines}


def test_fixture_debs_have_the_real_names_and_versions_and_say_fixture(fixture_package):
    out, _ = fixture_package
    real = yaml.safe_load((PILLAR / "gpu.sls").read_text())["gpu_stack"]["jetpacks"]["3.1"]
    for artifact in real["artifacts"]:
        if artifact["role"] in ("cuda-repo", "cudnn"):
            deb = out / artifact["file"]
            assert deb.is_file(), f"fixture lacks the real file name {artifact['file']}"
            assert deb_field(deb, "Package") == artifact["package"]
            assert deb_field(deb, "Version") in artifact["file"]
            assert deb_field(deb, "Description").startswith("FIXTURE ")
            assert f"./usr/share/doc/{artifact['package']}/FIXTURE" in deb_contents(deb)


def test_fixture_cuda_repo_is_a_local_apt_repo_with_toolkit_and_key(fixture_package, tmp_path):
    out, _ = fixture_package
    repo_deb = out / "cuda-repo-l4t-8-0-local_8.0.84-1_arm64.deb"
    arch = fixtures.host_arch()
    toolkit = f"./var/cuda-repo-8-0-local/cuda-toolkit-8-0_8.0.84-1_{arch}.deb"
    for path in (
        "./var/cuda-repo-8-0-local/Packages",
        "./var/cuda-repo-8-0-local/Release",
        "./var/cuda-repo-8-0-local/7fa2af80.pub",
        toolkit,
        "./etc/apt/sources.list.d/cuda-8-0-local.list",
    ):
        assert path in deb_contents(repo_deb)
    fixtures.debs._run(["dpkg-deb", "-x", str(repo_deb), str(tmp_path / "root")])
    repo = tmp_path / "root" / "var/cuda-repo-8-0-local"
    packages = (repo / "Packages").read_text()
    assert "Package: cuda-toolkit-8-0\n" in packages and "Version: 8.0.84-1\n" in packages
    assert f"SHA256: {manifest.sha256_file(str(tmp_path / 'root' / toolkit))}" in packages
    fixtures.debs._run(["dpkg-deb", "-x", str(tmp_path / "root" / toolkit), str(tmp_path / "tk")])
    nvcc = fixtures.debs._run([str(tmp_path / "tk/usr/local/cuda-8.0/bin/nvcc"), "--version"]).stdout
    assert "release 8.0, V8.0.72" in nvcc
    lib = tmp_path / "tk/usr/local/cuda-8.0/lib64/libcudart.so.8.0.84"
    assert "SONAME               libcudart.so.8.0" in fixtures.debs._run(["objdump", "-p", str(lib)]).stdout
    assert (tmp_path / "tk/usr/local/cuda-8.0/lib64/libcublas.so.8.0").resolve().is_file()


def test_fixture_cudnn_and_python_shim(fixture_package, tmp_path):
    out, _ = fixture_package
    dev = out / "libcudnn6-dev_6.0.21-1+cuda8.0_arm64.deb"
    assert deb_field(dev, "Depends") == "libcudnn6 (= 6.0.21-1+cuda8.0)"
    fixtures.debs._run(["dpkg-deb", "-x", str(dev), str(tmp_path / "dev")])
    assert "#define CUDNN_MAJOR 6" in (tmp_path / "dev/usr/include/cudnn.h").read_text()
    python = out / fixtures.debs.PYTHON_DEB
    assert deb_field(python, "Package") == "python3.6"
    fixtures.debs._run(["dpkg-deb", "-x", str(python), str(tmp_path / "py")])
    assert (tmp_path / "py/usr/bin/python3.6").readlink() == Path("python3")


@pytest.mark.parametrize("dist", [*fixture_wheels.WORKLOAD, fixture_wheels.TENSORFLOW], ids=lambda d: d[0])
def test_fixture_wheels_have_real_names_and_expose_their_version(fixture_package, dist):
    out, _ = fixture_package
    name, version, module = dist
    folder = out if name == "tensorflow" else out / "wheelhouse"
    wheel = folder / fixture_wheels.wheel_name(name, version)

    with zipfile.ZipFile(wheel) as archive:
        info = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(info).decode()
    assert f"Name: {name}\nVersion: {version}\n" in metadata and "Summary: FIXTURE" in metadata
    code = f"import sys; sys.path.insert(0, {str(wheel)!r}); import {module}; print({module}.__version__)"
    assert fixtures.debs._run([sys.executable, "-c", code]).stdout.strip() == version


def test_fixture_pillar_verifies_the_package_it_describes(fixture_package):
    out, pillar = fixture_package
    real = yaml.safe_load((PILLAR / "gpu.sls").read_text())["gpu_stack"]
    merged = package_tool.merge(real, pillar["gpu_stack"])
    report = manifest.check_directory(str(out), manifest.compose(merged, "3.1"), "3.1")
    assert report["result"] is True, report["comment"]
    assert {a["role"] for a in manifest.compose(merged, "3.1")} == set(manifest.ROLES)


def test_fixture_diagnosenet_repo_holds_the_capture_tools(fixture_package):
    out, pillar = fixture_package
    revision = pillar["diagnosenet"]["revision"]
    tree = fixtures._git(out / "diagnosenet.git", "ls-tree", "-r", revision)
    for tool in ("enerGyPU/dataCapture/enerGyPU_record-jetson.sh", "enerGyPU/dataCapture/tegrastats"):
        assert "100755 blob" in next(line for line in tree.splitlines() if line.endswith(tool))


def test_fixture_package_is_sealed_root_owned(tmp_path):
    """The lab's package, like the array's, cannot be changed by the nodes' user."""
    from lab.containers import install_package

    package = tmp_path / "pkg"
    (package / "wheelhouse").mkdir(parents=True)
    wheel = package / "wheelhouse" / "x.whl"
    wheel.write_bytes(b"x")
    for path in (package, package / "wheelhouse", wheel):
        os.chown(path, 1000, 1000)
        path.chmod(0o777)
    install_package.seal(package)
    for path in (package, package / "wheelhouse", wheel):
        info = path.stat()
        assert (info.st_uid, info.st_gid, info.st_mode & 0o022) == (0, 0, 0), path


def digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): manifest.sha256_file(str(p)) for p in sorted(root.rglob("*")) if p.is_file()}


def test_fixture_build_is_deterministic(fixture_package, tmp_path):
    out, pillar = fixture_package
    again = _build(tmp_path / "again", tmp_path)
    assert again == pillar
    assert digests(tmp_path / "again") == digests(out)


def test_fixture_build_is_deterministic_for_arm64(arm64_package, tmp_path):
    out, pillar = arm64_package
    assert _build(tmp_path / "again", tmp_path, "arm64") == pillar
    assert digests(tmp_path / "again") == digests(out)


CUDNN = "libcudnn6_6.0.21-1+cuda8.0_arm64.deb"
CUDNN_DEV = "libcudnn6-dev_6.0.21-1+cuda8.0_arm64.deb"
TOOLKIT = "var/cuda-repo-8-0-local/cuda-toolkit-8-0_8.0.84-1_{arch}.deb"
REPO_DEB = "cuda-repo-l4t-8-0-local_8.0.84-1_arm64.deb"
# ELF e_machine (System V ABI): what the node's ld.so and ldconfig must find in the stubs
ELF_MACHINE = {"amd64": 62, "arm64": 183}  # EM_X86_64, EM_AARCH64


def elf_machine(path: Path) -> int:
    """e_machine of a little-endian ELF file (the header's 2 bytes at offset 18)."""
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF" and header[5] == 1, f"{path}: not a little-endian ELF file"
    return int.from_bytes(header[18:20], "little")


def soname(path: Path) -> str:
    """The SONAME in the dynamic section (readelf reads any architecture's ELF)."""
    dynamic = fixtures.debs._run(["readelf", "-d", str(path)]).stdout
    return next(line.split("[")[1].rstrip("]") for line in dynamic.splitlines() if "(SONAME)" in line)


def unpacked_libraries(out: Path, arch: str, tmp: Path) -> dict[str, Path]:
    """The ELF stubs of a built package (cuDNN debs and the toolkit inside the repo deb), by SONAME wanted."""
    for deb in (CUDNN, REPO_DEB):
        fixtures.debs._run(["dpkg-deb", "-x", str(out / deb), str(tmp / "root")])
    fixtures.debs._run(["dpkg-deb", "-x", str(tmp / "root" / TOOLKIT.format(arch=arch)), str(tmp / "root")])
    lib64 = tmp / "root/usr/local/cuda-8.0/lib64"
    return {
        "libcudnn.so.6": tmp / f"root/usr/lib/{fixtures.debs.MULTIARCH[arch]}/libcudnn.so.6.0.21",
        "libcudart.so.8.0": lib64 / "libcudart.so.8.0.84",
        "libcublas.so.8.0": lib64 / "libcublas.so.8.0.84",
    }


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_fixture_elf_stubs_are_built_for_the_package_architecture(arch, fixture_package, arm64_package, tmp_path):
    """An arm64 package with x86-64 stubs would install, and ldconfig on the node would skip them."""
    out = {"amd64": fixture_package, "arm64": arm64_package}[arch][0]
    for wanted, lib in unpacked_libraries(out, arch, tmp_path).items():
        assert (elf_machine(lib), soname(lib)) == (ELF_MACHINE[arch], wanted), lib


def test_fixture_arm64_debs_say_arm64_and_use_the_aarch64_library_directory(arm64_package, tmp_path):
    out, _ = arm64_package
    for deb in (CUDNN, CUDNN_DEV):
        assert deb_field(out / deb, "Architecture") == "arm64"
        assert not any("x86_64" in path for path in deb_contents(out / deb)), deb
    assert {"./usr/lib/aarch64-linux-gnu/libcudnn.so.6", "./usr/lib/aarch64-linux-gnu/libcudnn.so.6.0.21"} <= (
        deb_contents(out / CUDNN))
    assert "./usr/lib/aarch64-linux-gnu/libcudnn.so" in deb_contents(out / CUDNN_DEV)
    assert deb_field(out / REPO_DEB, "Architecture") == "all"
    fixtures.debs._run(["dpkg-deb", "-x", str(out / REPO_DEB), str(tmp_path / "root")])
    toolkit = tmp_path / "root" / TOOLKIT.format(arch="arm64")
    assert deb_field(toolkit, "Architecture") == "arm64"
    assert "Architecture: arm64\n" in (tmp_path / "root/var/cuda-repo-8-0-local/Packages").read_text()


def test_fixture_pillar_names_the_tegrastats_each_architecture_has(fixture_package, arm64_package):
    """amd64 nodes copy the checkout's stub; the arm64 nodes' pillar, merged over the amd64 one,
    names the board's path, where their image has the L4T stand-in (lab/containers/l4t.py)."""
    capture = {arch: package[1]["diagnosenet"]["capture"]
               for arch, package in (("amd64", fixture_package), ("arm64", arm64_package))}
    assert capture == {"amd64": {"tegrastats_source": "enerGyPU/dataCapture/tegrastats"},
                       "arm64": {"tegrastats_source": "/home/nvidia/tegrastats"}}
    out, pillar = arm64_package
    real = yaml.safe_load((PILLAR / "gpu.sls").read_text())["gpu_stack"]
    merged = package_tool.merge(real, pillar["gpu_stack"])
    report = manifest.check_directory(str(out), manifest.compose(merged, "3.1"), "3.1")
    assert report["result"] is True, report["comment"]


def test_fixture_builder_names_the_missing_cross_binutils(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SystemExit, match=r"aarch64-linux-gnu-as not found.*apt-get install binutils-aarch64-linux-gnu"):
        _build(tmp_path / "out", tmp_path, "arm64")
    assert not (tmp_path / "out").exists()
    with pytest.raises(SystemExit, match="--arch mips: the fixture builds for amd64, arm64 only"):
        fixtures.debs.binutil("mips", "as")


def test_fixture_builder_refuses_to_wipe_a_foreign_directory(tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(SystemExit, match="not a fixture package"):
        _build(tmp_path, tmp_path / "x")
    assert (tmp_path / "precious.txt").read_text() == "keep me"
