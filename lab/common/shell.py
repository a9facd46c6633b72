"""Running commands and telling the user what happens."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path


class LabError(RuntimeError):
    """A lab step failed; the message says which step, on what, and what to look at."""


def say(message: str) -> None:
    """Progress line on stderr (stdout stays free for reports)."""
    print(f"[lab] {message}", file=sys.stderr, flush=True)


@contextmanager
def step(title: str) -> Iterator[None]:
    """Print ``title``, run the block, print how long it took (or that it failed)."""
    say(f"{title} ...")
    start = time.monotonic()
    try:
        yield
    except BaseException:
        say(f"{title}: FAILED after {time.monotonic() - start:.1f}s")
        raise
    say(f"{title}: done in {time.monotonic() - start:.1f}s")


def run(
    cmd: Sequence[str | Path],
    *,
    what: str = "",
    check: bool = True,
    capture: bool = True,
    input_text: str | None = None,
    timeout: float | None = None,
    log: Path | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd``; on failure raise LabError naming ``what`` and the tail of its output.

    With ``log``, output goes to that file (appended) instead of being captured.
    """
    args = [str(part) for part in cmd]
    if log is not None:
        with open(log, "a", encoding="utf-8") as out:
            out.write(f"$ {' '.join(args)}\n")
            out.flush()
            proc = subprocess.run(
                args, stdout=out, stderr=subprocess.STDOUT, text=True,
                input=input_text, timeout=timeout, check=False, cwd=cwd,
            )
    else:
        proc = subprocess.run(
            args, capture_output=capture, text=True, input=input_text,
            timeout=timeout, check=False, cwd=cwd,
        )
    if check and proc.returncode != 0:
        detail = f"see {log}" if log else _tail((proc.stderr or "") + (proc.stdout or ""))
        raise LabError(f"{what or args[0]}: `{' '.join(args)}` exited {proc.returncode}: {detail}")
    return proc


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def write(path: Path, text: str, mode: int = 0o644) -> Path:
    """Write ``text`` to ``path`` (creating parents) with ``mode``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path
