"""The lessons: outputs stripped in git, and nbval runs them against a live lab."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
LESSONS = ["01_fleet_tour.ipynb", "02_failure_injection.ipynb", "03_slo_burn.ipynb"]


def test_there_are_lessons() -> None:
    assert [p.name for p in NOTEBOOKS][:3] == [
        "01_fleet_tour.ipynb",
        "02_failure_injection.ipynb",
        "03_slo_burn.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_outputs_are_stripped_except_cells_marked_keep_output(path: Path) -> None:
    notebook = json.loads(path.read_text())
    for i, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] != "code" or cell.get("metadata", {}).get("keep_output"):
            continue
        assert cell["outputs"] == [], f"{path.name} cell {i} has outputs: strip them"
        assert cell["execution_count"] is None, f"{path.name} cell {i} has an execution count"


def run_nbval(notebook: Path, lab: Any, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """nbval in its own pytest, the kernel pointed at `lab` and its files kept in tmp_path."""
    env = {
        **os.environ,
        "LABKIT_STATE_DIR": str(lab.settings.state_dir),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
        "IPYTHONDIR": str(tmp_path / "ipython"),
        "MPLCONFIGDIR": str(tmp_path / "mpl"),
    }
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval", str(notebook), "-p", "no:cacheprovider",
         "--nbval-cell-timeout", "120", "-q", "-o", "addopts=", "--rootdir", str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=600, cwd=REPO,
    )  # fmt: skip


@pytest.mark.live
@pytest.mark.timeout(600)
@pytest.mark.parametrize("lesson", LESSONS)
def test_each_lesson_runs_under_nbval_against_the_live_lab(
    shared_lab: Any, tmp_path: Path, lesson: str
) -> None:
    run = run_nbval(REPO / "notebooks" / lesson, shared_lab, tmp_path)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and " failed" not in run.stdout
