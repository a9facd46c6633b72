"""tegrastats lines of a Jetson: the GPU clock, temperatures and power rails during the GPU job.

Formats read (recorded lines in validation/testdata/tegrastats-*.txt, each naming its source):
- L4T R28 (the array's R28.1 on a TX2): ``RAM 4722/7844MB (lfb 1x512kB) CPU [55%@2035,...]
  EMC_FREQ 2%@1866 GR3D_FREQ 71%@1300 ... BCPU@45C ... PMIC@100C ... VDD_GPU 6854/6903 ...``;
  without root, tegrastats leaves out EMC_FREQ and GR3D_FREQ.
- L4T R32 (JetPack 4): adds ``SWAP``/``IRAM`` and renames the rails (TX2: ``VDD_SYS_GPU``,
  Nano: ``POM_5V_GPU``); later releases may start the line with ``MM-DD-YYYY HH:MM:SS`` and
  write rails as ``<now>mW/<avg>mW``.
Rails are ``NAME <now>/<average>`` in mW. Unknown tokens (APE, MTS, NVENC, ...) are ignored.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable, Mapping
from typing import Any

_DATE = re.compile(r"\d\d-\d\d-\d{4} \d\d:\d\d:\d\d ")
_RAM = re.compile(r"RAM (\d+)/(\d+)MB\b")
_CPU = re.compile(r"\bCPU \[([^\]]*)\]")
_CORE = re.compile(r"(\d+)%(?:@(\d+))?|off")
_GR3D = re.compile(r"\bGR3D_FREQ (\d+)%(?:@\[?(\d+))?")
_TEMP = re.compile(r"(?<![\w@%])([A-Za-z][\w-]*)@(-?\d+(?:\.\d+)?)C\b")
_RAIL = re.compile(r"\b([A-Z][A-Z0-9_]*) (\d+)(?:mW)?/(\d+)(?:mW)?(?![\w/])")
_NOT_RAILS = {"RAM", "SWAP", "IRAM"}
# The GPU rail: R28 TX2 VDD_GPU; R32 TX2 VDD_SYS_GPU; R32 Nano POM_5V_GPU (the first one a line has).
GPU_RAILS = ("VDD_GPU", "VDD_SYS_GPU", "POM_5V_GPU")
# PMIC@100C is not a measured temperature: the PMIC zone's fixed reading (100 on R28).
PSEUDO_ZONES = {"PMIC"}


def parse(line: str) -> dict[str, Any]:
    """One tegrastats line: ram {used_mb, total_mb}, cpus [(load %, MHz) or None when off],
    gpu_load_pct, gpu_freq_mhz (None without root), temps {zone: C}, rails {name: (now_mw, avg_mw)}.
    A line that does not start with tegrastats' ``RAM used/totalMB`` raises ValueError naming it."""
    text = line.strip()
    date = _DATE.match(text)
    body = text[date.end():] if date else text
    ram = _RAM.match(body)
    if not ram:
        raise ValueError(f"not a tegrastats line (no leading 'RAM used/totalMB'): {line.strip()!r}")
    cpu = _CPU.search(body)
    gr3d = _GR3D.search(body)
    return {
        "ram": {"used_mb": int(ram[1]), "total_mb": int(ram[2])},
        "cpus": [_core(entry.strip()) for entry in cpu[1].split(",")] if cpu else [],
        "gpu_load_pct": int(gr3d[1]) if gr3d else None,
        "gpu_freq_mhz": int(gr3d[2]) if gr3d and gr3d[2] else None,
        "temps": {m[1]: float(m[2]) for m in _TEMP.finditer(body)},
        "rails": {m[1]: (int(m[2]), int(m[3])) for m in _RAIL.finditer(body) if m[1] not in _NOT_RAILS},
    }


def _core(entry: str) -> tuple[int, int | None] | None:
    match = _CORE.fullmatch(entry)
    if not match:
        raise ValueError(f"not a tegrastats CPU entry: {entry!r}")
    return None if entry == "off" else (int(match[1]), int(match[2]) if match[2] else None)


def gpu_rail(rails: Mapping[str, tuple[int, int]]) -> str | None:
    """The name of the GPU's power rail in one line's rails, None when it has none."""
    return next((name for name in GPU_RAILS if name in rails), None)


def summarize(lines: Iterable[str]) -> dict[str, float | None]:
    """Over the lines of one job (blank lines skipped): gpu_freq_mhz, the highest GR3D clock;
    temp_max_c, the hottest zone of any line (PMIC left out); gpu_power_w, the mean of the GPU
    rail's instantaneous mW / 1000. None for what no line holds."""
    parsed = [parse(line) for line in lines if line.strip()]
    freqs = [p["gpu_freq_mhz"] for p in parsed if p["gpu_freq_mhz"] is not None]
    temps = [c for p in parsed for zone, c in p["temps"].items() if zone not in PSEUDO_ZONES]
    power = [p["rails"][rail][0] for p in parsed if (rail := gpu_rail(p["rails"]))]
    return {
        "gpu_freq_mhz": max(freqs) if freqs else None,
        "temp_max_c": max(temps) if temps else None,
        "gpu_power_w": statistics.fmean(power) / 1000 if power else None,
    }


def clock_verdict(mode: int | str | None, freq_mhz: float | None, table: Mapping[Any, Any]) -> str | None:
    """None when the GPU clock under load reached the power mode's GR3D maximum (pillar
    acceptance:gpu_clock_mhz, nvpmodel mode -> MHz; int or str keys and mode, as YAML or JSON
    give them), else what is wrong."""
    expected = {str(key): value for key, value in table.items()}.get(str(mode)) if mode is not None else None
    if expected is None:
        known = ", ".join(str(key) for key in table)
        return f"power mode {mode!r} has no expected GPU clock in acceptance:gpu_clock_mhz (modes: {known})"
    if freq_mhz is None:
        return (f"tegrastats showed no GR3D_FREQ clock during the GPU job (it needs root); "
                f"power mode {mode} expects {expected} MHz")
    if freq_mhz < expected:
        return (f"GPU clock under load {freq_mhz:g} MHz is below {expected} MHz, the GR3D maximum "
                f"of power mode {mode} (acceptance:gpu_clock_mhz)")
    return None


def thermal_verdict(temp: float | None, limit: float) -> str | None:
    """None when no zone went above ``limit`` (pillar acceptance:thermal_limit_c), else what is wrong."""
    if temp is None:
        return "tegrastats showed no temperature during the GPU job"
    if temp > limit:
        return f"hottest zone {temp:g} C during the GPU job is above the limit {limit:g} C (acceptance:thermal_limit_c)"
    return None
