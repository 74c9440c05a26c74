"""The lessons: outputs stripped in git, and nbval runs them against a live lab."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, running_lab

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
LESSONS = ["01_fleet_tour.ipynb", "02_failure_injection.ipynb", "03_slo_burn.ipynb",
           "06_silences_and_routing.ipynb"]  # fmt: skip
OFFLINE_LESSONS = ["04_offline_incident_review.ipynb", "05_alert_quality.ipynb"]


def test_there_are_lessons() -> None:
    assert [p.name for p in NOTEBOOKS] == sorted(LESSONS + OFFLINE_LESSONS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_outputs_are_stripped_except_cells_marked_keep_output(path: Path) -> None:
    notebook = json.loads(path.read_text())
    for i, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] != "code" or cell.get("metadata", {}).get("keep_output"):
            continue
        assert cell["outputs"] == [], f"{path.name} cell {i} has outputs: strip them"
        assert cell["execution_count"] is None, f"{path.name} cell {i} has an execution count"


PAGES = sorted((REPO / "labkit" / "pages").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS + PAGES, ids=[p.name for p in NOTEBOOKS + PAGES])
def test_each_notebook_names_its_kernel_so_no_dialog_asks_for_one(path: Path) -> None:
    spec = json.loads(path.read_text())["metadata"].get("kernelspec", {})
    assert (spec.get("name"), spec.get("language")) == ("python3", "python"), path.name


def test_jupyters_checkpoints_stay_out_of_git_and_the_wheel() -> None:
    ignored = subprocess.run(["git", "check-ignore", "-q", "notebooks/.ipynb_checkpoints/x.ipynb"],
                             cwd=REPO, timeout=30)  # fmt: skip
    assert ignored.returncode == 0
    assert "global-exclude .ipynb_checkpoints/*" in (REPO / "MANIFEST.in").read_text()


def test_refresh_outputs_keeps_only_the_kept_cells_outputs(tmp_path: Path) -> None:
    """Every lesson is a notebook; scripts/refresh_outputs.py re-runs one (a real kernel) and
    keeps the outputs of the cells nbval compares, nothing else."""
    cells = [
        {"cell_type": "code", "source": "print(6 * 7)",
         "metadata": {"keep_output": True, "tags": ["nbval-check-output"]}, "outputs": [],
         "execution_count": None},
        {"cell_type": "code", "source": "print('scratch')", "metadata": {},
         "outputs": [], "execution_count": None},
        {"cell_type": "markdown", "source": "# a lesson", "metadata": {}},
    ]  # fmt: skip
    nb = {"cells": cells, "metadata": {"kernelspec": {"name": "python3", "language": "python",
          "display_name": "Python 3 (ipykernel)"}}, "nbformat": 4, "nbformat_minor": 5}  # fmt: skip
    path = tmp_path / "lesson.ipynb"
    path.write_text(json.dumps(nb))
    script = [sys.executable, str(REPO / "scripts" / "refresh_outputs.py")]
    run = subprocess.run([*script, str(path)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "1 kept cells refreshed" in run.stdout
    kept, scratch, _ = json.loads(path.read_text())["cells"]
    assert "".join(kept["outputs"][0]["text"]) == "42\n" and kept["execution_count"] == 1
    assert scratch["outputs"] == [] and scratch["execution_count"] is None
    assert path.read_text().endswith("}\n") and '\n "cells": [' in path.read_text()
    missing = subprocess.run([*script, str(tmp_path / "nope.ipynb")], capture_output=True,
                             text=True, timeout=60)  # fmt: skip
    assert missing.returncode == 2 and "no such notebook" in missing.stderr


def run_nbval(notebook: Path, state_dir: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """nbval in its own pytest, the kernel pointed at the lab in `state_dir`, its files kept
    in tmp_path."""
    env = {
        **os.environ,
        "LABKIT_STATE_DIR": str(state_dir),
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


@pytest.fixture(scope="module")
def learner_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The lab a learner has after `make lab`: 12 nodes with their past, on free ports. The
    lessons run on it one after the other, as a learner would, twice each. (Not the 6-node
    shared lab: each run of lesson 3 takes a node per SLO out of use for the SLO's 2h24m
    window, and the other tests' bursts take more; 6 nodes run out.)"""
    with running_lab(12, tmp_path_factory.mktemp("learner-lab")) as lab:
        yield lab


