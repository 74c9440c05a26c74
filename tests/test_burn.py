"""Lesson 3's grader and theory (the live comparison runs in lesson 3 under nbval)."""

from __future__ import annotations

import math

import pytest

from labkit.lessons.burn import grade_burn_rate, theoretical
from labkit.slo_spec import profile


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (20, "Right"),
        (20.2, "Right"),
        (None, "Not answered yet"),
        ("20", "should be a number"),
        (0.02 / 0.999, "divided by the objective"),
        (0.05, "Upside down"),
        (2000, "Off by 100"),
        (7, "Not quite"),
    ],
)
def test_the_grader_says_what_is_wrong(answer: object, words: str) -> None:
    assert words in grade_burn_rate(answer, error_ratio=0.02, objective=0.999)  # type: ignore[arg-type]


def test_theory_for_the_lab_day_page_at_30_percent_errors() -> None:
    seconds, spent = theoretical("page", 0.3, 0.999, profile("lab-day"))
    assert seconds == pytest.approx(120 * 0.0144 / 0.3)  # the 2 m window, scaled from 1 h
    assert spent == pytest.approx(0.02)  # 14.4 x 1 h / 30 days, as in the Workbook
    assert theoretical("page", 0.001, 0.999, profile("lab-day")) == (math.inf, math.inf)
