"""How the package hangs together (issue 14): no import cycle anywhere in labkit, the lessons'
helpers (labkit/lessons/) above the core and never imported by it, each seed alert named in one
module only, and reading a recording or talking to a lab without loading the numpy simulator."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "labkit"


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _type_only(tree: ast.AST) -> set[int]:
    """The nodes under `if TYPE_CHECKING:`: imports for annotations, which never run."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            inside |= {id(n) for n in ast.walk(node)}
    return inside


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The labkit modules `name` imports when it runs: at the top and inside functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_only(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            # `from labkit import replay` imports the module labkit.replay
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                       for a in node.names]  # fmt: skip
        else:
            continue
        for target in targets:
            while target and target not in known:  # labkit.x.y where y is a name in labkit.x
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle_through_a_function_level_import(tmp_path: Path) -> None:
    pkg = tmp_path / "labkit"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from labkit.b import f\n")
    (pkg / "b.py").write_text("def f():\n    from labkit import a\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                              "    from labkit import a\n")  # fmt: skip
    known = {"labkit": pkg / "__init__.py", **{f"labkit.{m}": pkg / f"{m}.py" for m in "abc"}}
    edges = {name: imports(name, path, known) for name, path in known.items()}
    assert edges["labkit.b"] == {"labkit.a"} and edges["labkit.c"] == set()
    assert cycles(edges) == [["labkit.a", "labkit.b"]]


def test_no_import_cycle_in_labkit() -> None:
    edges = graph()
    assert len(edges) > 50  # the whole package was read
    found = cycles(edges)
    described = [
        " -> ".join(f"{m} (imports {sorted(edges[m] & set(c))})" for m in c) for c in found
    ]
    assert not found, "import cycles:\n" + "\n".join(described)


def documented_layers() -> dict[str, int]:
    """module -> layer, from the tables of docs/ARCHITECTURE.md's "Layers" section (the
    lessons' package is the layer above the last numbered one)."""
    text = (REPO / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    section = text.split("\n## Layers\n", 1)[1].split("\n## ", 1)[0]
    layers: dict[str, int] = {}
    layer, lessons = 0, False
    for line in section.splitlines():
        heading = re.match(r"### (\d+)\.", line)
        if heading:
            layer = int(heading.group(1))
        elif line.startswith("### On top"):
            layer += 1
            lessons = True
            continue
        cell = re.match(r"\| `([\w/.]+\.py)` \|", line)
        if cell and layer:
            path = cell.group(1)
            if lessons:  # that table names its modules without the folder
                path = f"labkit/lessons/{path}"
            name = path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
            assert name not in layers, f"{name} is in two layers of ARCHITECTURE.md"
            layers[name] = layer
    return layers


def test_every_module_is_in_one_documented_layer_and_imports_nothing_above_it() -> None:
    edges = graph()
    layers = documented_layers()
    layers.setdefault("labkit.lessons", max(layers.values()))  # the package's own __init__
    assert sorted(set(edges) - set(layers)) == [], "modules missing from ARCHITECTURE.md"
    assert sorted(set(layers) - set(edges)) == [], "ARCHITECTURE.md lists modules that are gone"
    upward = sorted(f"{m} (layer {layers[m]}) imports {t} (layer {layers[t]})"
                    for m, targets in edges.items() for t in targets
                    if layers[t] > layers[m])  # fmt: skip
    assert not upward, "imports from a higher layer:\n" + "\n".join(upward)


def test_nothing_outside_the_lessons_imports_them() -> None:
    edges = graph()
    lessons = {m for m in edges if m == "labkit.lessons" or m.startswith("labkit.lessons.")}
    assert {"labkit.lessons.panel", "labkit.lessons.burn", "labkit.lessons.review"} <= lessons
    wrong = {m: sorted(t & lessons) for m, t in edges.items() if m not in lessons and t & lessons}
    assert not wrong, f"core modules importing lesson helpers: {wrong}"


def test_each_seed_alert_is_named_in_one_module_only() -> None:
    rules = yaml.safe_load((REPO / "prometheus" / "rules" / "alerts.yml").read_text())
    names = [r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r]
    assert len(names) == 7
    files = [p for p in sorted(PACKAGE.rglob("*")) if p.suffix in (".py", ".ipynb")]
    for name in names:
        word = re.compile(rf"\b{name}\b")
        where = [str(p.relative_to(REPO)) for p in files if word.search(p.read_text("utf-8"))]
        assert where == ["labkit/alerts.py"], f"{name} is named in {where}"


@pytest.mark.parametrize(
    "module", ["labkit.lab", "labkit.replay", "labkit.recording", "labkit.processes"]
)
def test_importing_it_does_not_load_numpy(module: str) -> None:
    code = f"import sys, {module}; print('numpy' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False", f"import {module} loads numpy"


def test_the_recording_format_has_a_module_of_its_own() -> None:
    from labkit import history, recording

    assert history.HistoryInfo is recording.HistoryInfo  # the simulator writes that format
    assert "labkit.history" not in Path(recording.__file__).read_text()
    assert not hasattr(history, "ensure")  # the lessons' cache is theirs (labkit.lessons.review)


def test_processes_stand_below_the_lab_and_the_replay() -> None:
    """Stack and replay use labkit.processes, not the other way round; nor does it load the
    fleet (the holder of a taken port is looked up only when one is)."""
    code = "import json, sys, labkit.processes; print(json.dumps(sorted(sys.modules)))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    loaded = set(json.loads(r.stdout))
    assert "labkit.processes" in loaded
    assert not loaded & {"labkit.stack", "labkit.replay", "labkit.lab", "labkit.fleet"}
