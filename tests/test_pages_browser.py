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
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, REPO

pytestmark = pytest.mark.live
SHOTS = REPO / ".lab" / "screenshots"
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


def x_end(page: Any, panel: str = "cpu-usage-by-node") -> float | None:
    """Where a panel's figure ends its x axis in the browser (None before it is drawn)."""
    end = page.evaluate(f"""() => {{
        const el = document.querySelector('.labkit-panel-{panel} .js-plotly-plot');
        return el && el.layout && el.layout.xaxis.range ? el.layout.xaxis.range[1] : null;
    }}""")
    return None if end is None else float(end)


def new_band(page: Any, label: str, since: float) -> bool:
    """Does the CPU figure in the browser have a band `label` starting after x = `since`
    (less a step, as the band starts on the grid)?"""
    return bool(
        page.evaluate(f"""() => {{
        const el = document.querySelector('.labkit-panel-cpu-usage-by-node .js-plotly-plot');
        return !!(el && el.layout && (el.layout.shapes || []).some(s =>
            s.label && s.label.text === {label!r} && s.x0 >= {since} - 3));
    }}""")
    )


def live_page(browser: Any, url: str, tries: int = 3) -> Any:
    """The dashboard page with its CPU figure live (its x axis moving on).

    A KNOWN BUG, not hidden here: on a loaded machine a page can keep drawing the first state
    of a figure and never apply the updates the kernel sends (seen in CI, and reproduced with
    three busy processes beside the lab: about one page load in three; a reload brings it
    back). It is described in issue 14's closing note. Until it is fixed this opens the page
    again, up to `tries` times, and says so."""
    from playwright.sync_api import expect

    for attempt in range(1, tries + 1):
        page = open_page(browser, url, height=2300)
        expect(page.locator(".labkit-dash-status")).to_contain_text("updated", timeout=60_000)
        first = x_end(page)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            end = x_end(page)
            if first is not None and end is not None and end >= first + 6:
                if attempt > 1:
                    print(f"the CPU figure was frozen at load; live after {attempt} loads")
                return page
            first = end if first is None else first
            time.sleep(0.5)
        page.close()
    raise AssertionError(f"the CPU figure stayed frozen in {tries} page loads")


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
        ticks = page.locator(".labkit-panel-cpu-usage-by-node .xtick text").all_text_contents()
        assert ticks and all(re.fullmatch(r"\d\d:\d\d(:\d\d)?", t) for t in ticks), ticks
        stats = page.locator(".labkit-dash-stat").all_inner_texts()
        assert len(stats) == 4 and "no data" not in stats and stats[0] == "6", stats
        status, lines = (page.locator(".labkit-dash-status").inner_text(),
                         line_paths(page, "cpu-usage-by-node"))  # fmt: skip
        # a new point comes every step (3 s over 5 min); a page still drawing on a loaded
        # machine holds charts back (the status line says so), hence the generous wait
        deadline = time.monotonic() + 45
        while line_paths(page, "cpu-usage-by-node") == lines:
            assert time.monotonic() < deadline, (
                "the CPU lines did not change in 45 s; status: "
                + page.locator(".labkit-dash-status").inner_text()
            )
            time.sleep(0.5)
        assert page.locator(".labkit-dash-status").inner_text() != status, "no new refresh"
        page.screenshot(path=str(SHOTS / "dashboard.png"))
    finally:
        page.close()


@pytest.mark.timeout(300)
def test_an_injection_appears_in_the_dashboards_alert_row(shared_lab: Lab, browser: Any) -> None:
    from playwright.sync_api import expect

    assert shared_lab.config is not None
    page = live_page(browser, shared_lab.config.dashboard_page)
    try:
        table = page.locator(".labkit-dash-alerts")
        row = table.locator("tr", has_text="HighCPUUsage").filter(
            has=page.locator("td", has_text=re.compile(r"^5$"))
        )
        expect(row).to_have_count(0)
        since = x_end(page) or 0.0  # the figure's x: seconds from the page's start
        injected = time.monotonic()
        shared_lab.inject(5, "cpu_spike", 20)
        # about a second on a quiet machine (a scrape, an evaluation, a refresh); the wait is
        # generous because a loaded 2-core CI machine once took longer: the time is printed,
        # not asserted (timings belong in benchmarks)
        expect(row).to_have_count(1, timeout=30_000)
        print(f"HighCPUUsage in the dashboard's alert table {time.monotonic() - injected:.1f} s "
              "after the injection")  # fmt: skip
        # the band comes with the next grid point (a step: 3 s over 5 min): a band that starts
        # after the injection (an older one of node 5 may still be in the range)
        deadline = time.monotonic() + 30
        while not new_band(page, "cpu_spike on node 5", since):
            if time.monotonic() > deadline:
                page.screenshot(path=str(SHOTS / "dashboard-alert-missing-band.png"))
                raise AssertionError(f"no band; the CPU plot in the browser: {plot_state(page)}")
            time.sleep(0.25)
        print(f"its band in the CPU panel {time.monotonic() - injected:.1f} s after the injection")
        page.screenshot(path=str(SHOTS / "dashboard-alert.png"))
    finally:
        shared_lab.recover(5)
        page.close()


