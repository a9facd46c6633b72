"""The host's Debian apt sources: where the lab image build downloads from."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from lab.common.shell import LabError

APT_DIR = Path("/etc/apt")


@dataclass(frozen=True)
class Source:
    uri: str
    suite: str

    def line(self) -> str:
        return f"deb {self.uri} {self.suite} main"


def codename(os_release: Path = Path("/etc/os-release")) -> str:
    """The host's Debian codename (the lab image uses the same release)."""
    for line in os_release.read_text().splitlines():
        if line.startswith("VERSION_CODENAME="):
            return line.split("=", 1)[1].strip('"')
    raise LabError(f"{os_release}: no VERSION_CODENAME, cannot tell which Debian to bootstrap")


def _deb822(text: str) -> list[Source]:
    found = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if ":" in line and not line.startswith(("#", " ")):
                key, value = line.split(":", 1)
                fields[key.strip().lower()] = value.strip()
        if "deb" in fields.get("types", "").split() and "main" in fields.get("components", ""):
            found += [
                Source(uri, suite)
                for uri in fields.get("uris", "").split()
                for suite in fields.get("suites", "").split()
            ]
    return found


def _one_line(text: str) -> list[Source]:
    found = []
    for line in text.splitlines():
        parts = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
        if len(parts) >= 4 and parts[0] == "deb" and "main" in parts[3:]:
            found.append(Source(parts[1], parts[2]))
    return found


def debian_sources(release: str | None = None) -> list[Source]:
    """The host's sources for ``release`` (+ -updates, -security), main component, in order."""
    release = release or codename()
    files = [APT_DIR / "sources.list", *sorted((APT_DIR / "sources.list.d").glob("*"))]
    found: list[Source] = []
    for path in files:
        if path.suffix == ".sources":
            found += _deb822(path.read_text())
        elif path.name == "sources.list" or path.suffix == ".list":
            found += _one_line(path.read_text()) if path.exists() else []
    wanted = {release, f"{release}-updates", f"{release}-security"}
    result = [s for s in found if s.suite in wanted]
    if not any(s.suite == release for s in result):
        raise LabError(
            f"no apt source for Debian {release} (main) in {APT_DIR}/sources.list[.d]: "
            "the lab image needs one as its mirror"
        )
    return result


def mirror(sources: list[Source]) -> str:
    """The URI debootstrap uses: the first source of the release itself."""
    release = min(sources, key=lambda s: len(s.suite)).suite
    return next(s.uri for s in sources if s.suite == release)
