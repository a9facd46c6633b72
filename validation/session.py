"""The run's shared state: selected targets, their pillars and preflight results.

Built once by the controlling pytest process (pillar render + preflight), handed to xdist
workers as JSON, so no worker renders pillar or probes hosts again.
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
import subprocess
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, NamedTuple

import pytest
import testinfra

from validation import history, inventory, phase, pillars, preflight, probes, tegrastats, verdicts

# Pillar keys whose values the suite must never hold (it checks only whether one is set).
SECRET_KEY = re.compile(r"password|passphrase|secret", re.IGNORECASE)
REDACTED = "(set; the suite keeps no secret)"
FINGERPRINT_KEYS = ("phase", "figures", "verdicts", "history")


def redact(data: Any, secret: bool = False) -> Any:
    """``data`` with every non-empty string under a SECRET_KEY-named key (at any depth below
    it) replaced by REDACTED; empty values and switches kept, so a check still sees whether a
    password hash is set. The rendered pillar then travels and lands in files without them."""
    if isinstance(data, dict):
        return {key: redact(value, secret or bool(SECRET_KEY.search(str(key)))) for key, value in data.items()}
    if isinstance(data, list):
        return [redact(item, secret) for item in data]
    return REDACTED if secret and isinstance(data, str) and data else data


@dataclass
class State:
    targets: list[inventory.Target]
    pillars: dict[str, dict[str, Any]]
    reach: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Whom each node's mesh probe reached for (see build, --mesh): among the nodes that answered.
    mesh_peers: dict[str, list[str]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    # The fingerprint phase (validation/phase.py, full tier): its jobs, the figures they gave,
    # the verdicts on them and each figure's earlier values from the history database.
    phase: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, dict[str, float]] = field(default_factory=dict)
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    history: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    _nodes: dict[str, Node] = field(default_factory=dict, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        targets = [asdict(target) for target in self.targets]
        return {
            "targets": targets,
            "pillars": self.pillars,
            "reach": self.reach,
            "mesh_peers": self.mesh_peers,
            **{key: getattr(self, key) for key in FINGERPRINT_KEYS},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> State:
        targets = [inventory.Target(**target) for target in data["targets"]]
        return cls(targets, data["pillars"], data["reach"], data["mesh_peers"],
                   **{key: data.get(key) or {} for key in ("phase", "figures", "history")},
                   verdicts=data.get("verdicts") or [])

    @property
    def names(self) -> list[str]:
        return [target.name for target in self.targets]

    def reachable(self) -> list[str]:
        return [name for name in self.names if self.reach.get(name, {}).get("ok")]

    def ring_next(self, name: str) -> str:
        """The next reachable node after ``name`` in table order (itself when alone)."""
        return peers_among(self.reachable(), name, "ring")[0]

    def peers(self, name: str) -> list[str]:
        """Whom ``name``'s mesh probe reached for (empty: it had none, its host did not answer)."""
        return self.mesh_peers.get(name, [])

    def jobs(self, name: str) -> list[dict[str, Any]]:
        """The fingerprint phase's jobs of ``name`` (none in the quick tier or when unreachable)."""
        return [job for job in self.phase.get("jobs", []) if job["node"] == name]

    def figure_ids(self, name: str) -> list[str]:
        """The figures ``name``'s jobs measure (or were to measure), in job order."""
        return [figure for job in self.jobs(name) for figure in phase.figure_ids(job)]

    def verdicts_of(self, name: str, figure: str) -> list[dict[str, Any]]:
        return [v for v in self.verdicts if v["node"] == name and v["figure"] == figure]

    def node(self, name: str) -> Node:
        """The Node of ``name``, one per run (it caches the static files it read)."""
        if name not in self._nodes:
            target = next(target for target in self.targets if target.name == name)
            self._nodes[name] = Node(target, self.pillars[name], self.reach.get(name, {}).get("probes", {}))
        return self._nodes[name]


def peers_among(names: list[str], name: str, mesh: str) -> list[str]:
    """Whom ``name`` reaches in the mesh check among ``names`` (table order): the next one
    (ring, itself when alone) or every other one (all)."""
    if mesh == "all":
        return [peer for peer in names if peer != name] or [name]
    return [names[(names.index(name) + 1) % len(names)]]


