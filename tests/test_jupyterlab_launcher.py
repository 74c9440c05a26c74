"""`make lab`'s JupyterLab (scripts/jupyterlab.py): quiet, its address printed last, no news
prompt, and Ctrl-C stops it with exit 0. Real JupyterLab on a free loopback port, state in a
temporary folder."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO, free_ports

pytestmark = pytest.mark.live


@pytest.mark.timeout(120)
def test_make_labs_jupyterlab_ends_with_its_address_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = free_ports(1)
    lab = subprocess.Popen(
        [sys.executable, str(REPO / "scripts" / "jupyterlab.py"), f"--port={port}"],
        env={**os.environ, "LABKIT_STATE_DIR": str(tmp_path)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert lab.stdout is not None
        lines = []
        while not (lines and lines[-1].startswith("Open ")):
            line = lab.stdout.readline()
            assert line, f"JupyterLab did not start: {lines} {lab.stderr.read()}"  # type: ignore[union-attr]
            lines.append(line.rstrip("\n"))
        # no JupyterLab log and no JUPYTER_*=... command line in the terminal: three lines
        assert len(lines) == 3 and "jupyterlab.log" in lines[0] and "labkit down" in lines[1]
        # on the learner's copies of the lessons, without the exercises' solutions
        assert lines[0].startswith(f"JupyterLab: starting on {tmp_path / 'lessons'}/")
        copies = sorted(p.name for p in (tmp_path / "lessons").glob("*.ipynb"))
        assert copies == sorted(p.name for p in (REPO / "notebooks").glob("0*.ipynb"))
        assert not any("BEGIN SOLUTION" in (tmp_path / "lessons" / n).read_text() for n in copies)
        url = lines[-1].removeprefix("Open ")
        assert url.startswith(f"http://127.0.0.1:{port}/lab?token=")
        with urllib.request.urlopen(url, timeout=10) as page:
            assert page.status == 200
        token = url.split("token=")[1]
        settings = (
            f"http://127.0.0.1:{port}/lab/api/settings/@jupyterlab/apputils-extension:notification"
        )
        with urllib.request.urlopen(f"{settings}?token={token}", timeout=10) as answer:
            notification = json.load(answer)["settings"]
        assert notification["fetchNews"] == "false" and notification["checkForUpdates"] is False
        # nbgrader (installed for the instructor's tests) shows a learner none of its tools
        import nbgrader  # noqa: F401  (make test installs it: without it this proves nothing)

        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/formgrader?token={token}", timeout=10)
        assert missing.value.code == 404
        with urllib.request.urlopen(url, timeout=10) as page:
            config = re.search(
                r'id="jupyter-config-data"[^>]*>(.*?)</script>', page.read().decode(), re.S
            )
        assert config and "@jupyter/nbgrader" in json.loads(config.group(1))["disabledExtensions"]
        assert "Jupyter Server" in (tmp_path / "logs" / "jupyterlab.log").read_text()
        lab.send_signal(signal.SIGINT)
        out, err = lab.communicate(timeout=60)
    finally:
        if lab.poll() is None:  # a failure above: the launcher stops its JupyterLab on SIGTERM
            lab.terminate()
            try:
                lab.wait(timeout=30)
            except subprocess.TimeoutExpired:
                lab.kill()
                lab.wait()
    assert lab.returncode == 0 and "Traceback" not in err
    assert "JupyterLab stopped" in out
    assert not list((tmp_path / "jupyter" / "runtime").glob("jpserver-*.json"))  # it is gone
