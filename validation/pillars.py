"""Each node's pillar, rendered by Salt itself, and the formula settings derived from it.

The suite never keeps a second copy of the cluster data: it renders the same pillar the
states get (Salt's Python API, one process for every node) and merges each formula's
``defaults.yaml`` with ``pillar[<formula>]`` exactly as the formulas' ``map.jinja`` does
(jetson_array/merge.py: Salt's own merge).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import tempfile
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

from jetson_array import merge, nodetable
from jetson_array.repo import repo_module

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PILLAR_DIR = os.path.join(REPO, "pillar")


RENDER_PROCESSES = 4  # Salt spends most of a render building its loaders: CPU-bound
_FORKED: dict[str, Any] = {}  # what the forked render processes inherit


class PillarError(RuntimeError):
    """The pillar or the Salt config cannot be used; the message says which and why."""


def pillar_schema() -> ModuleType:
    """salt/_modules/pillar_schema.py: the check the states run before they render."""
    return repo_module("salt/_modules/pillar_schema.py")


def salt_opts(config: str | None) -> dict[str, Any]:
    """Master opts to render node pillars with, as the salt-master does for each minion, from
    ``config`` (a master config file, or a dir holding ``master``: its pillar_roots,
    jetson_node_table, ...).

    Without a config: Salt's defaults with pillar_roots on the repo's pillar/ (so the
    default node table, pillar/nodes.yaml) and a throwaway cache dir.
    """
    import salt.config

    if config is None:
        opts = salt.config.master_config(None)
        opts["pillar_roots"] = {"base": [PILLAR_DIR]}
        opts["cachedir"] = tempfile.mkdtemp(prefix="jetson-validation-cache-")
    else:
        path = os.path.join(config, "master") if os.path.isdir(config) else config
        if not os.path.isfile(path):
            raise PillarError(f"--salt-config {config}: no master config file at {path}")
        try:
            opts = salt.config.master_config(path)
        except Exception as err:  # Salt raises many kinds for a bad file
            raise PillarError(f"--salt-config {path}: Salt cannot read it: {err}") from err
    return opts


def table(opts: dict[str, Any]) -> dict[str, Any]:
    """The checked node table the pillar is built from (``jetson_node_table`` or the default)."""
    try:
        return nodetable.load(opts.get("jetson_node_table"))
    except nodetable.NodeTableError as err:
        raise PillarError(str(err)) from err


def render(opts: dict[str, Any], names: list[str]) -> dict[str, dict[str, Any]]:
    """Compile the pillar of every node in ``names`` as the master would for that minion."""
    import salt.pillar

    result = {}
    for name in names:
        pillar = salt.pillar.get_pillar(opts, {"id": name}, name, saltenv="base")
        data = pillar.compile_pillar()
        if data.get("_errors"):
            raise PillarError(f"pillar of {name}: {'; '.join(data['_errors'])}")
        if "node" not in data:
            raise PillarError(
                f"pillar of {name} has no 'node' key: is pillar/cluster.sls in the pillar top "
                f"of {opts.get('pillar_roots')}?"
            )
        refused = pillar_schema().problems(data, name)
        if refused:
            raise PillarError(f"pillar of {name}: " + "; ".join(refused))
        result[name] = plain(data)
    return result


@contextlib.contextmanager
def renderer(opts: dict[str, Any], names: list[str]) -> Iterator[Callable[[], dict[str, dict[str, Any]]]]:
    """Fork the render processes NOW (before the caller starts threads), one per CPU up to
    RENDER_PROCESSES; yield the function that renders every node's pillar with them."""
    count = min(len(names), os.cpu_count() or 1, RENDER_PROCESSES)
    if count < 2:
        yield lambda: render(opts, names)
        return
    import salt.pillar  # noqa: F401  (imported once here, not once in each render process)

    _FORKED["opts"] = opts
    with multiprocessing.get_context("fork").Pool(count) as pool:
        chunks = [names[index::count] for index in range(count)]
        yield lambda: {name: pillar for part in pool.map(_render_forked, chunks) for name, pillar in part.items()}


def _render_forked(names: list[str]) -> dict[str, dict[str, Any]]:
    return render(_FORKED["opts"], names)


def plain(data: Any) -> Any:
    """OrderedDicts and tuples to dicts and lists, so the data travels as JSON."""
    if isinstance(data, dict):
        return {str(key): plain(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [plain(value) for value in data]
    return data


def formula(pillar: dict[str, Any], name: str) -> dict[str, Any]:
    """The formula's settings as its map.jinja resolves them (jetson_array/merge.py)."""
    try:
        return merge.formula(pillar, name)
    except merge.DefaultsError as err:
        raise PillarError(str(err)) from err


def setting(pillar: dict[str, Any], path: str, default: Any = None) -> Any:
    """The value at ``path`` ('nfs:mount_now', 'node:gpu'): through the formula's defaults when
    the first part names a formula, else straight from pillar; ``default`` when neither has it."""
    head, _, rest = path.partition(":")
    if merge.is_formula(head):
        return get(formula(pillar, head), rest, default)
    return get(pillar, path, default)


def switch(pillar: dict[str, Any], path: str) -> bool:
    """A pillar switch (the ``where`` marks, gpu_stack:acceptance:run_job): on unless set false;
    a key that neither pillar nor the formula's defaults set reads as on (only a pillar saying
    false turns a check or a job off)."""
    return bool(setting(pillar, path, True))


def required(pillar: dict[str, Any], path: str) -> Any:
    """``get`` of a value whose one home is a pillar file (no default copied into the suite):
    missing, it is a PillarError naming the path."""
    value = get(pillar, path)
    if value is None:
        raise PillarError(f"pillar {path} is not set (pillar/acceptance.sls sets the acceptance ones)")
    return value


def get(pillar: dict[str, Any], path: str, default: Any = None) -> Any:
    """``pillar.get('a:b:c')``."""
    value: Any = pillar
    for key in path.split(":"):
        if not isinstance(value, dict) or key not in value:
            return default
        value = value[key]
    return value
