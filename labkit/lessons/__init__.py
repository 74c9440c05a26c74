"""The lessons' helpers: what notebooks/ uses to teach, apart from labkit's core.

    tour        lesson 1: a walk through the fleet, two nodes broken at rest
    panel       lesson 2: the control panel's logic (plain functions, no widgets)
    panel_html  the control panel's parts as HTML
    widgets     the control panel as ipywidgets (ControlPanel)
    drills      lesson 2: predict, inject, watch the alerts, check the prediction
    grading     the graders' Feedback (points, findings, HTML) and the pure graders of alert
                rules replayed over a recording and of query results
    burn        lesson 3: error-budget figures and tables, SLO alerts against theory (the lab)
    burn_theory lesson 3's maths: theory, the comparison table, the grader (no I/O)
    review      lessons 4 and 5: an offline incident review and alert scoring
    silencing   lesson 6: silences and routes checked, the noisy alert fired and unsilenced

Nothing in labkit outside this package imports it (tests/test_layers.py checks): the core
(nodes, the lab, queries, SLO maths, recordings, scoring) stands without the lessons. The
modules above are this package's `__all__`: a notebook imports them, `from labkit.lessons import
review`, and calls their functions through them (`review.symptoms(prom, info)`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from labkit.lessons import (
        burn,
        burn_theory,
        drills,
        grading,
        panel,
        panel_html,
        review,
        silencing,
        tour,
        widgets,
    )

__all__ = [
    "burn",
    "burn_theory",
    "drills",
    "grading",
    "panel",
    "panel_html",
    "review",
    "silencing",
    "tour",
    "widgets",
]


def __getattr__(name: str) -> Any:
    """A lesson's module, imported on first use (PEP 562): `labkit.lessons.review` works
    after `import labkit.lessons` alone."""
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{name}")
    globals()[name] = module
    return module


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
