"""Replace one marked section of a markdown file (docs/benchmarks.md has one per benchmark)."""

from __future__ import annotations

from pathlib import Path


def replace_section(doc: Path, begin: str, end: str, text: str,
                    header: str = "# Benchmarks\n") -> None:
    """Put ``text`` (which starts with ``begin`` and ends with ``end``) in place of the section
    between those markers in ``doc``, or append it; the rest of the file stays as it is."""
    old = doc.read_text(encoding="utf-8") if doc.exists() else header
    if begin in old and end in old:
        new = old[: old.index(begin)] + text + old[old.index(end) + len(end) + 1:]
    else:
        new = old.rstrip("\n") + "\n\n" + text
    doc.write_text(new, encoding="utf-8")
