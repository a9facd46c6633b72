"""The run's shared state: selected targets, their pillars and preflight results.

Built once by the controlling pytest process (pillar render + preflight), handed to xdist
workers as JSON, so no worker renders pillar or probes hosts again.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any

import pytest
import testinfra

from validation import inventory, pillars, preflight


@dataclass
class State:
    targets: list[inventory.Target]
    pillars: dict[str, dict[str, Any]]
    reach: dict[str, dict[str, Any]] = field(default_factory=dict)
    mesh: str = "ring"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> State:
        targets = [inventory.Target(**target) for target in data["targets"]]
        return cls(targets, data["pillars"], data["reach"], data["mesh"])

    @property
    def names(self) -> list[str]:
        return [target.name for target in self.targets]

    def reachable(self) -> list[str]:
        return [name for name in self.names if self.reach.get(name, {}).get("ok")]

    def ring_next(self, name: str) -> str:
        """The next reachable node after ``name`` in table order (itself when alone)."""
        ring = self.reachable()
        return ring[(ring.index(name) + 1) % len(ring)]

    def peers(self, name: str) -> list[str]:
        """Whom ``name`` reaches in the mesh check: the next node (ring) or every other one."""
        if self.mesh == "all":
            return [peer for peer in self.reachable() if peer != name] or [name]
        return [self.ring_next(name)]

    def node(self, name: str) -> Node:
        target = next(target for target in self.targets if target.name == name)
        return Node(target, self.pillars[name], self.reach.get(name, {}).get("facts", {}))


def build(hosts: str | None, salt_config: str | None, ssh: inventory.SshOptions, mesh: str) -> State:
    """Render the pillars of the selected hosts and reach every one of them once."""
    opts = pillars.salt_opts(salt_config)
    targets = inventory.expand(hosts, pillars.table(opts), ssh)
    state = State(targets, pillars.render(opts, [t.name for t in targets]), mesh=mesh)
    os.makedirs(ssh.control_dir, mode=0o700, exist_ok=True)
    jobs = {}
    for target in targets:
        node = state.node(target.name)
        command = preflight.facts_command(node.user, node.formula("ssh_mesh")["key_type"])
        jobs[target.name] = (target.spec, target.options, command)
    state.reach = preflight.run_all(jobs)
    return state


class Node:
    """One node under test: its testinfra host, its pillar and the preflight facts."""

    def __init__(self, target: inventory.Target, pillar: dict[str, Any], facts: dict[str, Any]):
        self.name = target.name
        self.target = target
        self.pillar = pillar
        self.facts = facts

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
        return self.host.run(command, *args)

    def run_as_user(self, command: str, timeout: int | None = None) -> Any:
        """``command`` (a shell snippet) as the cluster user, in its home, optionally bounded."""
        bound = f"timeout -s KILL {timeout} " if timeout else ""
        inner = shlex.quote(f"cd && {command}")
        return self.host.run(f"sudo -n -H -u {shlex.quote(self.user)} -- {bound}sh -c {inner}")

    def skip_unless(self, path: str, why: str) -> None:
        """Skip the check when the formula setting at ``path`` (e.g. nfs:mount_now) is false."""
        formula, _, key = path.partition(":")
        if not pillars.get(self.formula(formula), key):
            pytest.skip(f"{self.name}: pillar {path} is false ({why})")