@pytest.mark.live
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("lesson", LESSONS)
def test_each_lesson_runs_twice_in_a_row_under_nbval_against_the_live_lab(
    learner_lab: Any, tmp_path: Path, lesson: str
) -> None:
    """A learner runs a lesson again: Run All a second time, on the same lab, right after the
    first. Each lesson starts from a known state and its own checks (cells that assert what
    the lesson teaches) hold on both runs."""
    for run_number in (1, 2):
        (tmp_path / f"run{run_number}").mkdir()
        run = run_nbval(REPO / "notebooks" / lesson, learner_lab.settings.state_dir,
                        tmp_path / f"run{run_number}")  # fmt: skip
        assert run.returncode == 0, f"run {run_number}:\n" + run.stdout[-6000:] + run.stderr[-2000:]
        assert " passed" in run.stdout and " failed" not in run.stdout


@pytest.mark.timeout(600)
@pytest.mark.parametrize("lesson", OFFLINE_LESSONS)
def test_each_offline_lesson_runs_under_nbval_and_its_kept_outputs_match(
    tmp_path: Path, lesson: str
) -> None:
    """Lessons 4 and 5 need no running lab: they generate their history (real promtool) and
    replay it (real Prometheus). Their key cells keep outputs, which nbval compares."""
    path = REPO / "notebooks" / lesson
    kept = [c for c in json.loads(path.read_text())["cells"]
            if c.get("metadata", {}).get("keep_output") and c["outputs"]]  # fmt: skip
    assert len(kept) >= 3
    assert all("nbval-check-output" in c["metadata"]["tags"] for c in kept)
    run = run_nbval(path, tmp_path / "state", tmp_path)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and " failed" not in run.stdout
    assert not (tmp_path / "state" / "histories").exists() or all(
        not (d / "run" / "replay.json").exists()
        for d in (tmp_path / "state" / "histories").iterdir()
    )  # each lesson stopped its replay


GRADED = {"01_fleet_tour.ipynb": 1, "03_slo_burn.ipynb": 1, "04_offline_incident_review.ipynb": 1,
          "05_alert_quality.ipynb": 1, "06_silences_and_routing.ipynb": 2}  # fmt: skip


@pytest.mark.parametrize("lesson", sorted(GRADED))
def test_each_graded_exercise_is_in_nbgrader_format_with_its_full_marks_kept(lesson: str) -> None:
    """An exercise is three cells, in nbgrader's format: the answer (a solution cell: `None`,
    then the solution between BEGIN and END SOLUTION, which a student version replaces), the
    feedback (locked), and the points (an autograded test cell, locked). The points cell keeps
    its output, the full marks, which nbval compares: the lesson run with its solutions gets
    them, or fails."""
    cells = json.loads((REPO / "notebooks" / lesson).read_text())["cells"]
    meta = [c.get("metadata", {}).get("nbgrader") for c in cells]
    ids = [m["grade_id"] for m in meta if m]
    assert len(ids) == len(set(ids)) == 3 * GRADED[lesson]
    for i, m in enumerate(meta):
        if not (m and m["solution"]):
            continue
        answer, feedback, points = cells[i : i + 3]
        source = "".join(answer["source"])
        assert " = None  #" in source.split("### BEGIN SOLUTION")[0]
        assert source.count("### BEGIN SOLUTION") == source.count("### END SOLUTION") == 1
        assert feedback["metadata"]["nbgrader"]["locked"]
        assert "feedback" in "".join(feedback["source"]).splitlines()[-1]
        grade = points["metadata"]["nbgrader"]
        assert grade["grade"] and grade["locked"] and not grade["solution"]
        assert points["metadata"]["keep_output"]
        assert "nbval-check-output" in points["metadata"]["tags"]
        (out,) = points["outputs"]
        assert "".join(out["data"]["text/plain"]) == repr(float(grade["points"]))
        assert all(m["schema_version"] == 3 for m in (answer["metadata"]["nbgrader"], grade))
