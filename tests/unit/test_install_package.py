"""The install package is verified against its pillar manifest: missing, corrupt and unrecorded files are named."""

from __future__ import annotations

import hashlib
import inspect
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from saltrender import PILLAR, REPO, call
from saltssh import cli as run_tool

from jetson_array import manifest as lib
from jetson_array.repo import repo_module

TOOL = REPO / "tools" / "install_package.py"
# the Salt module, as Salt loads it: by path, its manifest functions reached through __utils__
module = repo_module("salt/_modules/install_package.py")

FILES = {
    "cuda-repo-l4t-8-0-local_8.0.84-1_arm64.deb": ("cuda-repo", b"cuda repo"),
    "libcudnn6_6.0.21-1+cuda8.0_arm64.deb": ("cudnn", b"cudnn"),
    "wheelhouse/numpy-1.15.4-cp36-cp36m-linux_aarch64.whl": ("wheel", b"numpy"),
}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def package(tmp_path) -> tuple[Path, list[dict]]:
    """A good package directory and its manifest."""
    root = tmp_path / "pkg"
    manifest = []
    for name, (role, data) in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
        manifest.append({"file": name, "role": role, "sha256": sha(data)})
    return root, manifest


def test_good_directory_verifies(package):
    root, manifest = package
    report = lib.check_directory(str(root), manifest, "3.1")
    assert report["result"] is True
    assert [e["file"] for e in report["verified"]] == list(FILES)
    assert report["comment"] == f"install package {root} (JetPack 3.1): all 3 artifacts verified"


def test_missing_file_is_named(package):
    root, manifest = package
    (root / "libcudnn6_6.0.21-1+cuda8.0_arm64.deb").unlink()
    report = lib.check_directory(str(root), manifest, "3.1")
    assert report["result"] is False
    assert report["missing"] == [{"file": "libcudnn6_6.0.21-1+cuda8.0_arm64.deb", "role": "cudnn"}]
    assert "missing: libcudnn6_6.0.21-1+cuda8.0_arm64.deb (role cudnn)" in report["comment"]
    assert "1 of 3 artifacts not usable" in report["comment"]


def test_corrupt_file_is_named_with_both_hashes(package):
    root, manifest = package
    wheel = root / "wheelhouse/numpy-1.15.4-cp36-cp36m-linux_aarch64.whl"
    wheel.write_bytes(b"truncated")
    report = lib.check_directory(str(root), manifest, "3.1")
    assert report["result"] is False
    (bad,) = report["corrupt"]
    assert bad["file"] == "wheelhouse/numpy-1.15.4-cp36-cp36m-linux_aarch64.whl"
    assert (bad["expected"], bad["actual"]) == (sha(b"numpy"), sha(b"truncated"))
    assert f"has sha256 {sha(b'truncated')}, manifest says {sha(b'numpy')}" in report["comment"]


def test_unrecorded_hash_refuses_and_says_how_to_record(package):
    root, manifest = package
    manifest[0]["sha256"] = None
    report = lib.check_directory(str(root), manifest, "3.1")
    assert report["result"] is False
    assert report["unrecorded"][0]["file"] == "cuda-repo-l4t-8-0-local_8.0.84-1_arm64.deb"
    assert "has no sha256 in pillar" in report["comment"]
    assert "install_package.record" in report["comment"]
    assert "gpu_stack:jetpacks:'3.1'" in report["comment"]


def test_absent_directory_names_the_path_and_the_mount(tmp_path):
    manifest = [{"file": "a.deb", "role": "cudnn", "sha256": None}]
    report = lib.check_directory(str(tmp_path / "nope"), manifest, "3.1", mount="/home/mpiuser/cloud/1")
    assert report["result"] is False and report["exists"] is False
    assert report["comment"] == (
        f"install package directory {tmp_path / 'nope'} does not exist "
        "(is the export mounted at /home/mpiuser/cloud/1?)"
    )


def test_extra_files_are_reported_but_do_not_fail(package):
    root, manifest = package
    (root / "wheelhouse" / "six-1.12.0-py2.py3-none-any.whl").write_bytes(b"six")
    report = lib.check_directory(str(root), manifest, "3.1")
    assert report["result"] is True
    assert report["extra"] == ["wheelhouse/six-1.12.0-py2.py3-none-any.whl"]


