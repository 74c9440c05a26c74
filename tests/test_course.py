"""The lessons as a course (issue 18, point 3): what learners get has no solution in it, and the
instructor's cycle with nbgrader runs for real.

The unit tests need nothing. The round trip runs `make assignments`' script and nbgrader's own
`autograde` and `generate_feedback` on this course, with real kernels and real Prometheus replays
of the recordings, and no lab: a solution submission gets full marks, an empty one zero."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labkit import course
from labkit.resources import copy_lessons, lessons
from tests.conftest import REPO

SCRIPT = [sys.executable, str(REPO / "scripts" / "assignments.py")]
GRADED = ["01_fleet_tour", "03_slo_burn", "04_offline_incident_review", "05_alert_quality",
          "06_silences_and_routing"]  # fmt: skip
LIVE_LESSONS = ["01_fleet_tour", "02_failure_injection", "03_slo_burn", "06_silences_and_routing"]


def text(cell: dict[str, Any]) -> str:
    source = cell["source"]
    return source if isinstance(source, str) else "".join(source)


def code(source: str, **nbgrader: Any) -> dict[str, Any]:
    meta = {"nbgrader": {"grade_id": "x", **nbgrader}} if nbgrader else {}
    out = [{"output_type": "stream", "name": "stdout", "text": "42\n"}]
    return {"cell_type": "code", "source": source, "metadata": meta, "outputs": out,
            "execution_count": 3}  # fmt: skip


def notebook(*cells: dict[str, Any]) -> dict[str, Any]:
    return {"cells": list(cells), "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


# --- the learner's copy --------------------------------------------------------------------


def test_a_solution_becomes_the_stub_at_its_indentation_and_the_rest_stays() -> None:
    source = ("answer = None  # yours\n### BEGIN SOLUTION\nanswer = 42\n### END SOLUTION\n"
              "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\nprint(answer)")  # fmt: skip
    original = notebook(code(source, solution=True))
    (cell,) = course.student_version(original)["cells"]
    assert text(cell) == ("answer = None  # yours\n# your answer here\ndef f():\n"
                          "    # your answer here\nprint(answer)")  # fmt: skip
    assert cell["outputs"] == [] and cell["execution_count"] is None
    assert text(original["cells"][0]) == source  # a copy: the source notebook is untouched


def test_hidden_tests_go_a_solution_cell_without_markers_goes_whole_and_text_gets_its_stub() -> (
    None
):
    hidden = code("assert f(1) == 1\n### BEGIN HIDDEN TESTS\nassert f(2) == 4\n### END HIDDEN "
                  "TESTS\nprint('ok')", grade=True)  # fmt: skip
    whole = code("answer = 42", solution=True)
    essay = {"cell_type": "markdown", "source": "Why?\n\n=== BEGIN SOLUTION ===\nBecause.\n"
             "=== END SOLUTION ===", "metadata": {"nbgrader": {"solution": True}}}  # fmt: skip
    plain = code("answer = 42")  # not a solution cell: kept
    cells = course.student_version(notebook(hidden, whole, essay, plain))["cells"]
    assert [text(c) for c in cells] == [
        "assert f(1) == 1\nprint('ok')",
        course.STUB,
        f"Why?\n\n{course.TEXT_STUB}",
        "answer = 42",
    ]
    assert "outputs" not in cells[2]


@pytest.mark.parametrize(
    "source, says",
    [
        ("### BEGIN SOLUTION\nanswer = 42", "'BEGIN SOLUTION' without 'END SOLUTION'"),
        ("answer = 42\n### END SOLUTION", "'END SOLUTION' without 'BEGIN SOLUTION'"),
        ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "'BEGIN SOLUTION' twice"),
        ("x = 1\n### BEGIN HIDDEN TESTS\nassert x", "'BEGIN HIDDEN TESTS' without 'END HIDDEN"),
    ],
)
def test_markers_that_do_not_pair_up_name_the_cell(source: str, says: str) -> None:
    """A learner must never get the rest of a cell whose solution block is not closed."""
    solution = "SOLUTION" in source  # else a test cell, with hidden tests
    nb = notebook(code("x = 1"), code(source, solution=solution, grade=not solution,
                                      grade_id="l9-answer"))  # fmt: skip
    with pytest.raises(ValueError, match="cell 1 \\(l9-answer\\)") as raised:
        course.student_version(nb)
    assert says in str(raised.value)


@pytest.mark.parametrize("path", lessons(), ids=lambda p: p.stem)
def test_no_lesson_a_learner_gets_holds_a_solution_and_each_answer_starts_unanswered(
    path: Path,
) -> None:
    source = json.loads(path.read_text())
    student = json.loads(course.student_text(path.read_text()))
    assert len(student["cells"]) == len(source["cells"])
    for before, after in zip(source["cells"], student["cells"], strict=True):
        assert "SOLUTION" not in text(after) and "HIDDEN TESTS" not in text(after)
        meta = before.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution"):
            assert text(after).split("\n")[-1] == course.STUB
            assert " = None  #" in text(after)  # the lesson runs on: "not answered yet"
            assert text(after) != text(before)
        elif meta.get("grade"):  # the points: the hidden re-grading goes, the points stay
            assert "BEGIN HIDDEN TESTS" in text(before)
            assert text(after).split("\n")[-1] == "feedback.points" != text(before)
        else:
            assert text(after) == text(before)
        assert after.get("outputs", []) == []


def test_labkit_lessons_copies_the_learners_version_and_knows_it_unchanged(tmp_path: Path) -> None:
    first = copy_lessons(tmp_path)
    assert set(first.values()) == {"copied"} and len(first) == len(lessons())
    for path in tmp_path.glob("*.ipynb"):
        assert "BEGIN SOLUTION" not in path.read_text(), path.name
        assert json.loads(path.read_text())["nbformat"] == 4
    assert set(copy_lessons(tmp_path).values()) == {"unchanged"}


# --- autograding without a lab -------------------------------------------------------------


def test_skip_lab_cells_turns_only_the_lab_tagged_cells_into_a_comment() -> None:
    live = code("lab = Lab.open()")
    live["metadata"]["tags"] = ["lab"]
    other = code("x = 1")
    other["metadata"]["tags"] = ["other"]
    nb, resources = course.skip_lab_cells(notebook(live, other), {"k": 1})
    assert [text(c) for c in nb["cells"]] == [course.SKIPPED, "x = 1"]
    assert nb["cells"][0]["outputs"] == [] and nb["cells"][1]["outputs"] and resources == {"k": 1}


@pytest.mark.parametrize("stem", LIVE_LESSONS)
def test_every_cell_that_opens_the_live_lab_or_uses_it_is_tagged_lab(stem: str) -> None:
    """The names only a live lab gives (the lab, its Prometheus, amtool, the Alertmanager
    panel): a cell using one must be tagged, or autograding would start a lab. The graded
    cells never are: they grade recordings."""
    cells = json.loads((REPO / "notebooks" / f"{stem}.ipynb").read_text())["cells"]
    live = re.compile(r"\blab\.|Lab\.open\(\)|\bprom\b|\bamtool\b|\bview\b|\btree\b")
    for i, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        tagged = course.LAB_TAG in cell.get("metadata", {}).get("tags", [])
        if cell.get("metadata", {}).get("nbgrader"):
            assert not tagged, f"{stem} cell {i}: a graded cell needs no lab"
        elif live.search(text(cell)):
            assert tagged, f"{stem} cell {i} uses the live lab: tag it {course.LAB_TAG!r}"


# --- the instructor's cycle, for real ------------------------------------------------------


def nbgrader(
    course_dir: Path, *args: str, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course_dir, env=env,
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """`make assignments` into a fresh course, then three students per graded lesson, autograded:
    `solution` hands in the source lessons (solutions in), `hub` the lessons untouched as labkit
    copies them into a learner's home on the hub, both collected from their homes by the
    script's --collect; `released` hands in nbgrader's release untouched (as nbgrader's own
    collect would leave it)."""
    course_dir = tmp_path_factory.mktemp("course")
    state = tmp_path_factory.mktemp("course-state")  # where the recordings are simulated
    homes = tmp_path_factory.mktemp("homes")
    os.environ["LABKIT_STATE_DIR"] = str(state)  # the config's default is <course>/.lab
    try:
        made = subprocess.run([*SCRIPT, "--course", str(course_dir)], capture_output=True,
                              text=True, timeout=600)  # fmt: skip
        assert made.returncode == 0, made.stdout + made.stderr
        (homes / "solution").mkdir()
        for path in lessons():
            (homes / "solution" / path.name).write_bytes(path.read_bytes())
        copy_lessons(homes / "hub")
        (homes / "nobody").mkdir()  # a learner who has not started: none collected
        (homes / "stale").mkdir()  # an older copy of each lesson: no exercise cells, named
        for path in lessons():
            (homes / "stale" / path.name).write_text(json.dumps({"cells": [], "nbformat": 4}))
        collected = []
        for stem in GRADED:
            run = subprocess.run([*SCRIPT, "--course", str(course_dir), "--collect", stem,
                                  "--homes", f"{homes}/{{username}}"],
                                 capture_output=True, text=True, timeout=60)  # fmt: skip
            assert run.returncode == 0, run.stderr
            collected.append((run.stdout, run.stderr))
            out = course_dir / "submitted" / "released" / stem / f"{stem}.ipynb"
            out.parent.mkdir(parents=True)
            out.write_bytes((course_dir / "release" / stem / f"{stem}.ipynb").read_bytes())
            if stem == TAMPERED:
                tamper(course_dir / "release" / stem / f"{stem}.ipynb",
                       course_dir / "submitted" / "tamper" / stem / f"{stem}.ipynb")  # fmt: skip
            run = nbgrader(course_dir, "autograde", stem, "--create")
            assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        yield {"dir": course_dir, "state": state, "made": made.stdout, "collected": collected}
    finally:
        os.environ.pop("LABKIT_STATE_DIR", None)


STUDENTS = ("solution", "hub", "released")
TAMPERED = "04_offline_incident_review"


def tamper(release: Path, out: Path) -> None:
    """The release with a cell of the learner's after the feedback: `feedback` full marks."""
    nb = json.loads(release.read_text())
    at = next(i for i, c in enumerate(nb["cells"])
              if c["metadata"].get("nbgrader", {}).get("grade"))  # fmt: skip
    shortcut = {"cell_type": "code", "execution_count": None, "id": "shortcut", "metadata": {},
                "outputs": [], "source": "class Full:\n    points = 4.0\n\nfeedback = Full()"}  # fmt: skip
    nb["cells"].insert(at, shortcut)
    out.parent.mkdir(parents=True)
    out.write_text(json.dumps(nb))


