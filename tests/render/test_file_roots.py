"""What the file_roots hold: any minion can fetch any file there (``cp.get_file salt://...``,
``cp.list_master``), so they hold only what the nodes are meant to get. Operator tools (the
roster, the config writer, the mesh-key collector, the minion bootstrap) live in tools/.
"""

from __future__ import annotations

import re
from pathlib import Path

import configure
from saltrender import REPO

FILE_ROOTS = [Path(root) for root in configure.state_tree(REPO, [])["file_roots"]["base"]]
# What a file_root may hold, by path relative to its root:
ALLOWED = re.compile(
    r"(?:.+\.(?:sls|jinja)"  # states and the Jinja they import (map.jinja, macros)
    r"|(?:.+/)?(?:defaults\.yaml|pillar\.example)"  # template-formula data
    r"|_(?:modules|grains|states|utils)/\w+\.py"  # Salt extensions: synced to and run on minions
    r"|[^/]+/files/.+)"  # what a formula's states install on the nodes
)


def served_files() -> list[tuple[Path, str]]:
    """(file, path relative to its root) for every file of every file_root (bytecode aside)."""
    return [(path, path.relative_to(root).as_posix()) for root in FILE_ROOTS for path in sorted(root.rglob("*"))
            if path.is_file() and "__pycache__" not in path.parts]



def test_the_file_roots_are_salt_and_formulas() -> None:
    assert FILE_ROOTS == [REPO / "salt", REPO / "formulas"]


def test_no_operator_tool_is_inside_a_file_root() -> None:
    strays = [rel for _path, rel in served_files() if not ALLOWED.fullmatch(rel)]
    assert not strays, f"not states, formula data, Salt extensions or formula files/: move to tools/: {strays}"


def test_nothing_executable_outside_a_formula_files_dir() -> None:
    executable = [rel for path, rel in served_files()
                  if path.stat().st_mode & 0o111 and not re.fullmatch(r"[^/]+/files/.+", rel)]
    assert not executable, f"executable files in a file_root (operator tools go to tools/): {executable}"


def test_the_rule_catches_the_old_layout() -> None:
    old = ["ssh/roster.py", "ssh/configure.py", "ssh/mesh_keys.py", "bootstrap/bootstrap-minion.sh",
           "bootstrap/master.conf.example"]
    assert not any(ALLOWED.fullmatch(rel) for rel in old)
    served = ["orch/rollout.sls", "nfs/map.jinja", "site/schema.jinja", "_grains/tegra.py",
              "nfs/files/prepare-device.sh", "swap/pillar.example"]
    assert all(ALLOWED.fullmatch(rel) for rel in served)
