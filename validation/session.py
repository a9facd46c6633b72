"""The run's shared state: selected targets, their pillars and preflight results.

Built once by the controlling pytest process (pillar render + preflight), handed to xdist
workers as JSON, so no worker renders pillar or probes hosts again.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any, NamedTuple

import pytest
import testinfra

from validation import inventory, pillars, preflight, probes

# Pillar keys whose values the suite must never hold (it checks only whether one is set).
SECRET_KEY = re.compile(r"password|passphrase|secret", re.IGNORECASE)
REDACTED = "(set; the suite keeps no secret)"


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
    _nodes: dict[str, Node] = field(default_factory=dict, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        targets = [asdict(target) for target in self.targets]
        return {
            "targets": targets,
            "pillars": self.pillars,
            "reach": self.reach,
            "mesh_peers": self.mesh_peers,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> State:
        targets = [inventory.Target(**target) for target in data["targets"]]
        return cls(targets, data["pillars"], data["reach"], data["mesh_peers"])

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
        return f"/home/{self.user}"

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
        """Skip the check when the setting at ``path`` (e.g. nfs:mount_now) is false."""
        if not pillars.setting(self.pillar, path):
            pytest.skip(f"{self.name}: pillar {path} is false ({why})")
