"""Recomputing the availability SLI from raw counters with pandas, beside the recording rule."""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
import pytest

from labkit.errors import InvalidInput
from labkit.query import Prom
from labkit.slo_check import counter_increase, recompute


@pytest.mark.parametrize(
    ("samples", "increase"),
    [([5, 7, 10], 5), ([5], 0), ([10, 12, 3, 4], 2 + 3 + 1), ([0, 0, 0], 0)],
)
def test_counter_increase_handles_resets(samples: list[float], increase: float) -> None:
    assert counter_increase(pd.Series(samples, dtype=float)) == increase


def test_a_percentage_objective_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"Did you mean 0\.999"):
        recompute(None, objective=99.9)  # type: ignore[arg-type]


@pytest.mark.live
@pytest.mark.timeout(120)
def test_pandas_and_the_recording_rule_agree_under_an_error_burst(shared_lab: Any) -> None:
    shared_lab.inject(6, "error_burst", 60)
    try:
        time.sleep(15)  # a few recorded points of the 10 s window
        table = recompute(Prom(shared_lab.prometheus_url), window="10s")
    finally:
        shared_lab.recover(6)
    burst = table.loc[6]
    assert 0.15 <= burst["pandas_error_ratio"] <= 0.55
    assert burst["recorded_error_ratio"] == pytest.approx(burst["pandas_error_ratio"], rel=0.35)
    assert burst["pandas_budget_remaining"] < 0  # 20-50 % errors overspend a 0.1 % budget
    assert "600 s" in burst["why_they_differ"]
    calm = table.drop(index=6)
    assert (calm["pandas_error_ratio"] < 0.01).all()
    assert set(table.columns) >= {"requests", "recorded_budget_remaining", "node_budget_remaining"}


def test_the_node_budget_note_is_said_only_where_the_two_budgets_disagree() -> None:
    from labkit.slo_check import _node_note

    assert _node_note(0.97, 0.95, 0) == ""  # at rest: nothing to explain
    assert "earlier burst" in _node_note(1.0, -3.2, 0)  # no errors now, an overspent gauge
    assert "600 s" in _node_note(-299.0, -6.5, 42)  # a burst: two windows, two figures
    assert _node_note(0.9, float("nan"), 0) == ""
