#!/usr/bin/env python3
"""deploy/kubernetes/ checked offline, as the tools that install it check it (`make k8s-check`).

    .venv/bin/python scripts/check_kubernetes.py [VALUES.yaml ...]

1. Zero to JupyterHub's values: the files given (default deploy/kubernetes/values.yaml; a
   secrets file after it, as `helm --values A --values B` takes them) merged over the chart's
   own values.yaml as Helm merges them (maps merged key by key, anything else replaced, a
   null deletes the key), the result validated against the chart's values.schema.yaml (both
   in tests/data/zero-to-jupyterhub). Each problem names its path, and its file and line:
   "values.yaml: line 52: singleuser.cpu: 'gurantee' is not allowed; did you mean
   'guarantee'?"
2. Every other manifest in deploy/kubernetes/: `kubernetes-validate --strict` (schemas in the
   package, no cluster, no network), which refuses an unknown field too.

No cluster and no network: what Helm and the API server would refuse for a field's name,
type or value; not whether a cluster can run it. Exit codes: 0 all good, 1 problems (each on
a line), 2 a file that cannot be read.
"""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import yaml

from labkit import yamldoc
from labkit.errors import DocumentError

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy" / "kubernetes"
VALUES = DEPLOY / "values.yaml"
CHART = ROOT / "tests" / "data" / "zero-to-jupyterhub"  # the chart's values and schema
KUBERNETES_VALIDATE = str(Path(sys.executable).with_name("kubernetes-validate"))
_NAME = re.compile(r"[A-Za-z_][\w-]*")


def helm_merge(defaults: Any, values: Any) -> Any:
    """`values` over `defaults` as Helm merges a values file over a chart's: maps key by key
    (recursively), any other value (a list, a scalar) replaces the default, and a null
    deletes the key. Neither argument is changed."""
    if not isinstance(values, dict):
        return copy.deepcopy(values)
    merged = copy.deepcopy(defaults) if isinstance(defaults, dict) else {}
    for key, value in values.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = helm_merge(merged.get(key), value)
    return merged


def dotted(path: Iterable[str | int]) -> str:
    """A path into the values as Helm's --set writes it: singleuser.cpu.limit, a list item
    as [0], a key that is not a plain name in brackets (extraLabels["hub.jupyter.org/x"])."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _NAME.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out or "(the top level)"


@dataclass(frozen=True)
class Problem:
    """Where the values break the schema (`path`), why (`sentence`), and the path whose line
    to show (`at`: the unknown key itself, for an unknown key)."""

    path: tuple[str | int, ...]
    sentence: str
    at: tuple[str | int, ...]


def schema_problems(values: Any, schema: dict[str, Any]) -> list[Problem]:
    """Every place `values` breaks `schema` (by its own $schema draft), in path order; an
    unknown key is named with the nearest known one."""
    validator = jsonschema.validators.validator_for(schema)(schema)
    found = []
    for error in validator.iter_errors(values):
        path = tuple(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            found += [Problem(path, sentence, (*path, key))
                      for key, sentence in unknown_keys(error.instance, error.schema)]  # fmt: skip
        elif error.validator == "required" and isinstance(error.instance, dict):
            found += [Problem(path, f"{key!r} is required", (*path, key))
                      for key in error.validator_value if key not in error.instance]  # fmt: skip
        else:
            found.append(Problem(path, error.message, path))
    return sorted(found, key=lambda p: ([str(part) for part in p.at], p.sentence))


def unknown_keys(instance: dict[str, Any], schema: dict[str, Any]) -> list[tuple[str, str]]:
    """(key, sentence) for each key of `instance` that `schema` neither names nor matches."""
    known = list(schema.get("properties", {}))
    patterns = list(schema.get("patternProperties", {}))
    found = []
    for key in instance:
        if key in known or any(re.search(p, key) for p in patterns):
            continue
        near = yamldoc.nearest_key(key, known)
        hint = f"did you mean {near!r}?" if near else "allowed: " + ", ".join(sorted(known))
        found.append((key, f"{key!r} is not allowed; {hint}"))
    return found


def line_in(document: Any, path: Sequence[str | int]) -> int | None:
    """The line of the deepest key or item of `path` in a file labkit.yamldoc built, or None
    when the file does not reach into the path at all."""
    line = None
    node = document
    for part in path:
        if isinstance(node, dict) and part in node:
            line = yamldoc.line_of(node, str(part))
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            line = node.item_lines[part] if isinstance(node, yamldoc.Sequence) else line
        else:
            break
        node = node[part]
    return line


def check_values(files: Sequence[Path], chart: Path = CHART) -> list[str]:
    """The problems of `files` merged in order over the chart's defaults; [] when none.
    Raises DocumentError for a file that is not a YAML mapping labkit will read."""
    defaults = yaml.safe_load((chart / "values.yaml").read_text(encoding="utf-8"))
    schema = yaml.safe_load((chart / "values.schema.yaml").read_text(encoding="utf-8"))
    documents = []
    merged = defaults
    for path in files:
        document = yamldoc.load(path.read_bytes(), str(path))
        if document is None:
            continue
        if not isinstance(document, dict):
            raise DocumentError(str(path), 1, "is not a mapping of values (key: value)")
        documents.append((path, document))
        merged = helm_merge(merged, document)
    problems = []
    for problem in schema_problems(merged, schema):
        source = next(((p, line) for p, doc in reversed(documents)
                       if (line := line_in(doc, problem.at)) is not None), None)  # fmt: skip
        place = f"{shown(source[0])}: line {source[1]}: " if source else "the chart's defaults: "
        problems.append(f"{place}{dotted(problem.path)}: {problem.sentence}")
    return problems


def shown(path: Path) -> str:
    """`path` relative to the working folder when it is in it (the defaults are absolute)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def manifests(folder: Path = DEPLOY) -> list[Path]:
    """The plain Kubernetes manifests: every YAML file but the chart's values."""
    return sorted(p for p in folder.glob("*.yaml") if p.name != VALUES.name)


def check_manifests(paths: Sequence[Path]) -> list[str]:
    """`kubernetes-validate --strict` on `paths`: its complaints, [] when it accepts them."""
    if not paths:
        return []
    try:
        run = subprocess.run([KUBERNETES_VALIDATE, "--strict", "--quiet", *map(str, paths)],
                             capture_output=True, text=True, timeout=120)  # fmt: skip
    except OSError as exc:
        return [f"kubernetes-validate could not be run ({exc.strerror or exc}): it comes with "
                "the dev extra (`make k8s-check` installs it)"]  # fmt: skip
    if run.returncode == 0:
        return []
    said = [line for line in (run.stdout + run.stderr).splitlines() if line.strip()]
    return said or [f"kubernetes-validate exited {run.returncode}"]


def main(argv: list[str] | None = None) -> int:
    files = [Path(a) for a in (sys.argv[1:] if argv is None else argv)] or [VALUES]
    try:
        problems = check_values(files)
    except (DocumentError, OSError) as exc:
        print(f"check_kubernetes: {exc}", file=sys.stderr)
        return 2
    problems += check_manifests(manifests())
    for problem in problems:
        print(problem)
    checked = ", ".join(shown(p) for p in [*files, *manifests()])
    count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
    print(f"{count} in {checked}" if problems else f"ok: {checked}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
