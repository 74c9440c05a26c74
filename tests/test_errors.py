"""One exception tree (issue 14): every exception labkit defines lives in labkit/errors.py, and
that module's docstring draws the whole tree, each class under its parent with its other bases.
A private exception (leading underscore) may stay in its module when it never leaves it; the
docstring names it too."""

from __future__ import annotations

import importlib
import pkgutil
import re

import pytest

import labkit
from labkit import errors


# Defined in labkit/stack.py until the work on stack.py moves them; drawn in the tree already.
def labkit_exceptions() -> dict[str, type[BaseException]]:
    """Every exception class defined in labkit, by its qualified name: each module imported
    (they are all importable without side effects), its classes read."""
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(labkit.__path__, "labkit."):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, BaseException)
                and value.__module__.startswith("labkit")
            ):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return found


TREE_LINE = re.compile(r"^(?P<indent>(?:│   |    )*)(?P<branch>├── |└── )?(?P<name>\w+)"
                       r"(?: \((?P<bases>[\w, ]+)\))?(?:\s|$)")  # fmt: skip


def drawn_tree(doc: str, names: set[str]) -> dict[str, tuple[int, list[str]]]:
    """The docstring's tree: each drawn class's depth and the other bases shown beside it."""
    drawn: dict[str, tuple[int, list[str]]] = {}
    for line in doc.splitlines():
        match = TREE_LINE.match(line)
        if match and match["name"] in names:
            bases = [b.strip() for b in (match["bases"] or "").split(",") if b.strip()]
            depth = len(match["indent"]) // 4 + (1 if match["branch"] else 0)
            drawn[match["name"]] = (depth, bases)
    return drawn


def test_the_walk_finds_exceptions_outside_errors_py() -> None:
    found = labkit_exceptions()
    assert "labkit.errors.InvalidInput" in found
    assert "labkit.promjson._Unexpected" in found  # defined elsewhere, and seen


def test_every_exception_is_defined_in_labkit_errors() -> None:
    elsewhere = [
        name
        for name, cls in labkit_exceptions().items()
        if cls.__module__ != "labkit.errors" and not cls.__name__.startswith("_")
    ]
    assert not elsewhere, f"move these to labkit/errors.py (and re-export them): {elsewhere}"


def test_the_docstring_draws_every_exception_under_its_parent() -> None:
    doc = errors.__doc__ or ""
    public = {c.__name__: c for c in labkit_exceptions().values() if not c.__name__.startswith("_")}
    drawn = drawn_tree(doc, set(public))
    assert sorted(drawn) == sorted(public), "classes missing from errors.py's docstring tree"
    for name, cls in public.items():
        depth, shown_bases = drawn[name]
        labkit_bases = [b for b in cls.__bases__ if b.__module__.startswith("labkit")]
        other_bases = [b.__name__ for b in cls.__bases__ if b not in labkit_bases]
        if name == "LabkitError":
            assert (depth, shown_bases, cls.__bases__) == (0, [], (Exception,))
            continue
        assert shown_bases == other_bases, f"{name}: the tree shows bases {shown_bases}"
        assert len(labkit_bases) == 1, f"{name} has {labkit_bases}"
        parent_depth, _ = drawn[labkit_bases[0].__name__]
        assert depth == parent_depth + 1, f"{name} is not drawn under {labkit_bases[0].__name__}"
        assert issubclass(cls, errors.LabkitError)


def test_private_exceptions_are_named_in_the_docstring() -> None:
    doc = errors.__doc__ or ""
    private = [n for n, c in labkit_exceptions().items() if c.__name__.startswith("_")]
    assert private, "none left: drop this test's half of the docstring"
    for name in private:
        module, _, cls = name.rpartition(".")
        assert f"{module}.{cls}" in doc, f"{name} is private: say in errors.py why it stays"


@pytest.mark.parametrize(
    ("module", "names"),
    [
        ("labkit.query", ["QueryError", "PrometheusUnreachable", "QueryTimeout"]),
        ("labkit.scenario", ["ScenarioError"]),
        ("labkit.dashboard_view", ["QueryRefused"]),
    ],
)
def test_moved_exceptions_still_import_from_their_old_module(module: str, names: list[str]) -> None:
    for name in names:
        assert getattr(importlib.import_module(module), name) is getattr(errors, name)