@pytest.mark.live
@pytest.mark.timeout(900)  # the course's fixture: make assignments, collect, autograde
def test_make_assignments_releases_every_lesson_as_labkit_gives_it_to_learners(
    graded_course: dict[str, Any],
) -> None:
    """nbgrader's generate_assignment and labkit's student_version agree cell for cell, so
    `labkit lessons`, the hub and the wheel give learners what nbgrader would release."""
    course_dir = graded_course["dir"]
    assert "6 assignments, 18 points" in graded_course["made"]
    for path in lessons():
        released = json.loads((course_dir / "release" / path.stem / path.name).read_text())
        ours = course.student_version(json.loads(path.read_text()))
        assert [(c["cell_type"], text(c)) for c in released["cells"]] == [
            (c["cell_type"], text(c)) for c in ours["cells"]
        ], path.name
    for stem, said in zip(GRADED, graded_course["collected"], strict=True):
        assert f"collected {stem} from 2 learners (hub, solution)" in said[0]
        assert "none from nobody" in said[0]
        assert f"not collected from stale: their {stem}.ipynb lacks the exercise's" in said[1]
    submitted = graded_course["dir"] / "submitted"
    assert not (submitted / "stale").exists()
    stamp = (submitted / "hub" / GRADED[0] / "timestamp.txt").read_text()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} UTC", stamp), stamp
    config = (course_dir / "nbgrader_config.py").read_text()
    assert "labkit.course.skip_lab_cells" in config and course.STUB in config


