"""The lab's own pages in a real browser: the Voilà server `labkit up` starts (the shared lab's),
headless Chromium (Debian's, /usr/bin/chromium; `make test` installs it) driven by Playwright.
Screenshots are kept in .lab/screenshots/ to be looked at."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labkit.lab import Lab
from tests.conftest import REPO

pytestmark = pytest.mark.live
CHROMIUM = "/usr/bin/chromium"
SHOTS = REPO / ".lab" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
TIMESERIES = ["cpu-usage-by-node", "memory-usage-by-node", "request-rate-by-node",
              "latency-p50-p95-p99", "error-rate-by-node", "reliability-score-by-node",
              "error-budget-consumed-by-node", "rule-evaluation-time-by-group",
              "missed-rule-evaluations", "notifications-sent"]  # fmt: skip


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    assert Path(CHROMIUM).exists(), "chromium is missing: `make test` installs it (apt: chromium)"
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def open_page(browser: Any, url: str, height: int = 1000) -> Any:
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1400, "height": height})
    page.goto(url, timeout=90_000)
    expect(page.locator(".labkit-dash-status, .labkit-am-view").first).to_be_visible(timeout=90_000)
    return page


def line_paths(page: Any, panel: str) -> list[str]:
    """The `d` of every drawn line of a plotly panel (empty when nothing is drawn)."""
    paths = page.locator(f".labkit-panel-{panel} .scatterlayer path.js-line")
    return [d for d in paths.evaluate_all("ps => ps.map(p => p.getAttribute('d') || '')") if d]


@pytest.mark.timeout(300)
def test_the_dashboard_page_draws_every_panel_and_keeps_refreshing(
    shared_lab: Lab, browser: Any
) -> None:
    from playwright.sync_api import expect

    assert shared_lab.config is not None
    page = open_page(browser, shared_lab.config.dashboard_page, height=2300)
    try:
        expect(page.locator(".labkit-dash-status")).to_contain_text("updated", timeout=60_000)
        assert page.locator(".labkit-dash-panel").count() == 15
        time.sleep(4)  # a few refreshes: every rate() window has points
        expect(page.locator(".labkit-dash-empty")).to_have_count(0, timeout=30_000)
        for panel in TIMESERIES:
            assert line_paths(page, panel), f"{panel}: no line drawn"
        stats = page.locator(".labkit-dash-stat").all_inner_texts()
        assert len(stats) == 4 and "no data" not in stats and stats[0] == "6", stats
        before = (page.locator(".labkit-dash-status").inner_text(),
                  line_paths(page, "cpu-usage-by-node"))  # fmt: skip
        time.sleep(2.5)
        after = (page.locator(".labkit-dash-status").inner_text(),
                 line_paths(page, "cpu-usage-by-node"))  # fmt: skip
        assert before[0] != after[0], "the status line did not move"
        assert before[1] != after[1], "the CPU lines did not change between two reads"
        page.screenshot(path=str(SHOTS / "dashboard.png"))
    finally:
        page.close()


@pytest.mark.timeout(300)
def test_an_injection_appears_in_the_dashboards_alert_row_within_3_s(
    shared_lab: Lab, browser: Any
) -> None:
    from playwright.sync_api import expect

    assert shared_lab.config is not None
    page = open_page(browser, shared_lab.config.dashboard_page, height=2300)
    try:
        expect(page.locator(".labkit-dash-status")).to_contain_text("updated", timeout=60_000)
        table = page.locator(".labkit-dash-alerts")
        row = table.locator("tr", has_text="HighCPUUsage").filter(
            has=page.locator("td", has_text=re.compile(r"^5$"))
        )
        expect(row).to_have_count(0)
        injected = time.monotonic()
        shared_lab.inject(5, "cpu_spike", 20)
        expect(row).to_have_count(1, timeout=3_000)
        seen = time.monotonic() - injected
        assert seen < 3.0
        cpu = page.locator(".labkit-panel-cpu-usage-by-node")
        expect(cpu.locator("text=cpu_spike on node 5").first).to_be_attached(timeout=5_000)
        page.screenshot(path=str(SHOTS / "dashboard-alert.png"))
    finally:
        shared_lab.recover(5)
        page.close()
