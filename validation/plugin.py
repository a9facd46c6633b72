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

from validation import gate as hostfile
from validation import history, html, inventory, pillars, report, verdicts
from validation.session import Node, State, build, fingerprint, passed_hosts, run_record, store

STATE = pytest.StashKey[State]()
STATE_FILE = pytest.StashKey[str]()
COLLECTOR = pytest.StashKey[report.Collector]()
SUMMARY = pytest.StashKey[dict[str, Any]]()
GATE_MESSAGE = pytest.StashKey[str]()
WORKER_KEY = "jetson_validation"
# ssh-bound checks: more workers than CPUs keep the network busy; each worker costs a process.
DEFAULT_WORKERS = min(8, 2 * (os.cpu_count() or 1))
TIERS = ["quick", "full"]  # a check marked tier("full") runs in the full tier only


def _mounts(state: State, name: str) -> list[tuple[str, Any]]:
    return [(f"cloud/{mount['index']}", mount) for mount in pillars.get(state.pillars[name], "nfs:client:mounts", [])]


def _nfs_server(state: State, name: str) -> list[tuple[str, Any]]:
    server = pillars.formula(state.pillars[name], "nfs")["server"]
    return [(server["mountpoint"], server)] if server["enabled"] else []


def _figures(state: State, name: str) -> list[tuple[str, Any]]:
    return [(figure, figure) for figure in state.figure_ids(name)]


# Fixtures parametrized per node from its pillar or its fingerprint jobs: name -> (state,
# node) -> [(id, value)]. A node without such items (a worker has no NFS server) has no such checks.
PER_NODE = {"mount": _mounts, "nfs_server": _nfs_server, "figure": _figures}


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
    group.addoption(
        "--tier",
        choices=TIERS,
        default="full",
        help="quick: configuration, reachability, mounts, mesh; full: also the fingerprint phase "
        "(CPU, NFS, MPI, GPU jobs on every node at once) and the perf checks",
    )
    group.addoption("--history", metavar="PATH", help="the run history (SQLite) figures are judged against and "
                    "stored in; default: validation.history.DEFAULT_PATH")
    group.addoption("--hostfile-out", metavar="PATH", help="write an Open MPI hostfile of the nodes that passed")
    group.addoption("--min-nodes", metavar="N", type=int, default=0,
                    help="exit status 1 when fewer than N nodes passed (the experiment needs N)")


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
        "where(*settings, reason=None): only on nodes where each pillar switch is on ('nfs:mount_now', "
        "'node:gpu'; pillars.switch: not false, a key no pillar sets is on); with a reason the check stays "
        "on the other nodes and is skipped there with it (one such check per area says why the others are absent)",
    )
    config.addinivalue_line("markers", "tier(name): the lowest tier the check runs in (quick, full; unmarked: quick)")
    if hasattr(config, "workerinput"):
        with open(config.workerinput[WORKER_KEY], encoding="utf-8") as handle:
            config.stash[STATE] = State.from_json(json.load(handle))


def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if hasattr(config, "workerinput"):
        return
    for option in ("report_json", "report_html", "hostfile_out", "history"):
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
        if config.getoption("tier") == "full":
            fingerprint(state, history_path(config))
    except (inventory.InventoryError, pillars.PillarError, history.HistoryError) as err:
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
    """The workers read the state file when they started: remove it as soon as the run ends.
    Then the run's summary, stored in the history, and the gate: the hostfile of the nodes
    that passed, exit status 1 below --min-nodes."""
    config = session.config
    if hasattr(config, "workerinput"):
        return
    if STATE_FILE in config.stash:
        remove_state_file(config.stash[STATE_FILE])
    if COLLECTOR not in config.stash:
        return
    state = config.stash[STATE]
    old_hostfile = config.getoption("hostfile_out")
    if old_hostfile and os.path.lexists(old_hostfile):
        os.unlink(old_hostfile)  # first: whatever fails below, a stale hostfile never launches a job
    summary = report.summarize(list(config.stash[COLLECTOR].records.values()), state.names)
    summary["timings"] = state.timings
    report.add_figures(summary, state.figures, verdicts.UNITS, state.history, state.verdicts)
    statuses = {name: host["status"] for name, host in summary["hosts"].items()}
    record = run_record(state, config.getoption("tier"))
    summary["record"] = {"run_id": None, **record, "history": history_path(config), "phase": phase_times(state)}
    if session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        summary["record"]["run_id"] = store(state, record, statuses, history_path(config))
    config.stash[SUMMARY] = summary
    gate(session, state, statuses)


def phase_times(state: State) -> dict[str, Any]:
    """The fingerprint phase's wall time, its jobs' summed time and their overlap (job time /
    wall time: the number of jobs running at once on average); {} in the quick tier."""
    return {key: state.phase[key] for key in ("wall_s", "job_s", "overlap", "peak") if key in state.phase}


def history_path(config: pytest.Config) -> str:
    return config.getoption("history") or history.DEFAULT_PATH


