"""The cluster health page (validation/html.py), checked in headless Chromium from Debian's
packages (chromium, chromium-driver: `make deps`) through Selenium, which downloads nothing:
the driver and the browser are given by path.

The fixture validation/testdata/health-page-report.json is the recorded VM lab report
(recorded-vmlab-report.json) with failures put in: astro23 unreachable (sshd down), astro15's
cloud/0 mounted NFS v3 read-only (its mount, write and write->read checks fail), an MPI run over
the three reachable nodes, and fingerprint figures, verdicts and a run record in the shape of the
gate contract (a cpu_mops outlier on astro15 fails its perf area, a drift on astro7 warns).
"""

from __future__ import annotations

import json
import shutil
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from saltrender import REPO

from validation import html, report

DATA = REPO / "validation" / "testdata"
FIXTURE = DATA / "health-page-report.json"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
HOSTILE = "<script>document.title='owned'</script><img src=x onerror=\"document.title='owned'\"> & \"q\""
FAILED_BG, PASSED_BG = (0xF6, 0xB8, 0xB8), (0xCD, 0xEC, 0xCD)  # the .failed and .passed colours of html.CSS


def load(path: Path = FIXTURE) -> dict[str, Any]:
    return json.loads(path.read_text())


# -- the page as text: no browser needed --------------------------------------------------------


def test_report_without_fingerprints_says_so() -> None:
    page = html.render(load(DATA / "recorded-lab-report.json"))
    assert "no fingerprint in this run" in page and "<svg" not in page
    assert 'data-node="astro23" data-status="passed"' in page


def test_hostile_texts_are_escaped_in_the_markup() -> None:
    summary = load()
    summary["hosts"]["astro15"]["checks"][0].update(outcome="failed", reason=HOSTILE)
    summary["hosts"]['astro"><b>x'] = summary["hosts"].pop("astro7")
    page = html.render(summary)
    assert "<script>" not in page and "<img" not in page and "<b>x" not in page
    assert html.text(HOSTILE) in page


def test_nfs_cells_come_from_the_mount_and_ring_checks() -> None:
    hosts = load()["hosts"]
    bad, cell = html.nfs_cells(hosts["astro15"]), ("mounted", "version", "rw", "mbs")
    assert [bad["cloud/0"][key] for key in cell] == ["failed", "NFS 3", "failed", ""]
    assert [bad["cloud/1"][key] for key in cell] == ["passed", "local bind", "passed", "w 87.0 r 104.0"]
    assert html.nfs_cells(hosts["astro23"])["cloud/2"]["rw"] == "skipped"
    unmounted = html.nfs_cells(load(DATA / "recorded-lab-report.json")["hosts"]["astro0"])["cloud/0"]
    assert (unmounted["mounted"], unmounted["version"]) == ("skipped", "NFS 4.2 (fstab)")


def test_ring_names_the_failing_peers_of_the_ssh_check() -> None:
    hosts = load(DATA / "recorded-sshd-report.json")["hosts"]
    hops = html.ssh_hops("tx0", hosts["tx0"], ["tx0", "tx1"])
    assert hops == [("tx0", "failed", "'no answer'")]
    assert html.ssh_hops("astro0", load()["hosts"]["astro0"], ["astro0", "astro7"]) == [
        ("astro7", "passed", "answered 'astro7'")
    ]


def test_command_line_renders_a_saved_report(tmp_path: Path) -> None:
    out = tmp_path / "page.html"
    assert html.main([str(FIXTURE), str(out)]) == 0
    assert out.read_text() == html.render(load())