@pytest.mark.live
@pytest.mark.timeout(900)  # the course's fixture: make assignments, collect, autograde
def test_autograde_gives_the_solutions_full_marks_and_an_empty_submission_zero(
    graded_course: dict[str, Any],
) -> None:
    from nbgrader.api import Gradebook

    db = f"sqlite:///{graded_course['dir'] / 'gradebook.db'}"
    with Gradebook(db) as gradebook:
        for stem in GRADED:
            full = gradebook.find_submission(stem, "solution")
            assert full.max_score > 0 and full.score == full.max_score, stem
            for empty in ("hub", "released"):
                assert gradebook.find_submission(stem, empty).score == 0.0, (stem, empty)
        # the points cell's hidden test grades the answer again: a made-up `feedback` gets 0
        assert gradebook.find_submission(TAMPERED, "tamper").score == 0.0


@pytest.mark.live
@pytest.mark.timeout(900)  # the course's fixture: make assignments, collect, autograde
def test_autograding_puts_the_hidden_tests_back_that_learners_never_see(
    graded_course: dict[str, Any],
) -> None:
    course_dir = graded_course["dir"]
    for stem in GRADED:
        for where in ("release", "autograded/hub", "autograded/solution"):
            cells = json.loads((course_dir / where / stem / f"{stem}.ipynb").read_text())["cells"]
            points = [text(c) for c in cells if c["metadata"].get("nbgrader", {}).get("grade")]
            hidden = ["graded again, as handed in" in p for p in points]
            assert points and hidden == [where != "release"] * len(points), (where, stem)


