"""The lessons as a course: the learner's copy of a lesson; nbgrader autograding with no lab.

The lessons in notebooks/ are nbgrader *source* notebooks: each exercise's answer cell holds its
solution between `### BEGIN SOLUTION` and `### END SOLUTION`, the tests nbgrader hides from
learners sit between `### BEGIN HIDDEN TESTS` and `### END HIDDEN TESTS`. nbval runs them as they
are, so every solution is checked to get full marks. Learners get them without either:

    student_version(notebook)   -> the notebook a learner gets: each solution replaced by
                                   STUB, hidden tests removed, outputs cleared. The same cells
                                   nbgrader's `generate_assignment` writes (tests/test_course.py
                                   compares them), done here with no nbgrader, for `labkit
                                   lessons`, the hub, `make lab` and the wheel
    skip_lab_cells(nb, res)     -> an nbconvert preprocessor for `nbgrader autograde`: each cell
                                   tagged LAB_TAG (it needs a running lab) becomes a comment, so a
                                   submission is graded on recordings, with no lab to start

This module uses the standard library only: the wheel's build (setup.py) loads it by path.
"""

from __future__ import annotations

import copy
import json
from typing import Any

#: nbgrader's delimiters: a line containing one begins or ends a block (written `### BEGIN ...`).
BEGIN_SOLUTION = "BEGIN SOLUTION"
END_SOLUTION = "END SOLUTION"
BEGIN_HIDDEN = "BEGIN HIDDEN TESTS"
END_HIDDEN = "END HIDDEN TESTS"
#: What a solution becomes in the learner's copy (nbgrader's ClearSolutions.code_stub, the same).
STUB = "# your answer here"
TEXT_STUB = "YOUR ANSWER HERE"  # a written (Markdown) solution, nbgrader's text_stub
#: A code cell with this tag needs the running lab (Lab.open(), live queries, injections).
LAB_TAG = "lab"
#: What a LAB_TAG cell runs when a submission is autograded.
SKIPPED = "# needs a running lab: not run when autograding (the exercises grade recordings)"


def _text(source: str | list[str]) -> str:
    return source if isinstance(source, str) else "".join(source)


def _cut(text: str, begin: str, end: str, stub: str | None) -> str:
    """`text` with each block from a `begin` line to its `end` line replaced by `stub` (at the
    begin line's indentation), or dropped when `stub` is None, as nbgrader does. An unclosed
    block is an error: the learner would get the rest of the cell, a solution perhaps."""
    out: list[str] = []
    inside = False
    for line in text.split("\n"):
        if begin in line:
            if inside:
                raise ValueError(f"{begin!r} twice without {end!r}")
            inside = True
            if stub is not None:
                indent = line[: len(line) - len(line.lstrip())]
                out.extend(indent + s for s in stub.split("\n"))
        elif end in line:
            if not inside:
                raise ValueError(f"{end!r} without {begin!r}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{begin!r} without {end!r}")
    return "\n".join(out)


def _nbgrader(cell: dict[str, Any]) -> dict[str, Any]:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def _cell_id(cell: dict[str, Any], index: int) -> str:
    grade_id = _nbgrader(cell).get("grade_id")
    return f"cell {index}" + (f" ({grade_id})" if grade_id else "")


def student_version(notebook: dict[str, Any]) -> dict[str, Any]:
    """A copy of `notebook` (nbformat 4, as JSON) as a learner gets it. ValueError names the
    cell whose markers do not pair up."""
    nb = copy.deepcopy(notebook)
    for index, cell in enumerate(nb.get("cells", [])):
        text = _text(cell.get("source", ""))
        stub = STUB if cell.get("cell_type") == "code" else TEXT_STUB
        try:
            if BEGIN_SOLUTION in text or END_SOLUTION in text:
                text = _cut(text, BEGIN_SOLUTION, END_SOLUTION, stub)
            elif _nbgrader(cell).get("solution"):
                text = stub  # a solution cell without markers: all of it is the solution
            if BEGIN_HIDDEN in text or END_HIDDEN in text:
                text = _cut(text, BEGIN_HIDDEN, END_HIDDEN, None)
        except ValueError as exc:
            raise ValueError(f"{_cell_id(cell, index)}: {exc}") from None
        cell["source"] = text.splitlines(keepends=True)  # as JupyterLab writes it
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    return nb


def student_text(source: str) -> str:
    """A lesson file's text (JSON) as a learner gets it, written as JupyterLab writes it."""
    return json.dumps(student_version(json.loads(source)), indent=1, ensure_ascii=False) + "\n"


def skip_lab_cells(nb: Any, resources: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """nbconvert preprocessor (a function is one): LAB_TAG cells become SKIPPED."""
    for cell in nb["cells"]:
        if cell.get("cell_type") == "code" and LAB_TAG in cell.get("metadata", {}).get("tags", []):
            cell["source"] = SKIPPED
            cell["outputs"] = []
    return nb, resources
