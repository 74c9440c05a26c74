"""Lesson 2 in a real browser: JupyterLab on loopback, headless Chromium (Debian's, at
/usr/bin/chromium; `make test` installs it) driven by Playwright. Run the notebook, inject
cpu_spike on one node from the panel, and see HighCPUUsage firing in the panel. The screenshot
is kept in .lab/test-artifacts/."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CHROMIUM, CHROMIUM_ARGS, REPO, free_ports

pytestmark = pytest.mark.live
ARTIFACTS = REPO / ".lab" / "test-artifacts"


@pytest.fixture
def jupyterlab(shared_lab: Any, tmp_path: Path) -> Iterator[str]:
    """JupyterLab on a free loopback port, serving a copy of the lesson; its URL with token."""
    root = tmp_path / "notebooks"
    root.mkdir()
    shutil.copy(REPO / "notebooks/02_failure_injection.ipynb", root)
    port, token = free_ports(1), secrets.token_hex(16)
    env = {**os.environ, "LABKIT_STATE_DIR": str(shared_lab.settings.state_dir),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
           "JUPYTER_DATA_DIR": str(tmp_path / "data"), "IPYTHONDIR": str(tmp_path / "ipython"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"), "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings")}  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         *(["--allow-root"] if os.geteuid() == 0 else [])],
        env=env, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "jupyter.log", "w"),  # noqa: SIM115
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                assert server.poll() is None, (tmp_path / "jupyter.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "JupyterLab did not start"
                time.sleep(0.3)
        yield f"{base}/lab/tree/02_failure_injection.ipynb?token={token}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.mark.timeout(420)
def test_inject_from_the_panel_in_jupyterlab_shows_the_alert_firing(jupyterlab: str) -> None:
    assert Path(CHROMIUM).exists(), (
        "chromium is missing: `make test` installs it (apt package chromium)"
    )
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(jupyterlab)
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
            # the kernel must be connected and idle before Run All, or the run is dropped
            expect(page.locator("#jp-main-statusbar")).to_contain_text("Idle", timeout=90_000)
            first_prompt = page.locator(".jp-CodeCell .jp-InputPrompt").first
            for _ in range(3):
                page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
                page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
                try:  # started: the first prompt turns from [ ] to [*] or [1]
                    expect(first_prompt).not_to_have_text("[ ]:", timeout=20_000)
                    break
                except AssertionError:
                    page.keyboard.press("Escape")
            expect(first_prompt).not_to_have_text("[ ]:", timeout=1_000)
            # the drills' table appears when the whole notebook has run
            expect(page.locator("text=detected_after_seconds").first).to_be_visible(timeout=240_000)
            control = page.locator(".labkit-control-panel").first
            control.scroll_into_view_if_needed()
            control.locator("select[multiple]").select_option(["6"])
            control.locator(".widget-dropdown select").select_option("cpu_spike")
            control.locator("button", has_text="Inject").click()
            detection = control.locator(".labkit-detection")
            expect(detection).to_contain_text(
                "cpu_spike on node 6: HighCPUUsage fired after", timeout=30_000
            )
            row = control.locator(".labkit-alerts tr", has_text="HighCPUUsage").filter(
                has_text="firing"
            )
            expect(row.filter(has=page.locator("td", has_text="6")).first).to_be_visible(
                timeout=30_000
            )
            control.screenshot(path=str(ARTIFACTS / "lesson2-panel.png"))
        finally:
            page.screenshot(path=str(ARTIFACTS / "lesson2-page.png"), full_page=True)
            browser.close()
