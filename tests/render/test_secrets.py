"""No secret enters the repo: private keys, plaintext passwords, sshpass, host key checks off.

Scans every file git tracks (and untracked files it does not ignore, so a secret is caught
before the commit). Secrets live in site.sls in a pillar root outside git, or encrypted
with the GPG renderer (pillar/site.sls.example). A line that must name a forbidden thing
(a check that looks for it) carries the marker ``secrets-scan: allow``.

The patterns are written so that this file does not match itself (split literals).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from saltrender import REPO

ALLOW = "secrets-scan: " + "allow"
LINE_RULES = {
    "private key": re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----|PuTTY-User" r"-Key-File-"),
    "sshpass": re.compile(
        r"\bssh" r"pass\s+-[pfPed]|install\b.*\bssh" r"pass\b|^\s*-\s+['\"]?ssh" r"pass\b"
    ),
    "host key checking off": re.compile(
        r"StrictHost" r"KeyChecking\s*[= ]\s*['\"]?(no|off)\b|--ignore-host" r"-keys|--no-host"
        r"-keys|\b(ignore|no)_host" r"_keys\s*[:=]\s*['\"]?(true|yes|1)\b",
        re.IGNORECASE,
    ),
    "password on a command line": re.compile(
        r"--pass" r"(wd|word)[= ]+[^\s-]|\S+:\S+['\"]?\s*\|\s*(sudo\s+)?ch" r"passwd\b"
    ),
}
PASSWORD_KEY = re.compile(
    r"\b(?:\w*_)?pass" r"(?:wd|word|phrase)(?:_hash)?['\"]?\s*[:=]\s*(?P<value>.*)$",
    re.IGNORECASE,
)
SAFE_VALUE = re.compile(
    r"""^(|null|none|~|false|true"""  # empty or not a string
    r"""|\$(1|2[abxy]?|5|6|7|y|gy)\$.*"""  # a crypt(3) hash
    r"""|[!*]+.*"""  # a locked password
    r"""|\{[{%].*|\$\{?[A-Za-z_].*|<[^>]*>"""  # a template, variable or placeholder
    r"""|-----BEGIN PGP MESSAGE-----)$""",
    re.IGNORECASE,
)
KEY_FILE = re.compile(r"(^|/)(id_(rsa|dsa|ecdsa|ed25519)(_sk)?|[^/]*\.(pem|key|ppk|p12))$")


def repo_files(repo: Path) -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         cwd=repo, capture_output=True, text=True, check=True)
    return [name for name in out.stdout.split("\0") if name and (repo / name).is_file()]


def password_value(lines: list[str], index: int, python: bool) -> str | None:
    """The literal given to a password-like key on line ``index``, or None if no literal."""
    match = PASSWORD_KEY.search(lines[index])
    if not match:
        return None
    value = match.group("value").strip()
    quoted = re.match(r"""^(['"])(.*?)\1""", value)
    if quoted:
        return quoted.group(2)
    if python:  # code: only a quoted literal is a password; names are references
        return None
    value = re.sub(r"\s+#.*$", "", value).rstrip(",")
    if value in ("|", ">", "|-", ">-"):  # YAML block: the value is on the next line
        # (a commented-out example keeps its `#` on the following lines too)
        following = [t for t in (ln.strip().lstrip("#").strip() for ln in lines[index + 1:]) if t]
        return following[0] if following else ""
    return value


def scan_text(name: str, text: str) -> list[str]:
    findings = []
    lines = text.splitlines()
    for number, line in enumerate(lines, 1):
        if ALLOW in line:
            continue
        findings += [f"{name}:{number}: {what}" for what, rule in LINE_RULES.items()
                     if rule.search(line)]
        value = password_value(lines, number - 1, name.endswith(".py"))
        if value is not None and not SAFE_VALUE.match(value):
            findings.append(f"{name}:{number}: plaintext password (use a crypt hash from "
                            "the site pillar outside git, or a GPG-encrypted value)")
    return findings


def scan(repo: Path) -> list[str]:
    """Every finding in the repo at ``repo`` as 'path:line: what'."""
    findings = []
    for name in repo_files(repo):
        if KEY_FILE.search(name) and not name.endswith(".pub"):
            findings.append(f"{name}: a key file is tracked")
        raw = (repo / name).read_bytes()
        if b"\0" in raw[:8192]:
            continue  # binary
        findings += scan_text(name, raw.decode("utf-8", errors="replace"))
    return findings


def test_the_repo_holds_no_secret() -> None:
    assert scan(REPO) == []


def test_the_site_pillar_file_is_ignored_by_git() -> None:
    result = subprocess.run(["git", "check-ignore", "-q", "pillar/site.sls"], cwd=REPO)
    assert result.returncode == 0, "pillar/site.sls must be in .gitignore: it holds secrets"


# --- the scanner can fail: a scratch repo with one bad line per kind ----------------------

BAD = {
    "key.txt": "-----BEGIN OPENSSH " + "PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n",
    "pgp.asc": "-----BEGIN PGP " + "PRIVATE KEY BLOCK-----\n",
    "install.sh": "ssh" + "pass -p nvidia ssh-copy-id astro1\n",
    "apt.sh": "apt-get install -y " + "ssh" + "pass\n",
    "pkgs.sls": "tools:\n  pkg.installed:\n    - pkgs:\n      - " + "ssh" + "pass\n",
    "ssh_config": "Host *\n  StrictHost" + "KeyChecking no\n",
    "run.sh": "ssh -o StrictHost" + "KeyChecking=no astro1 true\n",
    "Saltfile": "salt-ssh:\n  ignore_host" + "_keys: True\n",
    "site.sls": "cluster_user:\n  pass" + "word: mpiuser\n",
    "quoted.yaml": "pass" + "word_hash: 'nvidia'\n",
    "block.yaml": "pass" + "word_hash: |\n  hunter2\n",
    "code.py": "ROSTER = {'pass" + "wd': 'nvidia'}\n",
    "chpasswd.sh": "echo 'mpiuser:mpiuser' | ch" + "passwd\n",
    "putty.ppk.txt": "PuTTY-User" + "-Key-File-3: ssh-ed25519\n",
    "cli.md": "salt-ssh --pass" + "wd nvidia '*' test.ping\n",
    "id_rsa": "not even a key\n",
}
GOOD = {
    "site.sls": "cluster_user:\n  pass" + "word_hash: '$6$rounds=5000$salt$abc/def'\n",
    "empty.yaml": "pass" + "word_hash: null  # locked\n",
    "locked.yaml": "pass" + "word: '!'\n",
    "gpg.sls": "#!yaml|gpg\nx:\n  pass" + "word_hash: |\n    -----BEGIN PGP MESSAGE-----\n",
    "state.sls": "u:\n  user.present:\n    - pass" + "word: {{ u.password_hash | json }}\n",
    "code.py": "shell = Shell(pass" + "wd=opts.get('pass" + "wd'))\n",
    "ssh_config": "Host *\n  StrictHost" + "KeyChecking yes\n",
    "readme.md": "It replaces the old bash + ssh" + "pass installer.\n",
    "check.py": "assert 'StrictHost" + "KeyChecking=no' not in out  # " + ALLOW + "\n",
    "id_ed25519.pub": "ssh-ed25519 AAAAC3Nza operator\n",
}


def scratch_repo(path: Path, files: dict[str, str]) -> Path:
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    for name, text in files.items():
        (path / name).write_text(text)
    subprocess.run(["git", "add", "."], cwd=path, check=True)
    return path


@pytest.mark.parametrize("name", BAD)
def test_each_kind_of_secret_is_found_and_named(name: str, tmp_path: Path) -> None:
    findings = scan(scratch_repo(tmp_path / "repo", {name: BAD[name]}))
    assert findings, f"{name}: {BAD[name]!r} was not found"
    assert all(finding.startswith(f"{name}:") for finding in findings)


def test_hashes_references_encrypted_values_and_marked_checks_pass(tmp_path: Path) -> None:
    assert scan(scratch_repo(tmp_path / "repo", GOOD)) == []


def test_an_ignored_site_pillar_is_not_scanned(tmp_path: Path) -> None:
    files = {".gitignore": "/site.sls\n", "site.sls": BAD["site.sls"]}
    assert scan(scratch_repo(tmp_path / "repo", files)) == []