@pytest.mark.live
@pytest.mark.timeout(900)  # the course's fixture: make assignments, collect, autograde
def test_autograding_ran_every_cell_without_an_error_and_started_no_lab(
    graded_course: dict[str, Any],
) -> None:
    course_dir, state = graded_course["dir"], graded_course["state"]
    for stem in GRADED:
        for student in STUDENTS:
            path = course_dir / "autograded" / student / stem / f"{stem}.ipynb"
            cells = json.loads(path.read_text())["cells"]
            for i, cell in enumerate(cells):
                for out in cell.get("outputs", []):
                    bad = out["output_type"] == "error" or out.get("name") == "stderr"
                    assert not bad, f"{student}/{stem} cell {i}: {out}"
            skipped = sum(text(c) == course.SKIPPED for c in cells)
            assert (skipped > 0) == (stem in LIVE_LESSONS), (stem, skipped)
    assert not (state / "lab.json").exists(), "autograding started a lab"
    assert (state / "histories").is_dir()  # the recordings were graded, simulated there once


@pytest.mark.live
@pytest.mark.timeout(900)  # the course's fixture: make assignments, collect, autograde
def test_generate_feedback_shows_each_student_what_labkit_found(
    graded_course: dict[str, Any],
) -> None:
    course_dir = graded_course["dir"]
    run = nbgrader(course_dir, "generate_feedback", "05_alert_quality")
    assert run.returncode == 0, run.stderr[-3000:]
    pages = {s: (course_dir / "feedback" / s / "05_alert_quality" / "05_alert_quality.html")
             for s in ("solution", "hub")}  # fmt: skip
    solution, empty = (pages[s].read_text() for s in ("solution", "hub"))
    assert "Right" in solution and "Score: 4.0 / 4.0" in solution
    assert "Not answered yet" in empty and "Score: 0.0 / 4.0" in empty


@pytest.mark.parametrize(
    "args, says",
    [
        (
            ["--collect", "07_nope"],
            "--collect 07_nope: not a lesson; the lessons are 01_fleet_tour",
        ),
        (["--collect", "01_fleet_tour", "--homes", "/tmp"], "--homes /tmp: needs {username} once"),
    ],
)
def test_collect_refuses_what_it_cannot_collect(tmp_path: Path, args: list[str], says: str) -> None:
    run = subprocess.run([*SCRIPT, "--course", str(tmp_path / "c"), *args], capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    assert run.returncode == 2 and says in run.stderr and "Traceback" not in run.stderr
    nothing = subprocess.run([*SCRIPT, "--course", str(tmp_path / "c"), "--collect",
                              "01_fleet_tour", "--homes", f"{tmp_path}/none/{{username}}"],
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert (
        nothing.returncode == 1
        and "no 01_fleet_tour.ipynb to collect in any home" in nothing.stderr
    )


def test_make_assignments_without_nbgrader_says_how_to_get_it(tmp_path: Path) -> None:
    fake = tmp_path / "fake" / "nbgrader"  # an nbgrader that cannot be imported
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('no nbgrader here')\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "fake")}
    run = subprocess.run([*SCRIPT, "--course", str(tmp_path / "c")], capture_output=True,
                         text=True, env=env, timeout=120)  # fmt: skip
    assert run.returncode == 2
    assert "nbgrader is not installed" in run.stderr and "instructor" in run.stderr
    assert not (tmp_path / "c").exists()