# -- the page in a browser -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not shutil.which(path)]
    if missing:
        pytest.skip(f"{' and '.join(missing)} missing: install Debian's chromium chromium-driver (make deps)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,900"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture
def show(browser, tmp_path: Path):
    """show(summary): the page of ``summary`` loaded from a file; the browser's log emptied."""

    def _show(summary: dict[str, Any]):
        page = tmp_path / "health.html"
        page.write_text(html.render(summary), encoding="utf-8")
        browser.set_window_size(1200, 900)
        browser.get(page.as_uri())
        browser.get_log("browser")
        return browser

    return _show


def one(driver, css: str):
    from selenium.webdriver.common.by import By

    found = driver.find_elements(By.CSS_SELECTOR, css)
    assert len(found) == 1, f"{css}: {len(found)} elements"
    return found[0]


@pytest.mark.parametrize("name", ["health-page", "recorded-sshd", "recorded-lab"])
def test_every_node_has_its_status_and_failure_texts(show, name: str) -> None:
    summary = load(DATA / f"{name}-report.json")
    driver = show(summary)
    for node, host in summary["hosts"].items():
        row = one(driver, f'tr.node[data-node="{node}"]')
        assert row.get_attribute("data-status") == host["status"]
        assert host["status"] in one(driver, f'tr.node[data-node="{node}"] td.status').get_attribute("class").split()
        for area, failure in html.first_failures(host).items():
            cell = one(driver, f'tr.node[data-node="{node}"] td[data-area="{area}"]')
            assert "failed" in cell.get_attribute("class").split() and cell.get_attribute("title") == failure
            assert one(driver, f'tr.failure[data-node="{node}"] li[data-area="{area}"]').text == f"{area}: {failure}"
        assert host["status"] not in ("failed", "unreachable") or html.first_failures(host)


def test_grid_has_the_perf_area_when_the_run_has_it(show) -> None:
    driver = show(load())
    assert one(driver, 'tr.node[data-node="astro15"] td[data-area="perf"]').text == "FAIL"
    assert "outlier" in one(driver, 'tr.failure[data-node="astro15"] li[data-area="perf"]').text


def nfs_cell(driver, node: str, mount: str) -> tuple[list[str], str, str]:
    cell = one(driver, f'#nfs tr[data-node="{node}"] td[data-mount="{mount}"]')
    return cell.get_attribute("class").split(), cell.text.replace("\n", " | "), cell.get_attribute("title")


def test_nfs_matrix_has_each_node_and_export(show) -> None:
    driver = show(load())
    css, shown, why = nfs_cell(driver, "astro15", "cloud/0")
    assert (css, shown) == (["failed"], "mount FAIL | NFS 3 | w→r FAIL") and "Read-only file system" in why
    passing = (["passed"], "mount pass | NFS 4.2 | w→r pass | w 85.0 r 106.0 MB/s")
    assert nfs_cell(driver, "astro0", "cloud/1")[:2] == passing
    assert nfs_cell(driver, "astro7", "cloud/0")[1].startswith("mount pass | local bind | w→r pass")
    assert nfs_cell(driver, "astro23", "cloud/2") == (["skipped"], "mount skip | w→r skip", "")


def test_ring_has_each_hop_and_rank(show) -> None:
    driver = show(load())
    rows = {
        row.get_attribute("data-node"): row.text
        for row in driver.find_elements("css selector", "#ring tr[data-node]")
    }
    assert rows == {
        "astro0": "astro0 → astro7 pass pass 182 us 96 MB/s",
        "astro7": "astro7 → astro15 pass pass 191 us 95 MB/s",
        "astro15": "astro15 → astro0 pass pass 200 us 94 MB/s",
        "astro23": "astro23 → - skip skip - -",
    }


def test_fingerprints_and_record_are_shown(show) -> None:
    driver = show(load())
    astro15 = one(driver, 'details.fingerprint[data-node="astro15"]')
    assert astro15.get_attribute("open") and len(astro15.find_elements("css selector", "svg.spark polyline")) == 7
    assert one(driver, 'details.fingerprint[data-node="astro15"] [data-kind="outlier"]').get_attribute(
        "class"
    ).split() == ["mark", "bad"]
    assert not one(driver, 'details.fingerprint[data-node="astro0"]').get_attribute("open")
    record = one(driver, "#record").text
    assert "c6f591a (clean)" in record and "astro15: 3" in record and "R28.1" in record


def test_page_without_fingerprints_says_so(show) -> None:
    driver = show(load(DATA / "recorded-vmlab-report.json"))
    assert one(driver, "#fingerprints").text == "no fingerprint in this run"


def test_hostile_failure_text_renders_as_text(show) -> None:
    summary = load()
    summary["hosts"]["astro15"]["checks"][0].update(outcome="failed", reason=HOSTILE)
    records, nodes = report.records_from_summary(summary)
    summary["hosts"]["astro15"].update(report.summarize(records, nodes)["hosts"]["astro15"])
    driver = show(summary)
    assert driver.title == "jetson-array health"
    assert driver.find_elements("css selector", "script, img") == []
    first = summary["hosts"]["astro15"]["checks"][0]
    text = one(driver, f'tr.failure[data-node="astro15"] li[data-area="{first["area"]}"]').text
    assert text == f"{first['area']}: {first['check']}: {HOSTILE}"
    assert driver.get_log("browser") == []


def test_no_console_errors(show) -> None:
    driver = show(load())
    driver.refresh()
    assert [entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")] == []


def png_pixels(png: bytes) -> set[tuple[int, ...]]:
    """The distinct pixels of an 8-bit RGB/RGBA PNG (stdlib only: zlib, and the PNG filters)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks, header = 8, b"", b""
    while pos < len(png):
        (length,), kind = struct.unpack(">I", png[pos : pos + 4]), png[pos + 4 : pos + 8]
        body, pos = png[pos + 8 : pos + 8 + length], pos + 12 + length
        header, chunks = (body, chunks) if kind == b"IHDR" else (header, chunks + body if kind == b"IDAT" else chunks)
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6), (depth, colour)
    size = 3 if colour == 2 else 4
    raw, stride, previous, pixels = zlib.decompress(chunks), width * size, bytearray(width * size), set()
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left, up = line[i - size] if i >= size else 0, previous[i]
            corner = previous[i - size] if i >= size else 0
            line[i] = (line[i] + (0, left, up, (left + up) // 2, paeth(left, up, corner))[kind]) & 0xFF
        pixels.update(bytes(line[i : i + 3]) for i in range(0, stride, size))
        previous = line
    return {tuple(pixel) for pixel in pixels}


def paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def test_screenshot_shows_the_outcome_colours(show, tmp_path: Path) -> None:
    driver = show(load())
    assert driver.save_screenshot(str(tmp_path / "page.png")) and (tmp_path / "page.png").stat().st_size > 10_000
    colours = png_pixels(one(driver, "#grid table").screenshot_as_png)
    assert len(colours) > 2 and FAILED_BG in colours and PASSED_BG in colours


def test_narrow_window_scrolls_the_grid_not_the_page(show) -> None:
    driver = show(load())
    driver.set_window_size(400, 900)
    width = driver.execute_script("return document.documentElement.clientWidth")
    assert driver.execute_script("return document.documentElement.scrollWidth") <= width
    assert driver.execute_script("return document.body.scrollWidth") <= width
    grid = one(driver, "#grid")
    assert driver.execute_script("return getComputedStyle(arguments[0]).overflowX", grid) == "auto"
    assert driver.execute_script("return arguments[0].scrollWidth > arguments[0].clientWidth", grid)


def test_lab_demo_ends_with_the_table_and_the_page(monkeypatch, tmp_path: Path, capsys) -> None:
    """`python -m lab demo` runs the suite without pytest's line per skip (-ra from pyproject's
    addopts) and prints, last, the hosts x areas table and the health page's path."""
    from lab import cli
    from lab.common import converge, validate
    from lab.containers import lifecycle

    commands = []

    def suite(cmd: list[str], **_kwargs: Any) -> Any:
        commands.append(cmd)
        shutil.copy(FIXTURE, next(a.partition("=")[2] for a in cmd if a.startswith("--report-json=")))
        return type("Done", (), {"returncode": 1})()

    monkeypatch.setattr(validate, "REPORT", tmp_path / "acceptance.json")
    monkeypatch.setattr(validate.subprocess, "run", suite)
    monkeypatch.setattr(validate.table, "load", lambda _path: {"name_prefix": "astro"})
    monkeypatch.setattr(converge, "main", lambda rollout_first: 0)
    monkeypatch.setattr(lifecycle, "up", lambda nodes, rebuild, arm64=None: None)
    monkeypatch.setattr(lifecycle, "down", lambda: [])
    args = cli.parser().parse_args(["demo"])
    assert args.func(args) == 1  # not through cli.run: no lab lock
    assert commands and "-rN" in commands[0][commands[0].index("validation/") :]
    assert f"--report-html={tmp_path / 'acceptance.html'}" in commands[0]
    out = capsys.readouterr().out
    assert out.endswith(f"{report.table(load())}\nhealth page: {tmp_path / 'acceptance.html'}\n")


def test_figures_of_odd_shape_still_render() -> None:
    """A figure without a value or with gaps in its history (a job that did not finish)."""
    summary = load()
    summary["hosts"]["astro0"]["figures"] = {"cpu_mops": {"value": None, "unit": "Mop/s", "history": [1.0, None]}}
    summary["hosts"]["astro7"]["figures"]["cpu_mops"]["history"] = [None, 30.0]
    page = html.render(summary)
    assert "None Mop/s" in page and page.count("<svg") == 9 + 7  # astro7, astro15; none for astro0
