"""pytest hooks of the acceptance suite: options, hosts, pillar, preflight, report.

Run: ``pytest validation/ --hosts='astro*' [-n 8]`` (docs/validation.md). The controlling
process renders the pillar of every selected node and reaches each host once; xdist
workers read that state from a JSON file and run one host's checks on one worker (loadgroup).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import tempfile
from typing import Any

import pytest

from validation import html, inventory, pillars, report
from validation.session import Node, State, build

STATE = pytest.StashKey[State]()
STATE_FILE = pytest.StashKey[str]()
COLLECTOR = pytest.StashKey[report.Collector]()
WORKER_KEY = "jetson_validation"
# ssh-bound checks: more workers than CPUs keep the network busy; each worker costs a process.
DEFAULT_WORKERS = min(8, 2 * (os.cpu_count() or 1))


def _mounts(pillar: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(f"cloud/{mount['index']}", mount) for mount in pillars.get(pillar, "nfs:client:mounts", [])]


def _nfs_server(pillar: dict[str, Any]) -> list[tuple[str, Any]]:
    server = pillars.formula(pillar, "nfs")["server"]
    return [(server["mountpoint"], server)] if server["enabled"] else []


# Fixtures parametrized per node from its pillar: name -> pillar -> [(id, value)]. A node
# without such items (a worker has no NFS server) has no such checks.
PER_NODE = {"mount": _mounts, "nfs_server": _nfs_server}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("jetson", "jetson-array acceptance suite (docs/validation.md)")
    group.addoption(
        "--salt-config",
        metavar="PATH",
        help="Salt master config (file, or dir with 'master') whose pillar_roots and "
        "jetson_node_table give the expectations; default: the repo's pillar/",
    )
    group.addoption("--ssh-user", metavar="USER", help="ssh user for table nodes (root, or a sudoer with --sudo)")
    group.addoption(
        "--mesh",
        choices=["ring", "all"],
        default="ring",
        help="cross-node checks: each node with the next one (ring) or all pairs",
    )
    group.addoption("--report-json", metavar="PATH", help="write the per-node, per-check summary with values as JSON")
    group.addoption("--report-html", metavar="PATH", help="write the same summary as a self-contained HTML health page")


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """Hosts in parallel: without -n, DEFAULT_WORKERS xdist workers (-n 0 runs serially); each
    host's checks stay on one worker (xdist_group marks, --dist loadgroup)."""
    if not hasattr(config.option, "numprocesses") or hasattr(config, "workerinput"):
        return  # xdist not loaded (-p no:xdist), or this is a worker: it must never start workers
    if config.option.numprocesses is None and not config.getoption("usepdb", False):
        config.option.numprocesses = DEFAULT_WORKERS
    if config.option.numprocesses and config.option.dist == "no":
        config.option.dist = "loadgroup"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cluster_wide: runs once, from the first reachable selected node")
    config.addinivalue_line(
        "markers",
        "where(*settings): only on nodes where each pillar setting is true ('nfs:mount_now', 'node:gpu'); "
        "one unmarked check of the area skips elsewhere, with the reason",
    )
    if hasattr(config, "workerinput"):
        with open(config.workerinput[WORKER_KEY], encoding="utf-8") as handle:
            config.stash[STATE] = State.from_json(json.load(handle))


