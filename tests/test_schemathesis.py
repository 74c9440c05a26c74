"""Schemathesis against a real node over HTTP, driven by the node's own OpenAPI schema."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import LABKIT, free_ports, wait_http

pytestmark = pytest.mark.live
MIN_REQUESTS = 500


@pytest.mark.timeout(600)
def test_generated_requests_find_no_5xx_and_no_schema_violation(tmp_path: Path) -> None:
    port = free_ports(1)
    node = subprocess.Popen(
        [*LABKIT, "node", "--id", "1", "--port", str(port)],
        env={**os.environ, "LABKIT_STATE_DIR": str(tmp_path / "lab")},
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/health")
        st = Path(sys.executable).with_name("st")
        run = subprocess.run(
            [str(st), "run", f"http://127.0.0.1:{port}/openapi.json",
             "--checks", "all", "--mode", "all", "--max-examples", "400", "--seed", "2026",
             "--generation-database", "none", "--no-color", "--workers", "1",
             "--report", "har", "--report-har-path", str(tmp_path / "requests.har")],
            capture_output=True, text=True, timeout=540, cwd=tmp_path,
        )  # fmt: skip
    finally:
        node.terminate()
        node.wait(timeout=10)
    assert run.returncode == 0, run.stdout[-4000:]
    entries = json.loads((tmp_path / "requests.har").read_text())["log"]["entries"]
    statuses = Counter(e["response"]["status"] for e in entries)
    assert len(entries) >= MIN_REQUESTS, statuses
    assert not [s for s in statuses if s >= 500], statuses
    assert statuses[200] > 100 and statuses[422] > 100  # both valid and invalid input were sent
