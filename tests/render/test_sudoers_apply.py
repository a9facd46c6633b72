"""The sudoers formula applied for real into a scratch directory: visudo guards every write, a
rule that is not one plain line with an argument list is refused by name, and the repo's rules,
loaded by the real sudo, refuse the attacks a researcher's account could try."""

from __future__ import annotations

import shlex
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from saltrender import PILLAR, call

NODE = "astro0"
PLATFORM = "debian12-x86_64"
GOOD = 'ALL=(root) NOPASSWD: /usr/bin/killall -9 tegrastats'


def apply_sudoers(tmp_path: Path, rules: dict | None = None, **settings) -> dict | list:
    """state.sls sudoers with drop-ins in tmp_path/sudoers.d; ``rules`` None keeps the repo's."""
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    dropins = tmp_path / "sudoers.d"
    dropins.mkdir(exist_ok=True)
    pillar = {"dir": str(dropins), **settings, **({"files": rules} if rules is not None else {})}
    (site / "site.sls").write_text(yaml.safe_dump({"sudoers": pillar}))
    return call(NODE, PLATFORM, "state.sls", "sudoers", pillar_roots=(PILLAR, site))


def dropin_state(result: dict, name: str) -> dict:
    return next(v for k, v in result.items() if f"sudoers-dropin-{name}" in k)


def test_good_rules_are_written_0440_and_a_rerun_changes_nothing(tmp_path):
    rules = {"jobs": [GOOD, 'ALL=(root) NOPASSWD: /opt/x/bin/tool ""']}
    state = dropin_state(apply_sudoers(tmp_path, rules), "jobs")
    assert state["result"] is True and state["changes"], state
    path = tmp_path / "sudoers.d" / "jobs"
    assert stat.S_IMODE(path.stat().st_mode) == 0o440
    assert f"mpiuser {GOOD}\nmpiuser ALL=(root) NOPASSWD: /opt/x/bin/tool \"\"\n" in path.read_text()
    again = apply_sudoers(tmp_path, rules)
    assert all(not v["changes"] for v in again.values()), again


def test_a_file_visudo_refuses_is_not_written_and_the_old_file_kept(tmp_path):
    apply_sudoers(tmp_path, {"jobs": [GOOD]})
    path = tmp_path / "sudoers.d" / "jobs"
    before = path.read_text()
    state = dropin_state(apply_sudoers(tmp_path, {"jobs": [GOOD + " x"]}, visudo="/bin/false"), "jobs")
    assert state["result"] is False
    assert "check_cmd" in state["comment"], state["comment"]
    assert path.read_text() == before


def test_a_dropin_name_with_a_dot_is_refused_by_name(tmp_path):
    result = apply_sudoers(tmp_path, {"jobs.conf": [GOOD]})
    assert isinstance(result, list) and "sudoers:files:jobs.conf" in " ".join(result), result
    assert not (tmp_path / "sudoers.d" / "jobs.conf").exists()


@pytest.mark.parametrize(
    "rule",
    [
        # a newline smuggles a second rule that visudo accepts
        f"{GOOD}\nALL ALL=(ALL) NOPASSWD: ALL",
        f"{GOOD}\rALL ALL=(ALL) NOPASSWD: ALL",
        "ALL=(root) NOPASSWD: /usr/sbin/iftop",  # no argument list: any argument
        "ALL=(root) NOPASSWD: /usr/bin/tegrastats *",  # a wildcard also matches spaces
        "ALL=(root) NOPASSWD: ALL",
        "ALL=(root) NOPASSWD: /usr/bin/killall tegrastats, /bin/sh",
        "ALL=(root) NOPASSWD: sudoedit /etc/hosts",
        "ALL=(ALL) NOPASSWD: /usr/bin/killall tegrastats",
        "ALL=(root) NOPASSWD: tegrastats x",
    ],
    ids=["newline", "carriage-return", "no-arguments", "wildcard", "all", "second-command", "sudoedit",
         "runas-all", "relative"],
)
def test_a_rule_of_another_shape_is_refused_naming_the_pillar_key(tmp_path, rule):
    result = apply_sudoers(tmp_path, {"jobs": [GOOD, rule]})
    assert isinstance(result, list), result
    assert "sudoers:files:jobs): item 1:" in " ".join(result), result
    assert not (tmp_path / "sudoers.d" / "jobs").exists()


def real_sudo(sudoers: Path, targets: list[str], checks: list[list[str]]) -> list[int]:
    """``sudo -l -U nobody CMD...`` for each check, with ``sudoers`` as /etc/sudoers and each
    /opt path of ``targets`` an executable stub, in a private mount namespace (host untouched)."""
    stubs = " && ".join(
        f"mkdir -p {shlex.quote(str(Path(t).parent))} && printf '#!/bin/sh\\n' > {shlex.quote(t)} "
        f"&& chmod 755 {shlex.quote(t)}" for t in targets if t.startswith("/opt/")
    )
    runs = "; ".join(f"sudo -l -U nobody {shlex.join(check)} >/dev/null 2>&1; echo $?" for check in checks)
    script = (f"mount -t tmpfs jetson-test /opt && {stubs or 'true'} && mount --bind {sudoers} /etc/sudoers "
              f"&& {{ {runs}; }}")
    out = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return [int(line) for line in out.stdout.split()]


def test_the_repo_rules_refuse_the_attacks_under_the_real_sudo(tmp_path):
    """As the repo's pillar renders them (user nobody here): each NOPASSWD target with crafted
    arguments, tegrastats writing a file, killall on sshd: refused; what the workload sends: allowed."""
    state = dropin_state(apply_sudoers(tmp_path, user="nobody"), "diagnosenet")
    assert state["result"] is True, state
    dropin = (tmp_path / "sudoers.d" / "diagnosenet").read_text()
    sudoers = tmp_path / "sudoers"
    sudoers.write_text("Defaults env_reset\nroot ALL=(ALL:ALL) ALL\n" + dropin)
    sudoers.chmod(0o440)
    targets = sorted({line.split("NOPASSWD:")[1].split()[0] for line in dropin.splitlines() if "NOPASSWD:" in line})
    attacks = [[t, "a", "b", "/bin/sh -c id>/tmp/x;"] for t in targets]
    attacks += [[t, "--logfile", "/etc/x"] for t in targets]
    attacks += [["/usr/bin/killall", "-9", "sshd"], ["/usr/bin/killall", "sshd"]]
    workload = [["/usr/bin/killall", "-9", "tegrastats"], ["/usr/bin/killall", "tegrastats"]]
    workload += [[t] for t in targets if t.startswith("/opt/")]
    codes = real_sudo(sudoers, targets, attacks + workload)
    allowed = [" ".join(a) for a, rc in zip(attacks, codes[: len(attacks)], strict=True) if rc == 0]
    refused = [" ".join(w) for w, rc in zip(workload, codes[len(attacks) :], strict=True) if rc != 0]
    assert not allowed, f"sudo lets the user run as root: {allowed}"
    assert not refused, f"sudo refuses what the workload sends: {refused}"
