"""Each node's pillar, rendered by Salt itself, and the formula settings derived from it.

The suite never keeps a second copy of the cluster data: it renders the same pillar the
states get (Salt's Python API, one process for every node) and merges each formula's
``defaults.yaml`` with ``pillar[<formula>]`` exactly as the formulas' ``map.jinja`` does.
"""

from __future__ import annotations

import contextlib
import importlib.util
import multiprocessing
import os
import tempfile
from collections.abc import Callable, Iterator
from functools import cache
from types import ModuleType
from typing import Any

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PILLAR_DIR = os.path.join(REPO, "pillar")
FORMULAS_DIR = os.path.join(REPO, "formulas")


RENDER_PROCESSES = 4  # Salt spends most of a render building its loaders: CPU-bound
_FORKED: dict[str, Any] = {}  # what the forked render processes inherit


class PillarError(RuntimeError):
    """The pillar or the Salt config cannot be used; the message says which and why."""


@cache
def repo_module(path: str) -> ModuleType:
    """A module of this repo loaded by path (pillar/nodetable.py, salt/_grains/tegra.py), the way
    pillar/cluster.sls loads the node table module: the suite reuses the repo's own parsers."""
    full = os.path.join(REPO, path)
    name = "jetson_" + os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, full)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def nodetable() -> ModuleType:
    return repo_module("pillar/nodetable.py")


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
    module = nodetable()
    try:
        return module.load(opts.get("jetson_node_table"))
    except module.NodeTableError as err:
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


@cache
def _defaults(name: str) -> dict[str, Any]:
    path = os.path.join(FORMULAS_DIR, name, "defaults.yaml")
    try:
        with open(path, encoding="utf-8") as handle:
            return yaml.safe_load(handle)[name]
    except (OSError, KeyError, TypeError) as err:
        raise PillarError(f"formula {name}: cannot read its defaults from {path}: {err}") from err


def formula(pillar: dict[str, Any], name: str) -> dict[str, Any]:
    """formulas/<name>/defaults.yaml merged with pillar[<name>], as the formula's map.jinja does
    (``slsutil.merge`` with strategy ``recurse``: mappings merge, everything else is replaced)."""
    return merge(_defaults(name), pillar.get(name) or {})


def merge(base: Any, over: Any) -> Any:
    """Recursive merge, ``over`` wins; lists and scalars are replaced, never appended."""
    if not (isinstance(base, dict) and isinstance(over, dict)):
        return over
    merged = dict(base)
    for key, value in over.items():
        merged[key] = merge(base[key], value) if key in base else value
    return merged


def setting(pillar: dict[str, Any], path: str) -> Any:
    """The value at ``path`` ('nfs:mount_now', 'node:gpu'): through the formula's defaults when
    the first part names a formula, else straight from pillar."""
    head, _, rest = path.partition(":")
    if os.path.isfile(os.path.join(FORMULAS_DIR, head, "defaults.yaml")):
        return get(formula(pillar, head), rest)
    return get(pillar, path)


def get(pillar: dict[str, Any], path: str, default: Any = None) -> Any:
    """``pillar.get('a:b:c')``."""
    value: Any = pillar
    for key in path.split(":"):
        if not isinstance(value, dict) or key not in value:
            return default
        value = value[key]
    return value
