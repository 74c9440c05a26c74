"""How the package hangs together (toward issue 14): reading a recording or talking to a lab
does not load the numpy simulator."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("module", ["labkit.lab", "labkit.replay", "labkit.recording"])
def test_importing_it_does_not_load_numpy(module: str) -> None:
    code = f"import sys, {module}; print('numpy' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False", f"import {module} loads numpy"


def test_the_recording_format_has_a_module_of_its_own() -> None:
    from labkit import history, recording

    assert history.HistoryInfo is recording.HistoryInfo  # the simulator writes that format
    assert "labkit.history" not in Path(recording.__file__).read_text()