def build(hosts: str | None, salt_config: str | None, ssh: inventory.SshOptions, mesh: str) -> State:
    """Render the pillars of the selected hosts and reach every one of them once (the
    connections open while the pillars render); each node's probes include its ssh to its
    mesh peers among the nodes that answered."""
    opts = pillars.salt_opts(salt_config)
    targets = inventory.expand(hosts, pillars.table(opts), ssh)
    inventory.private_dir(ssh.control_dir)
    state = State(targets, {})
    with pillars.renderer(opts, state.names) as render_all:

        def render() -> None:
            started = time.monotonic()
            state.pillars = redact(render_all())
            state.timings["pillar_s"] = round(time.monotonic() - started, 2)

        def probes_of(answering: list[str]) -> dict[str, dict[str, str]]:
            state.mesh_peers = {name: peers_among(answering, name, mesh) for name in answering}
            return {name: probes.for_node(state.pillars[name], state.peers(name)) for name in answering}

        started = time.monotonic()
        state.reach = preflight.run_all(targets, render, probes_of)
        state.timings["preflight_s"] = round(time.monotonic() - started, 2)
    return state


def fingerprint(state: State, db_path: str) -> None:
    """The fingerprint phase on every reachable node at once, then the verdicts on its figures
    against the pillar's acceptance references, this run's other nodes and the node's history."""
    started = time.monotonic()
    state.phase = phase.run(state, lambda name: probes.has_mpi(state.pillars[name]))
    state.timings["fingerprint_s"] = round(time.monotonic() - started, 2)
    state.figures = phase.figures(state.phase, tegrastats.summarize)
    pillar = judged_pillar(state)
    conn = history.connect(db_path)
    try:
        limit = int(pillars.required(pillar, "acceptance:history_runs"))
        state.history = {node: {figure: history.recent(conn, node, figure, limit) for figure in mine}
                         for node, mine in state.figures.items()}
    finally:
        conn.close()
    state.verdicts = judge(state, pillar)


def judged_pillar(state: State) -> dict[str, Any]:
    """The pillar whose ``acceptance`` settings (references, failures, ...) judge the run: the
    first reachable node's (pillar/acceptance.sls is the same for every node)."""
    names = state.reachable() or state.names
    return state.pillars[names[0]] if names else {}


def judge(state: State, pillar: dict[str, Any]) -> list[dict[str, Any]]:
    """verdicts.judge on the run's figures; each verdict as a plain dict."""
    try:
        references = verdicts.references(pillars.get(pillar, "acceptance:references") or {})
    except ValueError as err:
        raise pillars.PillarError(f"pillar {err}") from err
    failures = set(pillars.required(pillar, "acceptance:failures"))
    def earlier(node: str, figure: str) -> list[float]:
        return state.history.get(node, {}).get(figure, [])

    found = verdicts.judge(state.figures, references, earlier, failures, machines=machines(state))
    return [asdict(verdict) for verdict in found]


def machines(state: State) -> dict[str, str]:
    """node -> its machine type (``uname -m``: the preflight's machine probe), where it was read."""
    found = {}
    for name in state.reachable():
        probe = state.reach[name].get("probes", {}).get("machine", {})
        if probe.get("rc") == 0 and probe.get("out", "").strip():
            found[name] = probe["out"].strip()
    return found


class Probe(NamedTuple):
    """A command's exit status and output, as the preflight read them."""

    rc: int
    out: str


