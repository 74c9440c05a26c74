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


# -- the fleet at rest, on any run ------------------------------------------------------------

NOW = 1_800_000_000.0
WIDTH = 300.0


def test_a_fresh_lab_is_quiet_over_its_last_minutes() -> None:
    window = tour.quiet_in([], NOW, WIDTH, origin=NOW - 86400, step=15)
    assert (window.start, window.end, window.quiet) == (NOW - WIDTH, NOW, True)
    young = tour.quiet_in([], NOW, WIDTH, origin=NOW - 60, step=15)  # no past, a minute old
    assert (young.end, young.quiet) == (NOW, True)


def test_a_rerun_steps_back_before_the_faults_and_their_margin() -> None:
    # a first run's drill: faults seen from NOW-120 to NOW-90; the window must end before
    busy = [NOW - 120 + 15 * k for k in range(3)]
    window = tour.quiet_in(busy, NOW, WIDTH, origin=NOW - 86400, step=15)
    assert window.quiet and window.end == NOW - 120 - 15 and window.end - window.start == WIDTH
    # an older fault inside that window and its margin pushes it back once more
    older = tour.quiet_in([*busy, NOW - 300], NOW, WIDTH, origin=NOW - 86400, step=15)
    assert older.end == NOW - 315
    # an older one further back than the margin does not
    clear = NOW - 135 - WIDTH - tour.QUIET_MARGIN - 1
    assert tour.quiet_in([*busy, clear], NOW, WIDTH, origin=NOW - 86400, step=15) == window


def test_a_fault_long_ago_is_clear_of_the_window() -> None:
    long_ago = NOW - WIDTH - tour.QUIET_MARGIN - 1
    window = tour.quiet_in([long_ago], NOW, WIDTH, origin=NOW - 86400, step=15)
    assert (window.end, window.quiet) == (NOW, True)


def test_no_quiet_stretch_gives_the_last_minutes_marked_not_quiet() -> None:
    busy = [NOW - 15 * k for k in range(40)]  # faults for the last 10 minutes
    window = tour.quiet_in(busy, NOW, WIDTH, origin=NOW - 700, step=15)  # a young lab
    assert (window.start, window.end, window.quiet) == (NOW - WIDTH, NOW, False)
    assert "faults and all" in str(window)
    assert "no fault injected" in str(tour.Window(NOW - WIDTH, NOW))


def frame(node_values: dict[str, list[float]], **extra: str) -> Any:
    import pandas as pd

    rows = [{"timestamp": pd.Timestamp(NOW + i, unit="s", tz="UTC"), "value": v, "node": node,
             **extra} for node, values in node_values.items() for i, v in enumerate(values)]  # fmt: skip
    return pd.DataFrame(rows)


def frames(cpu: float = 60.0, p95: float = 0.2, errors: float = 0.01) -> dict[str, Any]:
    quantiles = frame({"-": [0.1, p95]}, quantile="0.95").drop(columns="node")
    return {"cpu": frame({"1": [40.0, 50.0], "2": [55.0, cpu]}),
            "memory": frame({"1": [40.0, 41.0], "2": [50.0, 52.0]}),
            "quantiles": quantiles, "errors": frame({"1": [0.001, errors]})}  # fmt: skip


def test_at_rest_says_so_with_every_threshold() -> None:
    said = tour.at_rest(frames())
    assert said.startswith("at rest: every series stayed on the quiet side of its threshold")
    for label in ("HighCPUUsage > 90 %", "HighLatency: p95 > 1 s", "HighErrorRate > 5 %"):
        assert label in said


def test_at_rest_names_each_crossing_with_its_node_and_worst_value() -> None:
    said = tour.at_rest(frames(cpu=97.25, p95=1.4, errors=0.3))
    assert said.startswith("not at rest: ")
    assert "HighCPUUsage > 90 % crossed on node 2 (97.2 %)" in said
    assert "HighLatency: p95 > 1 s crossed for the fleet (1.4 s)" in said
    assert "HighErrorRate > 5 % crossed on node 1 (30 %)" in said
    assert "HighMemoryUsage" not in said


def alerts(*rows: tuple[str, str, float]) -> Any:
    import pandas as pd

    return pd.DataFrame([{"alertname": name, "node": node, "value": 1.0,
                          "timestamp": pd.Timestamp(NOW + after, unit="s", tz="UTC")}
                         for name, node, after in rows],
                        columns=["alertname", "node", "value", "timestamp"])  # fmt: skip


def test_the_drill_check_passes_when_each_fault_fires_its_own_alert_in_time() -> None:
    drill = tour.Drill(cpu_node=2, error_node=4, started=NOW, seconds=15)
    fired = alerts(("HighCPUUsage", "2", 1.0), ("HighErrorRate", "4", 2.0),
                   ("LowReliabilityScore", "4", 2.0))  # fmt: skip
    assert drill.verdict(fired) == (
        "each fault fired the alert meant for it within 5 s: HighCPUUsage and HighErrorRate"
    )


def test_the_drill_check_names_a_miss_a_late_alert_and_the_wrong_node() -> None:
    drill = tour.Drill(cpu_node=2, error_node=4, started=NOW, seconds=15)
    said = drill.verdict(alerts(("HighCPUUsage", "2", 7.5), ("HighErrorRate", "5", 1.0)))
    assert said == ("not within 5 s: HighCPUUsage fired on node 2 7.5 s after its fault; "
                    "HighErrorRate has not fired on node 4")  # fmt: skip
    assert drill.verdict(alerts()).count("has not fired") == 2
