"""Lesson 2's known state (labkit.lessons.drills.at_rest, settle) against a scripted lab: what a rerun
waits for before it injects again."""

from __future__ import annotations

from typing import Any

import pytest

from labkit.errors import LabkitError
from labkit.lessons import drills


class ScriptedLab:
    """A lab whose HighCPUUsage on node 1 leaves Prometheus after `firing_reads` reads, and
    whose receiver hears its resolution after `resolution_reads` reads of the journal."""

    def __init__(self, firing_reads: int, resolution_reads: int) -> None:
        self.firing_reads = firing_reads
        self.resolution_reads = resolution_reads
        self.reads = {"prometheus": 0, "notifications": 0}
        self.recovered: list[Any] = []

    def recover(self, nodes: Any, failure: str | None = None) -> dict[int, list[str]]:
        self.recovered.append(nodes)
        return {1: ["cpu_spike"], 2: []}

    def prometheus_alerts(self) -> list[dict[str, Any]]:
        self.reads["prometheus"] += 1
        if self.reads["prometheus"] > self.firing_reads:
            return []
        return [{"labels": {"alertname": "HighCPUUsage", "node": "1"}, "state": "firing"}]

    def alertmanager_alerts(self) -> list[dict[str, Any]]:
        return []

    def notifications(self, since: float | None = None) -> list[dict[str, Any]]:
        self.reads["notifications"] += 1
        notes = [{"alertname": "HighCPUUsage", "node": "1", "status": "firing"}]
        if self.reads["notifications"] > self.resolution_reads:
            notes.append({"alertname": "HighCPUUsage", "node": "1", "status": "resolved"})
        return notes


def test_at_rest_waits_for_the_alert_to_clear_and_its_resolution_to_be_notified() -> None:
    lab = ScriptedLab(firing_reads=3, resolution_reads=2)
    said = drills.at_rest(lab)  # type: ignore[arg-type]
    assert said == "Recovered cpu_spike on node 1. No drill alert is firing: ready."
    assert lab.recovered == ["all"]
    assert lab.reads["prometheus"] == 4  # three reads with the alert, one without
    assert lab.reads["notifications"] == 3  # two saying firing, one with the resolution
    assert drills.unresolved(lab, {("HighCPUUsage", "1")}) == []  # type: ignore[arg-type]


def test_an_alert_that_keeps_firing_is_named_with_what_to_do() -> None:
    lab = ScriptedLab(firing_reads=10**6, resolution_reads=0)
    with pytest.raises(LabkitError, match=r"still firing after 0 s: HighCPUUsage on node 1\. "):
        drills.settle(lab, {("HighCPUUsage", "1")}, timeout=0.3)  # type: ignore[arg-type]


def test_the_drill_nodes_are_one_per_mode() -> None:
    assert drills.drill_nodes() == {"cpu_spike": 1, "memory_leak": 2, "latency_spike": 3,
                                    "error_burst": 4, "node_crash": 5}  # fmt: skip
