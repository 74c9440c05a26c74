"""Lesson 1's drill picks nodes at rest, so a rerun does not land on the first run's alerts.
A stand-in lab answers the three PromQL queries (no Prometheus needed for the choice itself;
the lesson runs twice against the real lab in tests/test_notebooks.py)."""

from __future__ import annotations

from typing import Any

import pytest

from labkit.errors import LabkitError
from labkit.lessons import tour


class Fleet:
    def __init__(self, n: int) -> None:
        self.n = n

    def node_ids(self, nodes: Any) -> list[int]:
        return list(range(1, self.n + 1))


class StandInLab:
    def __init__(self, n: int, busy: dict[str, list[int]]) -> None:
        self.fleet = Fleet(n)
        self.busy = busy
        self.injected: list[tuple[int, str, float]] = []

    def query(self, promql: str) -> list[dict[str, Any]]:
        return [{"metric": {"node": str(n)}} for n in self.busy.get(promql, [])]

    def inject(self, node: int, failure: str, seconds: float) -> None:
        self.injected.append((node, failure, seconds))


def test_a_fresh_lab_gets_nodes_2_and_4() -> None:
    lab = StandInLab(12, {})
    drill = tour.break_two(lab, seconds=15)  # type: ignore[arg-type]
    assert (drill.cpu_node, drill.error_node) == (2, 4)
    assert lab.injected == [(2, "cpu_spike", 15), (4, "error_burst", 15)]


def test_a_rerun_steps_around_nodes_with_alerts_faults_or_a_spent_budget() -> None:
    lab = StandInLab(6, {"ALERTS": [4], "error_budget_remaining < 0.9": [1, 4],
                         "labkit_fault_active == 1": [3]})  # fmt: skip
    drill = tour.break_two(lab)  # type: ignore[arg-type]
    assert (drill.cpu_node, drill.error_node) == (2, 5)
    assert "node 2" in str(drill) and "node 5" in str(drill) and "UTC" in str(drill)


def test_no_node_at_rest_is_said_with_what_to_do() -> None:
    lab = StandInLab(2, {"ALERTS": [1, 2]})
    with pytest.raises(LabkitError, match="recover"):
        tour.break_two(lab)  # type: ignore[arg-type]
    assert lab.injected == []
