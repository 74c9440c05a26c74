"""Lesson 2 in a real browser, as a learner sees it: a 12-node lab (the default fleet) on free
ports, JupyterLab on loopback, headless Chromium (Debian's, at /usr/bin/chromium; `make test`
installs it) driven by Playwright at 1400x1000. Run All, then use the control panel: a
duration out of range is refused, an injection on node 6 shows its alert firing with the
Inject button still in view, its detection time stays listed after recovery; then a second Run
All teaches the same (no error, no NaN). Screenshots are kept in .lab/screenshots/ to be
looked at."""

from __future__ import annotations

import importlib.util
import os
import re
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labkit.course import student_text
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, REPO, free_ports, running_lab

pytestmark = pytest.mark.live
SHOTS = REPO / ".lab" / "screenshots"
WIDTH, HEIGHT = 1400, 1000


@pytest.fixture(scope="module")
def twelve_node_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A lab of the default size (12 nodes) on free ports with its own state folder."""
    state = tmp_path_factory.mktemp("lesson2-lab")
    with (state / "up.txt").open("w") as sink, running_lab(12, state, sink) as lab:
        yield lab


@pytest.fixture(scope="module")
def jupyterlab(twelve_node_lab: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """JupyterLab on a free loopback port as `make lab` starts it (no news prompt, nbgrader's
    menus off: scripts/jupyterlab.py's settings), serving the lesson as a learner gets it; its
    URL with token."""
    tmp = tmp_path_factory.mktemp("jupyterlab")
    root = tmp / "notebooks"
    root.mkdir()
    name = "02_failure_injection.ipynb"
    (root / name).write_text(student_text((REPO / "notebooks" / name).read_text()))
    port, token = free_ports(1), secrets.token_hex(16)
    env = {**os.environ, "LABKIT_STATE_DIR": str(twelve_node_lab.settings.state_dir),
           "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"), "JUPYTER_CONFIG_DIR": str(tmp / "config"),
           "JUPYTER_DATA_DIR": str(tmp / "data"), "IPYTHONDIR": str(tmp / "ipython"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "workspaces"),
           "JUPYTERLAB_SETTINGS_DIR": str(tmp / "settings")}  # fmt: skip
    spec = importlib.util.spec_from_file_location("launcher", REPO / "scripts" / "jupyterlab.py")
    assert spec is not None and spec.loader is not None
    launcher = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launcher)
    launcher.quiet_settings(env)
    launcher.learner_only(env)
    log = (tmp / "jupyter.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         *(["--allow-root"] if os.geteuid() == 0 else [])],
        env=env, stdout=subprocess.DEVNULL, stderr=log,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                assert server.poll() is None, (tmp / "jupyter.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "JupyterLab did not start"
                time.sleep(0.3)
        yield f"{base}/lab/tree/02_failure_injection.ipynb?token={token}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def run_all(page: Any) -> None:
    """Run All Cells from the menu, and wait until the run has started (a click while the
    kernel connects is dropped: then try again)."""
    from playwright.sync_api import expect

    last_prompt = page.locator(".jp-CodeCell .jp-InputPrompt").last
    before = last_prompt.inner_text()
    for _ in range(3):
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        try:  # queued: the last prompt turns from its number (or [ ]) to [*]
            expect(last_prompt).not_to_have_text(before, timeout=20_000)
            return
        except AssertionError:
            page.keyboard.press("Escape")
    raise AssertionError("Run All did not start")


def wait_for_the_run(page: Any, timeout_ms: int = 300_000) -> None:
    """Until the last cell has run (its prompt shows a number again); a cell that failed stops
    the run (the last prompt turns back to [ ]): then say what it printed."""
    from playwright.sync_api import expect

    last_prompt = page.locator(".jp-CodeCell .jp-InputPrompt").last
    expect(last_prompt).not_to_have_text(re.compile(r"\[\*\]"), timeout=timeout_ms)
    if not re.search(r"\[\d+\]", last_prompt.inner_text()):
        errors = page.locator(".jp-OutputArea-output[data-mime-type*='stderr']").all_inner_texts()
        raise AssertionError(f"the run stopped at an error: {errors}")


def dismiss_news(page: Any) -> None:
    """JupyterLab's "get notified about official Jupyter news?" toast, answered No if shown
    (it would cover the bottom right of the screenshots)."""
    toast = page.locator(".Toastify__toast", has_text="Jupyter news")
    if toast.count():
        toast.get_by_role("button", name="No", exact=True).click()


def in_view(locator: Any) -> dict[str, float]:
    """The element's box; it must lie wholly inside the 1400x1000 viewport."""
    box = locator.bounding_box()
    assert box is not None, "not drawn"
    assert box["x"] >= 0 and box["y"] >= 0, box
    assert box["x"] + box["width"] <= WIDTH and box["y"] + box["height"] <= HEIGHT, box
    return dict(box)


def check_lesson_outputs(page: Any) -> None:
    """The run ended well: no error output, the drills' table has no NaN, the lab is at rest."""
    outputs = page.locator(".jp-Notebook .jp-OutputArea-output")
    texts = outputs.all_inner_texts()
    assert not any("Traceback" in t for t in texts), texts
    assert page.locator(".jp-OutputArea-output[data-mime-type*='stderr']").count() == 0, texts
    table = page.locator(".jp-OutputArea-output table", has_text="detected_after_seconds").first
    cells = table.locator("tbody td").all_inner_texts()
    assert len(cells) == 5 * 4 and "NaN" not in cells, cells
    assert texts[-1].strip().endswith("No drill alert is firing: ready."), texts[-1]


@pytest.mark.timeout(900)
def test_lesson2_panel_fits_the_screen_and_keeps_the_detection_time(
    jupyterlab: str, twelve_node_lab: Any
) -> None:
    assert Path(CHROMIUM).exists(), (
        "chromium is missing: `make test` installs it (apt package chromium)"
    )
    from playwright.sync_api import expect, sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
        try:
            page.goto(jupyterlab)
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
            # the kernel must be connected and idle before Run All, or the run is dropped
            expect(page.locator("#jp-main-statusbar")).to_contain_text("Idle", timeout=90_000)
            run_all(page)
            wait_for_the_run(page)
            check_lesson_outputs(page)

            dismiss_news(page)
            control = page.locator(".labkit-control-panel").first
            control.evaluate("el => el.scrollIntoView({block: 'start'})")
            # choose node 6 alone: the choice is said in words, and framed in the node grid
            control.locator(".labkit-node-toggle-1").click()
            control.locator(".labkit-node-toggle-6").click()
            expect(control.locator(".labkit-chosen")).to_have_text("chosen: node 6")
            expect(control.locator(".labkit-node-grid .labkit-node-chosen")).to_have_count(1)
            assert control.locator(".labkit-node-tile").count() == 12
            control.locator(".widget-dropdown select").select_option("cpu_spike")
            inject = control.locator("button.labkit-inject")
            message = control.locator(".labkit-message")

            # a duration out of range is refused with a sentence, and nothing is injected
            duration = control.locator(".labkit-duration input")
            duration.fill("5000")
            duration.press("Tab")
            inject.click()
            expect(message).to_contain_text(
                "duration must be a number of seconds from 1 to 3600; got 5000", timeout=10_000
            )
            expect(message).to_contain_text("Nothing was injected")
            assert twelve_node_lab.status(6)[0]["active"] == []
            page.screenshot(path=str(SHOTS / "lesson2-refused.png"))

            duration.fill("30")
            duration.press("Tab")
            inject.click()
            expect(message).to_contain_text("Injected cpu_spike on node 6 for 30 s")
            history = control.locator(".labkit-history li.labkit-injection").first
            expect(history).to_contain_text(
                re.compile(r"cpu_spike on node 6, \d\d:\d\d:\d\d UTC, 30 s: HighCPUUsage fired "
                           r"after \d+\.\d\d s, firing"), timeout=30_000,
            )  # fmt: skip
            row = control.locator("tr.labkit-alert", has_text="HighCPUUsage").filter(
                has=page.locator("td", has_text=re.compile(r"^6$"))
            )
            expect(row).to_have_count(1, timeout=30_000)  # one row, not one per place
            expect(row).to_contain_text("both", timeout=10_000)
            # the Inject button and the firing alert, both on screen at once
            button_box, row_box = in_view(inject), in_view(row)
            assert row_box["y"] > button_box["y"]
            page.screenshot(path=str(SHOTS / "lesson2-injected.png"))
            detected = re.search(r"fired after (\d+\.\d\d) s", history.inner_text())
            assert detected is not None

            control.locator("button.labkit-recover").click()
            expect(message).to_contain_text("Recovered node 6: cpu_spike")
            time.sleep(10)  # the alert resolves; the detection time stays listed
            expect(history).to_contain_text(
                f"HighCPUUsage fired after {detected.group(1)} s, resolved after recovery"
            )
            expect(row).to_have_count(0)
            in_view(history)
            in_view(inject)
            page.screenshot(path=str(SHOTS / "lesson2-after-recovery.png"))

            # a learner tries a mode from the panel on a drill's node, and leaves it firing
            control.locator(".labkit-node-toggle-6").click()
            control.locator(".labkit-node-toggle-1").click()
            duration.fill("120")
            duration.press("Tab")
            inject.click()
            expect(history).to_contain_text(
                "cpu_spike on node 1", timeout=10_000
            )  # the newest comes first
            expect(history).to_contain_text("fired after", timeout=30_000)
            # a second Run All, in the same kernel, teaches the same
            run_all(page)
            wait_for_the_run(page)
            check_lesson_outputs(page)
            first = page.locator(".jp-CodeCell .jp-OutputArea-output").first
            expect(first).to_contain_text("Recovered cpu_spike on node 1.")
            page.screenshot(path=str(SHOTS / "lesson2-second-run.png"), full_page=True)
        finally:
            page.screenshot(path=str(SHOTS / "lesson2-last.png"))
            browser.close()
