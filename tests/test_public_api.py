"""labkit's public API (issue 14): `labkit.__all__` and `labkit.lessons.__all__` name what a
notebook or a script imports, each name resolves, `import labkit` stays light, and the lessons
import nothing else from labkit.

The rule covers the lessons in notebooks/. The lab's own pages (labkit/pages/*.ipynb) are left
out: they ship inside the package and are part of it, as its modules are (two cells over
labkit.pages.view, which tests/test_dashboard_view.py checks), not a learner's code."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import labkit
import labkit.lessons
from tests.conftest import REPO

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
PUBLIC = {"labkit": set(labkit.__all__), "labkit.lessons": set(labkit.lessons.__all__)}


def run(code: str) -> str:
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       cwd=REPO)  # fmt: skip
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_every_public_name_resolves_in_a_fresh_interpreter() -> None:
    out = run(
        "import labkit, labkit.lessons\n"
        "for package in (labkit, labkit.lessons):\n"
        "    for name in package.__all__:\n"
        "        assert getattr(package, name) is not None, name\n"
        "    assert set(package.__all__) <= set(dir(package))\n"
        "print('ok')"
    )
    assert out == "ok"


def test_all_lists_each_name_once_and_nothing_else_resolves_lazily() -> None:
    for names in (labkit.__all__, labkit.lessons.__all__):
        assert len(names) == len(set(names))
    assert set(labkit.__all__) == set(labkit._HOME) | set(labkit._MODULES)
    with pytest.raises(AttributeError, match="no attribute 'tour'"):
        labkit.__getattr__("tour")  # a lesson's helper is labkit.lessons.tour


def test_every_exception_in_labkit_errors_is_public() -> None:
    from labkit import errors

    defined = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, BaseException)
        and value.__module__ == "labkit.errors" and not name.startswith("_")
    }  # fmt: skip
    assert defined <= PUBLIC["labkit"], f"add to labkit.__all__: {defined - PUBLIC['labkit']}"


def test_importing_labkit_loads_no_numpy_pandas_or_plotly() -> None:
    heavy = ("numpy", "pandas", "plotly", "ipywidgets")
    code = f"import sys, labkit, labkit.lessons; print([m for m in {heavy!r} if m in sys.modules])"
    assert run(code) == "[]"


def code_cells(path: Path) -> list[tuple[int, str]]:
    """Each code cell's source without IPython's magics and shell lines (% and !)."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    return [
        (i, "\n".join(line for line in "".join(cell["source"]).splitlines()
                      if not line.lstrip().startswith(("%", "!"))))
        for i, cell in enumerate(notebook["cells"])
        if cell["cell_type"] == "code"
    ]  # fmt: skip


def private_imports(source: str) -> list[str]:
    """The imports of labkit names outside the public API, as written."""
    wrong = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            wrong += [f"import {a.name}" for a in node.names
                      if a.name.startswith("labkit.")]  # fmt: skip
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "labkit":
            public = PUBLIC.get(node.module or "", set())
            wrong += [f"from {node.module} import {a.name}" for a in node.names
                      if a.name not in public]  # fmt: skip
    return wrong


def test_the_import_check_finds_private_imports() -> None:
    source = (
        "import pandas as pd\nimport labkit\nfrom labkit import Lab, plots\n"
        "from labkit.lessons import review\nfrom labkit.query import Prom\n"
        "import labkit.stack\nfrom labkit.lessons.burn import compare_alerts\nfrom labkit import *"
    )
    assert private_imports(source) == [
        "from labkit.query import Prom",
        "import labkit.stack",
        "from labkit.lessons.burn import compare_alerts",
        "from labkit import *",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_a_lesson_imports_only_public_names(path: Path) -> None:
    cells = code_cells(path)
    assert any("from labkit import" in source for _, source in cells)
    wrong = {i: found for i, source in cells if (found := private_imports(source))}
    assert not wrong, f"{path.name}: imports outside labkit.__all__ and labkit.lessons.__all__ " \
                      f"(by cell): {wrong}"  # fmt: skip
