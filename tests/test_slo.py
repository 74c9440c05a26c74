"""SLO maths: the SRE Workbook's table, the alert timing, errors, and properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labkit import slo
from labkit.errors import InvalidInput

objectives = st.floats(min_value=0.5, max_value=0.99999, allow_nan=False)
ratios = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


def test_the_workbook_table_for_99_9_over_30_days() -> None:
    table = slo.workbook_table(0.999, 30 * slo.DAY)
    got = [(r["severity"], r["long_window_seconds"] / 3600, r["short_window_seconds"] / 60,
            r["burn_rate_factor"], r["budget_consumed"]) for r in table]  # fmt: skip
    expected = [("page", 1, 5, 14.4, 0.02), ("page", 6, 30, 6.0, 0.05),
                ("ticket", 24, 120, 3.0, 0.10), ("ticket", 72, 360, 1.0, 0.10)]  # fmt: skip
    for (sev, long_h, short_m, factor, consumed), want in zip(got, expected, strict=True):
        assert (sev, long_h, short_m, factor) == want[:4]
        assert consumed == pytest.approx(want[4], rel=1e-9)


def test_an_hour_at_14_4x_spends_2_percent_and_empties_the_budget_in_50_hours() -> None:
    assert slo.burn_rate(0.0144, 0.999) == pytest.approx(14.4)
    assert slo.budget_consumed(0.0144, slo.HOUR, 0.999, 30 * slo.DAY) == pytest.approx(0.02)
    assert slo.time_to_exhaustion(0.0144, 0.999, 30 * slo.DAY) == pytest.approx(50 * slo.HOUR)
    assert slo.time_to_exhaustion(0.0, 0.999, 30 * slo.DAY) == math.inf


def test_detection_time_of_the_fast_page() -> None:
    page = slo.WORKBOOK_ALERTS[0]
    # all requests failing: 14.4 x 0.001 of an hour = 51.84 s
    assert page.detection_seconds(1.0, 0.999) == pytest.approx(51.84)
    assert page.detection_seconds(0.0144, 0.999) == math.inf  # exactly at the threshold: never
    assert page.fires_at(0.0145, 0.999) and not page.fires_at(0.0144, 0.999)


def test_a_percentage_gets_the_hint_and_bad_windows_are_named() -> None:
    with pytest.raises(
        InvalidInput,
        match=r"objective must be a ratio between 0 and 1.*got 99\.9\. Did you mean 0\.999\?",
    ):
        slo.error_budget(99.9)
    with pytest.raises(InvalidInput, match="objective"):
        slo.error_budget(1.0)
    with pytest.raises(InvalidInput, match="short_seconds"):
        slo.BurnRateAlert(14.4, 300, 3600)
    with pytest.raises(InvalidInput, match="error_ratio"):
        slo.burn_rate(1.5, 0.999)


@given(objectives)
def test_burn_rate_is_one_when_errors_spend_exactly_the_budget(objective: float) -> None:
    assert slo.burn_rate(1 - objective, objective) == pytest.approx(1.0, rel=1e-12)


@given(objectives, ratios, ratios)
def test_burn_rate_grows_with_the_error_ratio(objective: float, a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    assert slo.burn_rate(lo, objective) <= slo.burn_rate(hi, objective)


@given(
    objectives, ratios, st.floats(min_value=1, max_value=1e7), st.floats(min_value=1, max_value=1e8)
)
def test_remaining_budget_never_exceeds_one(
    objective: float, ratio: float, window: float, period: float
) -> None:
    consumed = slo.budget_consumed(ratio, window, objective, period)
    assert consumed >= 0 and slo.budget_remaining(consumed) <= 1


@given(objectives, st.floats(min_value=1e-4, max_value=1.0))
def test_budget_spent_before_a_burn_rate_alert_does_not_depend_on_the_error_ratio(
    objective: float, ratio: float
) -> None:
    for alert in slo.WORKBOOK_ALERTS:
        spent = alert.budget_spent_before_firing(ratio, objective, 30 * slo.DAY)
        if alert.fires_at(ratio, objective):
            assert spent == pytest.approx(
                alert.factor * alert.long_seconds / (30 * slo.DAY), rel=1e-9
            )
            assert alert.detection_seconds(ratio, objective) <= alert.long_seconds
        else:
            assert math.isinf(spent)


@pytest.mark.parametrize(
    ("remaining", "words"),
    [(0.625, "62.5 % left"), (1.0, "100.0 % left"), (0.0, "all spent"), (-0.02, "all spent"),
     (-4.333, "spent 5.3x its budget"), (-28.8, "spent 29.8x its budget")],
)  # fmt: skip
def test_budget_words_say_overspent_not_negative_left(remaining: float, words: str) -> None:
    assert slo.budget_words(remaining) == words


def test_budget_words_refuse_nan() -> None:
    with pytest.raises(InvalidInput, match="remaining"):
        slo.budget_words(float("nan"))