def test_hashes_are_cached_until_the_file_changes(package, tmp_path, monkeypatch):
    """Operator CLI (no local copy): hashed in place, cached by size and mtime."""
    root, manifest = package
    cache_file = str(tmp_path / "cache" / "sha256.json")
    calls: list[str] = []
    real = lib.sha256_file
    monkeypatch.setattr(lib, "sha256_file", lambda path: calls.append(path) or real(path))
    lib.check_directory(str(root), manifest, "3.1", cache=lib.HashCache(cache_file))
    assert len(calls) == 3
    lib.check_directory(str(root), manifest, "3.1", cache=lib.HashCache(cache_file))
    assert len(calls) == 3  # nothing re-read
    (root / "libcudnn6_6.0.21-1+cuda8.0_arm64.deb").write_bytes(b"swapped!")
    report = lib.check_directory(str(root), manifest, "3.1", cache=lib.HashCache(cache_file))
    assert len(calls) == 4 and report["corrupt"][0]["file"].startswith("libcudnn6_")


CUDNN = "libcudnn6_6.0.21-1+cuda8.0_arm64.deb"


def _swap_keeping_size_and_mtime(path: Path, data: bytes) -> None:
    """What the owner of a file on the share can do: other bytes, same size, mtime restored."""
    info = path.stat()
    assert len(data) == info.st_size
    path.write_bytes(data)
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))


def test_swapped_file_with_size_and_mtime_restored_is_never_installed(package, tmp_path):
    """On a node, the artifacts are copied to a root-owned directory and the COPY is hashed."""
    root, manifest = package
    cache = str(tmp_path / "cache" / "sha256.json")
    local = tmp_path / "local"
    first = lib.check_directory(str(root), manifest, "3.1", cache=lib.HashCache(cache), local=str(local))
    assert first["result"] is True, first["comment"]
    assert {p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file()} == set(FILES)
    assert (local.stat().st_mode & 0o777, local.stat().st_uid) == (0o700, os.geteuid())
    _swap_keeping_size_and_mtime(root / CUDNN, b"evil!")
    # a node holding the verified copy keeps it: what it installs is the manifest's file
    kept = lib.check_directory(str(root), manifest, "3.1", cache=lib.HashCache(cache), local=str(local))
    assert kept["result"] is True and (local / CUDNN).read_bytes() == b"cudnn"
    # a node without the copy (new, or its copy wiped) refuses the swapped file and keeps no copy
    fresh = tmp_path / "fresh"
    report = lib.check_directory(str(root), manifest, "3.1", cache=lib.HashCache(cache), local=str(fresh))
    assert report["result"] is False and [c["file"] for c in report["corrupt"]] == [CUDNN]
    assert f"corrupt: {CUDNN} has sha256 {sha(b'evil!')}" in report["comment"]
    assert not (fresh / CUDNN).exists() and not list(fresh.rglob("*.part"))


def test_a_tampered_local_copy_is_copied_again(package, tmp_path):
    root, manifest = package
    cache, local = str(tmp_path / "cache.json"), tmp_path / "local"
    lib.check_directory(str(root), manifest, "3.1", cache=lib.HashCache(cache), local=str(local))
    (local / CUDNN).write_bytes(b"broken copy")
    report = lib.check_directory(str(root), manifest, "3.1", cache=lib.HashCache(cache), local=str(local))
    assert report["result"] is True and (local / CUDNN).read_bytes() == b"cudnn"


@pytest.mark.parametrize("kind", ["symlink", "group-readable"])
def test_local_copy_directory_must_be_root_only(package, tmp_path, kind):
    root, manifest = package
    local = tmp_path / "local"
    if kind == "symlink":
        (tmp_path / "elsewhere").mkdir(mode=0o700)
        local.symlink_to(tmp_path / "elsewhere")
    else:
        local.mkdir()
        local.chmod(0o750)
    with pytest.raises(lib.LocalCopyError, match="mode 0700, not a symlink"):
        lib.check_directory(str(root), manifest, "3.1", local=str(local))
    assert not list((tmp_path / "elsewhere").rglob("*")) if kind == "symlink" else not list(local.iterdir())