def gate(session: pytest.Session, state: State, statuses: dict[str, str]) -> None:
    """--hostfile-out: the nodes that passed; --min-nodes: fewer passed is exit status 1."""
    config = session.config
    passed = passed_hosts(state, statuses) if complete(session) else []
    path = config.getoption("hostfile_out")
    if path and passed:
        hostfile.write_hostfile(path, passed)
    short = hostfile.enough([name for name, _slots in passed], config.getoption("min_nodes"))
    if short:
        config.stash[GATE_MESSAGE] = f"validation: --min-nodes: {short}"
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def complete(session: pytest.Session) -> bool:
    """Every selected check ran to its end: no interruption, no -x/--maxfail stop, no -k/-m/
    --deselect choice of checks. A partial run certifies no node (a check that did not run
    would count as passed)."""
    config = session.config
    chosen = config.getoption("keyword") or config.getoption("markexpr") or config.getoption("deselect")
    stopped = session.shouldstop or session.shouldfail
    return session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED) and not stopped and not chosen


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "node_name" not in metafunc.fixturenames:
        return
    state = metafunc.config.stash[STATE]
    names = state.names
    if metafunc.definition.get_closest_marker("cluster_wide"):
        names = (state.reachable() or names)[:1]
    for mark in metafunc.definition.iter_markers("where"):
        if "reason" in mark.kwargs:
            continue  # kept on every node, skipped by the node fixture
        names = [name for name in names if all(pillars.switch(state.pillars[name], path) for path in mark.args)]
    per_node = [name for name in PER_NODE if name in metafunc.fixturenames][:1]
    params = []
    for name in names:
        group = pytest.mark.xdist_group(name)
        if not per_node:
            params.append(pytest.param(name, id=name, marks=group))
            continue
        for label, value in PER_NODE[per_node[0]](state, name):
            params.append(pytest.param(name, value, id=f"{name}-{label}", marks=group))
    metafunc.parametrize(["node_name", *per_node], params)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tag each check with its node, area (test module) and name for the report; drop the
    placeholder pytest makes when no selected node has the items (no NFS master selected),
    and the checks of a higher --tier."""
    tier = TIERS.index(config.getoption("tier"))
    empty = [item for item in items if any(TIERS.index(m.args[0]) > tier for m in item.iter_markers("tier"))]
    above = set(empty)
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is None or "node_name" not in callspec.params:
            continue
        name = callspec.params["node_name"]
        if item in above:
            continue
        if not isinstance(name, str):
            empty.append(item)
            continue
        rest = callspec.id.removeprefix(name).removeprefix("-")
        area = item.module.__name__.rpartition(".")[2].removeprefix("test_")
        check = f"{item.originalname}[{rest}]" if rest else item.originalname
        item.user_properties += [("node", name), ("area", area), ("check", check)]
    if empty:
        config.hook.pytest_deselected(items=empty)
        dropped = set(empty)
        items[:] = [item for item in items if item not in dropped]


@pytest.fixture(scope="session")
def state(request: pytest.FixtureRequest) -> State:
    return request.config.stash[STATE]


@pytest.fixture
def node(request: pytest.FixtureRequest, node_name: str, state: State) -> Node:
    """The node under test; its checks are skipped with the preflight reason if unreachable, and
    with the reason of their `where(..., reason=...)` mark where a setting of it is false."""
    reach = state.reach.get(node_name, {})
    if not reach.get("ok"):
        pytest.skip(f"{node_name}: {reach.get('reason', 'not reached by the preflight')}")
    node = state.node(node_name)
    for mark in request.node.iter_markers("where"):
        if "reason" in mark.kwargs:
            for path in mark.args:
                node.skip_unless(path, mark.kwargs["reason"])
    return node


@pytest.fixture
def record(request: pytest.FixtureRequest) -> Any:
    """record(key=value, ...): values of this check for the JSON report."""

    def _record(**values: Any) -> None:
        request.node.user_properties.append(("values", values))

    return _record


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if SUMMARY not in config.stash:
        return
    summary = config.stash[SUMMARY]
    state = config.stash[STATE]
    timings = state.timings
    terminalreporter.section("jetson-array acceptance report")
    terminalreporter.write_line(
        f"{len(state.names)} hosts selected, {len(state.reachable())} reachable; pillar rendered in "
        f"{timings.get('pillar_s')} s, preflight (with the render) in {timings.get('preflight_s')} s"
        + (f"; fingerprint phase {state.phase['wall_s']} s (overlap {state.phase['overlap']})" if state.phase else "")
        + "\n"
    )
    terminalreporter.write_line(report.table(summary))
    figures = report.figures_table(summary)
    if figures:
        terminalreporter.write_line("\nfigures:\n" + figures)
    skips = report.skip_reasons(summary)
    if skips:
        terminalreporter.write_line("\nskipped checks, by reason:\n" + skips)
    record = summary["record"]
    if record["run_id"] is not None:
        terminalreporter.write_line(f"\nhistory: run {record['run_id']} in {record['history']} "
                                    f"(python -m validation.history show {record['run_id']})")
    if GATE_MESSAGE in config.stash:
        terminalreporter.write_line(config.stash[GATE_MESSAGE], red=True)
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
