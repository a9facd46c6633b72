"""``python -m lab [vm] bench``: a backend's figures, written into its section of
docs/benchmarks.md (only the section between its markers is replaced)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from lab.common import docsection
from lab.common.backend import Backend
from lab.common.paths import REPO
from lab.common.shell import say

DOC = REPO / "docs" / "benchmarks.md"


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds ``action`` took, its result)."""
    begin = time.monotonic()
    result = action()
    return time.monotonic() - begin, result


def main(backend: Backend, args: argparse.Namespace) -> int:
    """Measure ``backend``, print its section and write it into docs/benchmarks.md."""
    name = backend.bench_section + ("-arm64" if getattr(args, "arm64", None) else "")
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = f"{begin}\n{backend.bench(args)}{end}\n"
    print(text)
    docsection.replace_section(DOC, begin, end, text)
    say(f"bench: written to {DOC}")
    return 0