def plot_state(page: Any, panel: str = "cpu-usage-by-node") -> str:
    """A panel's figure as the browser draws it: its x range, shapes and the status line."""
    return str(
        page.evaluate(f"""() => {{
        const el = document.querySelector('.labkit-panel-{panel} .js-plotly-plot');
        const status = document.querySelector('.labkit-dash-status');
        if (!el || !el.layout) return 'no plot';
        return JSON.stringify({{range: el.layout.xaxis.range, tickvals: el.layout.xaxis.tickvals,
            shapes: (el.layout.shapes || []).map(s => [s.x0, s.x1, s.label && s.label.text]),
            traces: el.data.map(t => [t.name, t.x ? t.x.length : 0,
                                      t.x && t.x.length ? t.x[t.x.length - 1] : null]),
            status: status && status.innerText}});
    }}""")
    )


def am_row(page: Any, alertname: str, node: str) -> Any:
    return page.locator(".labkit-am-groups tr.labkit-am-alert", has_text=alertname).filter(
        has=page.locator("td", has_text=re.compile(f"^{node}$"))
    )


@pytest.mark.timeout(300)
def test_an_injection_appears_in_the_alertmanager_view(shared_lab: Lab, browser: Any) -> None:
    from playwright.sync_api import expect

    assert shared_lab.config is not None
    page = open_page(browser, shared_lab.config.alertmanager_page, height=1600)
    try:
        expect(page.locator(".labkit-am-status")).to_contain_text("read at", timeout=60_000)
        row = am_row(page, "HighCPUUsage", "3")
        expect(row).to_have_count(0, timeout=30_000)
        shared_lab.inject(3, "cpu_spike", 20)
        expect(row).to_have_count(1, timeout=30_000)  # ~1-2 s quiet; generous under load
        expect(row).to_have_class(re.compile("labkit-am-state-active"))
        page.screenshot(path=str(SHOTS / "alertmanager.png"))
    finally:
        shared_lab.recover(3)
        page.close()


def notified(lab: Lab, since: float, node: str, status: str | None = None) -> list[Any]:
    return [n for n in lab.notifications(since=since)
            if n["alertname"] == "HighCPUUsage" and n["node"] == node
            and (status is None or n["status"] == status)]  # fmt: skip


@pytest.mark.timeout(300)
def test_a_silence_created_in_the_page_holds_back_the_notification_until_it_expires(
    shared_lab: Lab, browser: Any
) -> None:
    from playwright.sync_api import expect

    assert shared_lab.config is not None
    shared_lab.recover(1)
    page = open_page(browser, shared_lab.config.alertmanager_page, height=1600)
    try:
        expect(page.locator(".labkit-am-status")).to_contain_text("read at", timeout=60_000)
        form = page.locator(".labkit-am-silence-form")
        form.locator(".labkit-am-matchers input").fill('alertname=HighCPUUsage node="1"')
        form.locator(".labkit-am-duration input").fill("15")
        form.locator(".labkit-am-comment input").fill("browser test: hold back node 1's CPU alert")
        expect(form.locator(".labkit-amtool")).to_contain_text("silence add", timeout=5_000)
        form.locator("button.labkit-am-create").click()
        expect(page.locator(".labkit-am-message")).to_contain_text("Created silence", timeout=5_000)
        created = time.time()
        expect(page.locator(".labkit-am-silence-active")).to_contain_text('node="1"', timeout=5_000)
        shared_lab.inject(1, "cpu_spike", 45)
        row = am_row(page, "HighCPUUsage", "1")
        expect(row).to_have_count(1, timeout=3_000)
        expect(row).to_have_class(re.compile("labkit-am-state-suppressed"), timeout=3_000)
        page.screenshot(path=str(SHOTS / "alertmanager-silenced.png"))
        while time.time() < created + 14:  # the silence holds: nothing reaches the receiver
            assert notified(shared_lab, created, "1") == [], "notified while silenced"
            time.sleep(0.5)
        deadline = time.time() + 15
        while not notified(shared_lab, created, "1", "firing"):  # expired: it goes out
            assert time.time() < deadline, "no notification after the silence expired"
            time.sleep(0.3)
        first = notified(shared_lab, created, "1", "firing")[0]
        assert first["ts"] >= created + 15 - 1.0
        expect(row).to_have_class(re.compile("labkit-am-state-active"), timeout=5_000)
    finally:
        shared_lab.recover(1)
        page.close()
    deadline = time.time() + 15  # leave no firing alert behind for the next test
    while not notified(shared_lab, created, "1", "resolved"):
        assert time.time() < deadline, "the resolution was not notified"
        time.sleep(0.3)


@pytest.mark.timeout(300)
def test_every_address_labkit_up_prints_opens_in_the_browser(shared_lab: Lab, browser: Any) -> None:
    printed = (shared_lab.settings.state_dir / "up.txt").read_text().split("ready in", 1)[1]
    urls = sorted(set(re.findall(r"https?://[^\s)]+", printed)))
    last = re.search(r"(http://[\d.]+:)(\d+)/metrics \.\.\. :(\d+)", printed)
    assert last, printed
    urls = [u for u in urls if not u.endswith(f":{last.group(2)}/metrics")]
    urls += [f"{last.group(1)}{port}/metrics" for port in (last.group(2), last.group(3))]
    assert len(urls) >= 9, urls
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        for url in urls:
            response = page.goto(url, timeout=90_000)
            assert response is not None and response.status == 200, (url, response)
            assert "404 page not found" not in page.content(), url
    finally:
        page.close()