def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if hasattr(config, "workerinput"):
        return
    for option in ("report_json", "report_html"):
        path = config.getoption(option)
        if path and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            pytest.exit(f"validation: --{option.replace('_', '-')} {path}: its directory does not exist", 2)
    ssh = inventory.SshOptions(
        user=config.getoption("ssh_user"),
        config=config.getoption("ssh_config"),
        identity_file=config.getoption("ssh_identity_file"),
        sudo=bool(config.getoption("sudo")),
    )
    try:
        state = build(config.getoption("hosts"), config.getoption("salt_config"), ssh, config.getoption("mesh"))
    except (inventory.InventoryError, pillars.PillarError) as err:
        pytest.exit(f"validation: {err}", 2)
    config.stash[STATE] = state
    config.stash[COLLECTOR] = report.Collector()
    config.pluginmanager.register(config.stash[COLLECTOR], "jetson-validation-report")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: hand the rendered pillars and preflight results to each worker, in a
    file written once (execnet's pure-Python serializer would spend ~0.1 s per worker on them
    at 24 hosts)."""
    config = node.config
    if STATE_FILE not in config.stash:
        config.stash[STATE_FILE] = write_state_file(config.stash[STATE])
    node.workerinput[WORKER_KEY] = config.stash[STATE_FILE]


def write_state_file(state: State) -> str:
    """The state as JSON in a new private directory (mkdtemp: 0700, a name nobody could
    prepare), removed at exit; the pillars in it hold no secret values (session.redact)."""
    path = os.path.join(tempfile.mkdtemp(prefix="jetson-validation-"), "state.json")
    atexit.register(remove_state_file, path)
    with open(f"{path}.new", "w", encoding="utf-8") as handle:
        handle.write(json.dumps(state.to_json()))  # one shot: json's C encoder
    os.replace(f"{path}.new", path)  # whoever sees the file sees all of it
    return path


def remove_state_file(path: str) -> None:
    """Remove the state file ``path`` with its private directory (again: nothing happens)."""
    shutil.rmtree(os.path.dirname(path), ignore_errors=True)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The workers read the state file when they started: remove it as soon as the run ends."""
    if not hasattr(session.config, "workerinput") and STATE_FILE in session.config.stash:
        remove_state_file(session.config.stash[STATE_FILE])


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "node_name" not in metafunc.fixturenames:
        return
    state = metafunc.config.stash[STATE]
    names = state.names
    if metafunc.definition.get_closest_marker("cluster_wide"):
        names = (state.reachable() or names)[:1]
    for mark in metafunc.definition.iter_markers("where"):
        names = [name for name in names if all(pillars.setting(state.pillars[name], path) for path in mark.args)]
    per_node = [name for name in PER_NODE if name in metafunc.fixturenames][:1]
    params = []
    for name in names:
        group = pytest.mark.xdist_group(name)
        if not per_node:
            params.append(pytest.param(name, id=name, marks=group))
            continue
        for label, value in PER_NODE[per_node[0]](state.pillars[name]):
            params.append(pytest.param(name, value, id=f"{name}-{label}", marks=group))
    metafunc.parametrize(["node_name", *per_node], params)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tag each check with its node, area (test module) and name for the report; drop the
    placeholder pytest makes when no selected node has the items (no NFS master selected)."""
    empty = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is None or "node_name" not in callspec.params:
            continue
        name = callspec.params["node_name"]
        if not isinstance(name, str):
            empty.append(item)
            continue
        rest = callspec.id.removeprefix(name).removeprefix("-")
        area = item.module.__name__.rpartition(".")[2].removeprefix("test_")
        check = f"{item.originalname}[{rest}]" if rest else item.originalname
        item.user_properties += [("node", name), ("area", area), ("check", check)]
    if empty:
        config.hook.pytest_deselected(items=empty)
        items[:] = [item for item in items if item not in empty]


@pytest.fixture(scope="session")
def state(request: pytest.FixtureRequest) -> State:
    return request.config.stash[STATE]


@pytest.fixture
def node(node_name: str, state: State) -> Node:
    """The node under test; its checks are skipped with the preflight reason if unreachable."""
    reach = state.reach.get(node_name, {})
    if not reach.get("ok"):
        pytest.skip(f"{node_name}: {reach.get('reason', 'not reached by the preflight')}")
    return state.node(node_name)


@pytest.fixture
def record(request: pytest.FixtureRequest) -> Any:
    """record(key=value, ...): values of this check for the JSON report."""

    def _record(**values: Any) -> None:
        request.node.user_properties.append(("values", values))

    return _record


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if COLLECTOR not in config.stash:
        return
    records = list(config.stash[COLLECTOR].records.values())
    state = config.stash[STATE]
    summary = report.summarize(records, state.names)
    summary["timings"] = state.timings
    terminalreporter.section("jetson-array acceptance report")
    terminalreporter.write_line(
        f"{len(state.names)} hosts selected, {len(state.reachable())} reachable; pillar rendered in "
        f"{state.timings.get('pillar_s')} s, preflight (with the render) in {state.timings.get('preflight_s')} s\n"
    )
    terminalreporter.write_line(report.table(summary))
    skips = report.skip_reasons(summary)
    if skips:
        terminalreporter.write_line("\nskipped checks, by reason:\n" + skips)
    path = config.getoption("report_json")
    if path:
        report.write_json(summary, path)
        terminalreporter.write_line(f"\nJSON report: {path}")
    if config.getoption("report_html"):
        html.write(summary, config.getoption("report_html"))
        terminalreporter.write_line(f"health page: {config.getoption('report_html')}")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the workers' state file, stop the ssh control masters this run started (controller only)."""
    if hasattr(config, "workerinput") or STATE not in config.stash:
        return
    if STATE_FILE in config.stash:
        remove_state_file(config.stash[STATE_FILE])
    stopping = [
        subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for command in inventory.control_exit_commands(config.stash[STATE].targets)
    ]
    for process in stopping:  # all at once: one after another costs ~10 ms per host
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