def _salt_module(monkeypatch, tmp_path: Path, stack: dict, mounts: list[dict]) -> None:
    """The module's Salt dunders over a plain pillar dict (``pillar.get`` with colon paths)."""
    pillar = {"gpu_stack": stack, "nfs": {"client": {"mounts": mounts}}}

    def pillar_get(key, default=None, **_kwargs):
        value = pillar
        for part in key.split(":"):
            if not isinstance(value, dict) or part not in value:
                return default
            value = value[part]
        return value

    monkeypatch.setattr(module, "__salt__", {"pillar.get": pillar_get}, raising=False)
    monkeypatch.setattr(module, "__opts__", {"cachedir": str(tmp_path / "minion-cache")}, raising=False)
    # what Salt's utils loader gives the module: the library's public functions, by module.function
    functions = {f"install_manifest.{name}": value for name, value in vars(lib).items()
                 if inspect.isfunction(value) and not name.startswith("_")}
    monkeypatch.setattr(module, "__utils__", functions, raising=False)


def test_a_dead_package_master_fails_fast_naming_master_and_path(package, tmp_path, monkeypatch):
    """The share is probed in a subprocess with a timeout before the minion reads it."""
    root, manifest = package
    mount = str(root.parent)
    stack = {"jetpack": "3.1", "package_dir": str(root), "package_mount": mount,
             "jetpacks": {"3.1": {"artifacts": manifest}}}
    _salt_module(monkeypatch, tmp_path, stack,
                 [{"index": 1, "master": "astro15", "server_ip": "10.10.0.115", "path": mount}])
    monkeypatch.setattr(lib, "PROBE", ["sh", "-c", "sleep 30", "probe"])  # a hard mount of a dead server

    def never(*_args, **_kwargs):
        raise AssertionError("the share was read although the probe did not answer")

    monkeypatch.setattr(lib, "check_directory", never)
    monkeypatch.setattr(lib, "PROBE_TIMEOUT", 0.5)
    local = str(tmp_path / "local")
    report = module.verify(local=local)
    assert report["result"] is False
    assert (f"the share of astro15 (10.10.0.115) at {mount} does not answer (no answer within 0.5 s)"
            in report["comment"])
    assert not os.path.exists(local)


def test_the_module_loads_only_with_its_manifest_library(monkeypatch):
    """Without salt/_utils synced, the module is not loaded (Salt names the reason) rather than
    failing in the middle of a state run."""
    monkeypatch.setattr(module, "__utils__", {}, raising=False)
    loaded, why = module.__virtual__()
    assert loaded is False and "salt/_utils/install_manifest.py is not synced" in why
    monkeypatch.setattr(module, "__utils__", {"install_manifest.compose": lib.compose})
    assert module.__virtual__() == "install_package"


def test_the_probe_answers_for_a_live_filesystem_and_names_a_missing_path(tmp_path):
    assert lib.probe(str(tmp_path)) is None
    assert "No such file" in lib.probe(str(tmp_path / "gone"))


def test_ok_reads_only_the_local_copies(package, tmp_path, monkeypatch):
    root, manifest = package
    stack = {"jetpack": "3.1", "package_dir": str(root), "jetpacks": {"3.1": {"artifacts": manifest}}}
    _salt_module(monkeypatch, tmp_path, stack, [])
    local = str(tmp_path / "local")
    assert module.ok(local=local) is False
    assert module.verify(local=local)["result"] is True
    for name in FILES:
        (root / name).unlink()  # the share gone: the verified copies are enough
    assert module.ok(local=local) is True
    os.chmod(local, 0o755)
    assert module.ok(local=local) is False


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ({"file": "/abs.deb", "role": "cudnn", "sha256": None}, "must be relative"),
        ({"file": "../up.deb", "role": "cudnn", "sha256": None}, "must be relative"),
        ({"file": "x.deb", "role": "driver", "sha256": None}, "'role' must be one of"),
        ({"file": "x.deb", "role": "cudnn", "sha256": "abc"}, "64 lower-case hex or null"),
        ({"role": "cudnn", "sha256": None}, "needs a 'file'"),
    ],
    ids=["absolute", "dotdot", "role", "sha256", "no-file"],
)
def test_bad_manifest_entry_is_named(entry, why):
    with pytest.raises(lib.ManifestError, match="artifacts\\[1\\]") as err:
        lib.check_manifest([{"file": "ok.deb", "role": "cudnn", "sha256": None}, entry])
    assert why in str(err.value)