class Node:
    """One node under test: its testinfra host, its pillar and what the preflight read on it."""

    def __init__(self, target: inventory.Target, pillar: dict[str, Any], probes: dict[str, dict[str, Any]]):
        self.name = target.name
        self.target = target
        self.pillar = pillar
        self.probes = probes
        # Paths that did not answer during this run (a dead NFS server): see test_nfs._stuck.
        self.stuck: dict[str, str] | None = None

    def probe(self, name: str) -> Probe:
        """What probe ``name`` (validation/probes.py) printed on this node at session start."""
        if name not in self.probes:
            pytest.fail(f"{self.name}: the preflight read no {name!r} here (validation/probes.py)", pytrace=False)
        return Probe(self.probes[name]["rc"], self.probes[name]["out"])

    @cached_property
    def host(self) -> Any:
        return testinfra.get_host(self.target.spec, **self.target.options)

    def get(self, path: str, default: Any = None) -> Any:
        return pillars.get(self.pillar, path, default)

    def formula(self, name: str) -> dict[str, Any]:
        return pillars.formula(self.pillar, name)

    @property
    def user(self) -> str:
        return self.pillar["cluster_user"]["name"]

    @property
    def home(self) -> str:
        return self.pillar["cluster_user"]["home"]

    def run(self, command: str, *args: Any) -> Any:
        """``command`` as root. A broken connection (ssh exit 255) is tried once more, then
        fails the check naming the node, the command and ssh's reason."""
        try:
            return self.host.run(command, *args)
        except RuntimeError:
            pass
        try:
            return self.host.run(command, *args)
        except RuntimeError as err:
            reason = preflight.error_reason(err)
            pytest.fail(f"{self.name}: connection lost running {command!r}: {reason}", pytrace=False)

    def read(self, path: str) -> str:
        """The content of ``path`` now ('' when absent)."""
        return self.run("cat %s", path).stdout

    def run_as_user(self, command: str, timeout: int | None = None) -> Any:
        """``command`` (a shell snippet) as the cluster user, in its home, optionally bounded."""
        return self.run(probes.as_user(self.user, command, timeout))

    def skip_unless(self, path: str, why: str) -> None:
        """Skip the check when the switch at ``path`` (e.g. nfs:mount_now) is false."""
        if not pillars.switch(self.pillar, path):
            pytest.skip(f"{self.name}: pillar {path} is false ({why})")


def run_record(state: State, tier: str) -> dict[str, Any]:
    """What the history keeps of this run besides its figures (validation/history.add_run)."""
    probed = {name: state.node(name).probes for name in state.reachable()}
    modes = {name: p["nvpmodel"]["out"].strip().splitlines()[-1] for name, p in probed.items()
             if p.get("nvpmodel", {}).get("rc") == 0 and p["nvpmodel"]["out"].strip()}
    l4t = {name: p["nv_tegra_release"]["out"].splitlines()[0] for name, p in probed.items()
           if p.get("nv_tegra_release", {}).get("out")}
    pillar_hash = hashlib.sha256(json.dumps(state.pillars, sort_keys=True).encode()).hexdigest()
    return {
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "revision": revision(),
        "pillar_hash": pillar_hash,
        "tier": tier,
        "versions": {"suite_python": platform.python_version(), "l4t": l4t},
        "power_modes": modes,
    }


def revision() -> str:
    """The repo's commit the suite runs from ('-dirty' with local changes; 'unknown' outside git)."""
    run = subprocess.run(["git", "-C", pillars.REPO, "describe", "--always", "--dirty", "--abbrev=40"],
                         capture_output=True, text=True, check=False)
    return run.stdout.strip() if run.returncode == 0 and run.stdout.strip() else "unknown"


def store(state: State, record: dict[str, Any], statuses: dict[str, str], db_path: str) -> int:
    """Add the run and its figures to the history database; the run id."""
    rows = [(node, figure, value, verdicts.UNITS[figure.partition("/")[0]])
            for node, mine in state.figures.items() for figure, value in mine.items()]
    conn = history.connect(db_path)
    try:
        run_id = history.add_run(conn, {**record, "statuses": statuses})
        history.add_figures(conn, run_id, rows)
    finally:
        conn.close()
    return run_id


def passed_hosts(state: State, statuses: dict[str, str]) -> list[tuple[str, int]]:
    """(name, slots) of the nodes that passed, table order: slots from the node's pillar
    (node:slots, else acceptance:slots, else 1)."""
    def slots(name: str) -> int:
        pillar = state.pillars[name]
        return int(pillars.get(pillar, "node:slots") or pillars.get(pillar, "acceptance:slots") or 1)

    return [(name, slots(name)) for name in state.names if statuses.get(name) == "passed"]
