#!py
"""The pillar schema check, rendered by salt/site/schema.jinja (every formula's map.jinja and the
highstate): raises, stopping the render before any state, if this node's pillar breaks the schema
of salt/_modules/pillar_schema.py. Rendered through slsutil.renderer where the SLS renders: on the
minion, and on the operator's machine for salt-ssh (whose pillar never reaches the target), so
both check the same pillar with the same code; no custom module needs to be synced first.
As a state it is empty.
"""
import importlib.util
import os


def _schema_file():
    """salt://_modules/pillar_schema.py as a local file: fetched from the file server (a minion),
    else the file roots themselves (a local file client); None where neither has it (salt-ssh:
    the target gets the state files its states name, and the custom modules as ext_mods)."""
    path = __salt__["cp.cache_file"]("salt://_modules/pillar_schema.py")
    if path and os.path.isfile(path):
        return path
    roots = __opts__.get("file_roots", {}).get("base", [])
    return next((os.path.join(r, "_modules", "pillar_schema.py") for r in roots
                 if os.path.isfile(os.path.join(r, "_modules", "pillar_schema.py"))), None)


def _problems(pillar, node):
    path = _schema_file()
    if path:
        spec = importlib.util.spec_from_file_location("jetson_pillar_schema", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.problems(pillar, node)
    if "pillar_schema.problems" in __salt__:  # salt-ssh: the module shipped with the ext_mods
        return __salt__["pillar_schema.problems"](pillar, node)
    raise RuntimeError("salt://_modules/pillar_schema.py not found: the pillar cannot be checked")


def run():
    pillar = __pillar__.value() if hasattr(__pillar__, "value") else __pillar__
    found = _problems(pillar, __grains__["id"])
    if found:
        raise ValueError("pillar refused by salt/_modules/pillar_schema.py: " + "; ".join(found))
    return {}