def test_duplicate_manifest_entry_is_refused():
    entry = {"file": "x.deb", "role": "cudnn", "sha256": None}
    with pytest.raises(lib.ManifestError, match="listed twice"):
        lib.check_manifest([entry, dict(entry)])


def test_record_fills_hashes_and_adds_unlisted_wheels(package):
    root, manifest = package
    for entry in manifest:
        entry["sha256"] = None
    (root / "wheelhouse" / "six-1.12.0-py2.py3-none-any.whl").write_bytes(b"six")
    recorded = lib.record_directory(str(root), manifest)
    assert [e["sha256"] for e in recorded[:3]] == [sha(d) for _, d in FILES.values()]
    assert recorded[3] == {"file": "wheelhouse/six-1.12.0-py2.py3-none-any.whl", "role": "wheel", "sha256": sha(b"six")}
    assert lib.check_directory(str(root), recorded, "3.1")["result"] is True


# --- the real pillar's manifest -----------------------------------------------------------

GPU = yaml.safe_load((PILLAR / "gpu.sls").read_text())["gpu_stack"]


@pytest.mark.parametrize("jetpack", sorted(GPU["jetpacks"]))
def test_every_jetpack_has_a_usable_manifest(jetpack):
    artifacts = lib.compose(GPU, jetpack)
    roles = [a["role"] for a in artifacts]
    for role in ("cuda-repo", "tensorflow-wheel", "pip-wheel"):
        assert roles.count(role) == 1, f"JetPack {jetpack}: needs exactly one {role}"
    assert roles.count("cudnn") >= 1
    for entry in artifacts:
        if entry["role"] in ("cuda-repo", "cudnn", "python-deb"):
            assert entry.get("package"), f"JetPack {jetpack}: {entry['file']} needs 'package'"
    assert ("python-deb" in roles) == (lib.python_source(GPU, jetpack)["kind"] == "debs")


def test_unknown_jetpack_names_the_known_ones():
    with pytest.raises(lib.ManifestError, match=r"'9\.9' \(known: 3\.1, 3\.3, 4\.2\)"):
        lib.compose(GPU, "9.9")


def test_unknown_python_source_is_named():
    stack = {**GPU, "jetpacks": {"3.1": {**GPU["jetpacks"]["3.1"], "python": {"source": "ppa"}}}}
    with pytest.raises(lib.ManifestError, match=r"python:source 'ppa' is not in gpu_stack:python_sources"):
        lib.compose(stack, "3.1")


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    heads = re.findall(r"^#+ (.+)$", markdown, flags=re.M)
    return {re.sub(r"[^a-z0-9 -]", "", h.strip().lower()).replace(" ", "-") for h in heads}


def test_artifacts_nobody_publishes_are_site_builds_with_a_recipe():
    """TF 1.3 for Python 3.6 on the TX2 and Python 3.6.15 debs for xenial arm64 do not exist publicly."""
    recipes = _anchors((REPO / "docs" / "gpu-stack.md").read_text())
    for jetpack in ("3.1", "3.3"):
        by_role = {a["role"]: a for a in lib.compose(GPU, jetpack)}
        assert by_role["tensorflow-wheel"].get("site_build"), f"JetPack {jetpack}: the cp36 TF wheel"
        assert by_role["python-deb"].get("site_build"), f"JetPack {jetpack}: the xenial Python 3.6 debs"
    marked = [a for jp in GPU["jetpacks"] for a in lib.compose(GPU, jp) if a.get("site_build")]
    assert not [a["file"] for a in marked if a["site_build"] not in recipes], "recipe missing in docs/gpu-stack.md"
    nvidia = lib.compose(GPU, "4.2")[-len(GPU["wheelhouse"]) - 1]
    assert nvidia["role"] == "tensorflow-wheel" and not nvidia.get("site_build")  # NVIDIA's own wheel


def test_a_missing_site_build_says_where_its_recipe_is(package):
    root, manifest = package
    manifest.append({"file": "tensorflow-1.3.0-cp36-cp36m-linux_aarch64.whl", "role": "tensorflow-wheel",
                     "sha256": None, "site_build": "site-build-tensorflow-wheels-for-python-36"})
    report = lib.check_directory(str(root), manifest, "3.1")
    assert ("missing: tensorflow-1.3.0-cp36-cp36m-linux_aarch64.whl (role tensorflow-wheel) (site build: "
            "see docs/gpu-stack.md#site-build-tensorflow-wheels-for-python-36)") in report["comment"]
    with pytest.raises(lib.ManifestError, match="'site_build' must be a section anchor"):
        lib.check_manifest([{**manifest[-1], "site_build": "see; rm -rf /"}])


