"""validation/tegrastats.py on recorded tegrastats lines (validation/testdata/tegrastats-*.txt,
each naming its public source): L4T R28 (the array's TX2) and R32 (TX2, Nano)."""

from __future__ import annotations

import pytest
from saltrender import REPO

from validation import tegrastats

DATA = REPO / "validation" / "testdata"


def recorded(name: str) -> list[str]:
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("# ") and "source: github.com/" in lines[0], f"{name}: first line must name the source"
    return [line for line in lines[1:] if line.strip()]


R28 = recorded("tegrastats-r28.1-tx2.txt")
R32_TX2 = recorded("tegrastats-r32-tx2.txt")
R32_NANO = recorded("tegrastats-r32-nano.txt")


def test_r28_tx2_line_parses_to_the_values_it_prints():
    line = tegrastats.parse(R28[0])
    assert line["ram"] == {"used_mb": 4722, "total_mb": 7844}
    assert line["cpus"] == [(55, 2035), (14, 2034), (27, 2034), (55, 2035), (47, 2035), (45, 2035)]
    assert (line["gpu_load_pct"], line["gpu_freq_mhz"]) == (71, 1300)
    assert line["temps"] == {"BCPU": 45.0, "MCPU": 45.0, "GPU": 51.0, "PLL": 45.0, "AO": 47.5, "Tboard": 37.0,
                             "Tdiode": 46.75, "PMIC": 100.0, "thermal": 46.4}
    assert line["rails"] == {"VDD_IN": (14025, 14416), "VDD_CPU": (2209, 2538), "VDD_GPU": (6854, 6903),
                             "VDD_SOC": (1371, 1370), "VDD_WIFI": (19, 19), "VDD_DDR": (2702, 2702)}


def test_r32_tx2_line_has_swap_and_the_renamed_rails():
    line = tegrastats.parse(R32_TX2[0])
    assert line["ram"] == {"used_mb": 3276, "total_mb": 7859}
    assert (line["gpu_load_pct"], line["gpu_freq_mhz"]) == (0, 114)
    assert line["rails"]["VDD_SYS_GPU"] == (182, 182) and "SWAP" not in line["rails"]
    assert set(line["rails"]) == {"VDD_SYS_GPU", "VDD_SYS_SOC", "VDD_4V0_WIFI", "VDD_IN", "VDD_SYS_CPU", "VDD_SYS_DDR"}
    assert line["temps"]["PMIC"] == 50.0 and line["temps"]["Tdiode"] == 39.25


def test_r32_nano_line_ignores_unknown_tokens():
    line = tegrastats.parse(R32_NANO[0])
    assert line["ram"] == {"used_mb": 1180, "total_mb": 3965}
    assert line["rails"] == {"POM_5V_IN": (4520, 4680), "POM_5V_GPU": (0, 0), "POM_5V_CPU": (1078, 1205)}
    assert line["cpus"] == [(30, 1036), (33, 1036), (28, 1036), (26, 1036)]


@pytest.mark.parametrize(("lines", "want"), [
    (R28, {"gpu_freq_mhz": 1300, "temp_max_c": 51.0, "gpu_power_w": 6.854}),
    (R32_TX2, {"gpu_freq_mhz": 114, "temp_max_c": 42.5, "gpu_power_w": 0.182}),
    (R32_NANO, {"gpu_freq_mhz": 76, "temp_max_c": 65.0, "gpu_power_w": 0.0}),
], ids=["r28-tx2", "r32-tx2", "r32-nano"])
def test_summary_of_recorded_lines(lines, want):
    """temp_max_c leaves out PMIC (100 C on R28, 50 C on the R32 TX2 line)."""
    assert tegrastats.summarize(lines) == pytest.approx(want)


def test_summary_takes_the_highest_clock_and_the_mean_gpu_power():
    slower = R28[0].replace("GR3D_FREQ 71%@1300", "GR3D_FREQ 99%@1122").replace("VDD_GPU 6854/", "VDD_GPU 5000/")
    hotter = R28[0].replace("GPU@51C", "GPU@88.5C")
    summary = tegrastats.summarize([slower, R28[0], hotter, ""])
    assert summary == pytest.approx({"gpu_freq_mhz": 1300, "temp_max_c": 88.5,
                                     "gpu_power_w": (5000 + 6854 + 6854) / 3 / 1000})


def test_without_root_there_is_no_clock_and_the_summary_says_none():
    """tegrastats run without root on R28 prints no EMC_FREQ / GR3D_FREQ."""
    unprivileged = R28[0].replace("EMC_FREQ 2%@1866 GR3D_FREQ 71%@1300 ", "")
    line = tegrastats.parse(unprivileged)
    assert (line["gpu_load_pct"], line["gpu_freq_mhz"]) == (None, None)
    assert tegrastats.summarize([unprivileged])["gpu_freq_mhz"] is None
    assert tegrastats.summarize([]) == {"gpu_freq_mhz": None, "temp_max_c": None, "gpu_power_w": None}


def test_later_releases_date_prefix_and_mw_rails():
    later = R32_TX2[0].replace("VDD_SYS_GPU 182/182", "VDD_SYS_GPU 182mW/190mW")
    line = tegrastats.parse("11-15-2024 08:38:09 " + later)
    assert line["rails"]["VDD_SYS_GPU"] == (182, 190) and line["ram"]["total_mb"] == 7859


@pytest.mark.parametrize("junk", ["sudo: tegrastats: command not found", "", "CPU [1%@345] RAM 1/2MB"])
def test_a_line_that_is_not_tegrastats_output_is_refused_naming_it(junk):
    with pytest.raises(ValueError, match="not a tegrastats line") as error:
        tegrastats.parse(junk)
    assert repr(junk) in str(error.value)
    if junk:
        with pytest.raises(ValueError, match="not a tegrastats line"):
            tegrastats.summarize([R28[0], junk])


TX2_CLOCKS = {0: 1300, 1: 854, 2: 1122, 3: 1122, 4: 1122}


def test_clock_verdict():
    assert tegrastats.clock_verdict(2, 1122, TX2_CLOCKS) is None
    assert tegrastats.clock_verdict(0, 1300, {str(k): v for k, v in TX2_CLOCKS.items()}) is None  # JSON keys
    assert tegrastats.clock_verdict("1", 854, TX2_CLOCKS) is None
    low = tegrastats.clock_verdict(2, 854, TX2_CLOCKS)
    assert low and "854 MHz is below 1122 MHz" in low and "power mode 2" in low
    assert "no GR3D_FREQ" in tegrastats.clock_verdict(0, None, TX2_CLOCKS)
    assert "power mode 7" in tegrastats.clock_verdict(7, 1300, TX2_CLOCKS)
    assert "power mode None" in tegrastats.clock_verdict(None, 1300, TX2_CLOCKS)


def test_thermal_verdict():
    assert tegrastats.thermal_verdict(85.0, 85) is None
    hot = tegrastats.thermal_verdict(85.5, 85)
    assert hot and "85.5 C" in hot and "limit 85 C" in hot
    assert "no temperature" in tegrastats.thermal_verdict(None, 85)
