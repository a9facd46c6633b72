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


def _schema():
    path = __salt__["cp.cache_file"]("salt://_modules/pillar_schema.py")
    if not path:  # a local file client that did not cache it: the file roots themselves
        roots = __opts__.get("file_roots", {}).get("base", [])
        path = next((os.path.join(r, "_modules", "pillar_schema.py") for r in roots
                     if os.path.isfile(os.path.join(r, "_modules", "pillar_schema.py"))), None)
    if not path:
        raise RuntimeError("salt://_modules/pillar_schema.py not found: the pillar cannot be checked")
    spec = importlib.util.spec_from_file_location("jetson_pillar_schema", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run():
    schema = _schema()
    pillar = __pillar__.value() if hasattr(__pillar__, "value") else __pillar__
    found = schema.problems(pillar, __grains__["id"])
    if found:
        raise schema.PillarSchemaError("pillar refused by salt/_modules/pillar_schema.py: " + "; ".join(found))
    return {}