def test_gpu_pillar_has_no_yaml_anchors():
    """Salt merges pillar in place: a mapping shared through an alias would take every override twice."""
    text = (PILLAR / "gpu.sls").read_text()
    assert not re.search(r":\s+[&*]\w", text), "pillar/gpu.sls must not use YAML anchors or aliases"


def test_wheelhouse_pins_diagnosenet_prerequisites():
    """DiagnoseNET's pins, keras 2.1.3, mpi4py; pip pinned for Python 3.6."""
    pins = {a["requirement"] for a in GPU["wheelhouse"] if a.get("requirement")}
    spec = {
        "numpy==1.15.4",
        "scipy==1.1.0",
        "pandas==0.23.4",
        "scikit-learn==0.20.1",
        "psutil==5.6.3",
        "keras==2.1.3",
        "pip==21.3.1",
    }
    assert spec <= pins
    assert any(p.startswith("mpi4py==") for p in pins)


# --- the operator CLI and the Salt function ------------------------------------------------


def _pillar_file(tmp_path: Path, manifest: list[dict]) -> Path:
    path = tmp_path / "manifest.sls"
    doc = {"gpu_stack": {"jetpack": "3.1", "jetpacks": {"3.1": {"artifacts": manifest}}}}
    path.write_text(yaml.safe_dump(doc))
    return path


def cli(*args: str) -> subprocess.CompletedProcess:
    return run_tool(TOOL, *args)


def test_cli_verify_exit_codes_and_report(package, tmp_path):
    root, manifest = package
    pillar = _pillar_file(tmp_path, manifest)
    good = cli("verify", str(root), "--pillar", str(pillar))
    assert good.returncode == 0, good.stderr
    assert "all 3 artifacts verified" in good.stdout
    assert "[3/3] wheelhouse/numpy" in good.stderr  # progress
    (root / "cuda-repo-l4t-8-0-local_8.0.84-1_arm64.deb").unlink()
    bad = cli("verify", str(root), "--pillar", str(pillar))
    assert bad.returncode == 1
    assert "missing: cuda-repo-l4t-8-0-local_8.0.84-1_arm64.deb (role cuda-repo)" in bad.stdout
    wrong = cli("verify", str(root), "--pillar", str(pillar), "--jetpack", "4.2")
    assert wrong.returncode == 2 and "no entry for JetPack '4.2'" in wrong.stderr


def test_cli_record_prints_a_pasteable_manifest(package, tmp_path):
    root, manifest = package
    pillar = _pillar_file(tmp_path, [{**e, "sha256": None} for e in manifest])
    out = cli("record", str(root), "--pillar", str(pillar))
    assert out.returncode == 0, out.stderr
    assert yaml.safe_load(out.stdout) == manifest


def test_salt_function_reads_the_unmasked_pillar(package, tmp_path):
    """Through Salt: pillar values are masked by default in 3008; the module must unmask them."""
    root, manifest = package
    site = tmp_path / "site"
    site.mkdir()
    doc = {
        "gpu_stack": {
            "package_dir": str(root),
            "package_mount": str(root.parent),  # probed before the package is read
            "jetpack": "3.1",
            "wheelhouse": [],
            # over pillar/gpu.sls: JetPack 3.1's Python source brings no deb of its own here
            "python_sources": {"xenial-debs": {"kind": "apt", "packages": ["python3.6"]}},
            "jetpacks": {"3.1": {"artifacts": manifest}},
        }
    }
    (site / "site.sls").write_text(yaml.safe_dump(doc))
    local = str(tmp_path / "local")
    report = call("astro0", "ubuntu1604-aarch64", "install_package.verify", pillar_roots=[PILLAR, site], local=local)
    assert report["result"] is True, report["comment"]
    assert report["directory"] == str(root)
    assert call("astro0", "ubuntu1604-aarch64", "install_package.ok", pillar_roots=[PILLAR, site], local=local)
