"""A running node with a fake clock: injection, expiry, recovery, journal and ground truth."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from labkit.errors import InvalidInput
from labkit.exposition import render
from labkit.failures import FAILURE_MODES
from labkit.journal import Journal, read_journal
from labkit.node import Node
from tests.conftest import FakeClock


def fault_flags(node: Node) -> dict[str, float]:
    text = render(node.snapshot()).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    return {s.labels["failure"]: s.value for s in families["labkit_fault_active"].samples}


@pytest.fixture
def node(tmp_path: Path, clock: FakeClock) -> Node:
    return Node(3, seed=1, journal=Journal(tmp_path / "j.jsonl"), clock=clock)


def events(node: Node) -> list[tuple[str, str, float]]:
    assert node.journal.path is not None
    return [(r["event"], r["failure"], r["ts"]) for r in read_journal(node.journal.path)]


def test_ground_truth_series_exist_from_the_start_all_zero(node: Node) -> None:
    assert fault_flags(node) == {m: 0.0 for m in FAILURE_MODES}


def test_inject_then_expire_by_itself(node: Node, clock: FakeClock) -> None:
    t0 = clock.now
    clock.advance(5)
    result = node.inject("cpu_spike", 10)
    assert result["restarted"] is False and result["duration_seconds"] == 10
    assert fault_flags(node)["cpu_spike"] == 1.0
    assert node.snapshot().cpu_percent >= 95
    clock.advance(9.9)
    assert node.faults()["active"][0]["seconds_left"] == pytest.approx(0.1)
    clock.advance(0.2)
    assert fault_flags(node)["cpu_spike"] == 0.0
    assert node.faults()["active"] == []
    assert events(node) == [
        ("inject", "cpu_spike", round(t0 + 5, 3)),
        ("expire", "cpu_spike", round(t0 + 15, 3)),  # the moment it ended, not when noticed
    ]
    assert node.faults()["history"][0]["ended_by"] == "expired"


def test_expiry_is_journalled_by_the_sweeper_call_with_no_request(
    node: Node, clock: FakeClock
) -> None:
    node.inject("error_burst", 2)
    assert node.next_expiry() == pytest.approx(clock.now + 2)
    clock.advance(3)
    assert node.expire_due() == ["error_burst"]
    assert node.next_expiry() is None
    assert [e[0] for e in events(node)] == ["inject", "expire"]


def test_recover_one_mode_early_keeps_the_others(node: Node, clock: FakeClock) -> None:
    node.inject("cpu_spike", 60)
    node.inject("latency_spike", 60)
    clock.advance(4)
    assert node.recover("cpu_spike") == ["cpu_spike"]
    flags = fault_flags(node)
    assert flags["cpu_spike"] == 0 and flags["latency_spike"] == 1
    assert node.recover() == ["latency_spike"]
    assert node.recover() == []  # nothing left: a no-op, not an error
    assert [(e, f) for e, f, _ in events(node)] == [
        ("inject", "cpu_spike"),
        ("inject", "latency_spike"),
        ("recover", "cpu_spike"),
        ("recover", "latency_spike"),
    ]
    history = node.faults()["history"]
    assert [h["ended_by"] for h in history] == ["recovered", "recovered"]


def test_injecting_an_active_mode_again_restarts_its_timer(node: Node, clock: FakeClock) -> None:
    node.inject("memory_leak", 10)
    clock.advance(8)
    again = node.inject("memory_leak", 10)
    assert again["restarted"] is True
    clock.advance(8)  # 16 s after the first injection: still active
    assert fault_flags(node)["memory_leak"] == 1
    assert node.snapshot().memory_percent >= 95  # the climb continued, it did not restart
    clock.advance(2.5)
    assert fault_flags(node)["memory_leak"] == 0
    assert len(node.faults()["history"]) == 1


def test_crash_then_restart_resets_uptime(node: Node, clock: FakeClock) -> None:
    clock.advance(50)
    node.inject("node_crash", 5)
    assert node.crash_seconds_left() == pytest.approx(5)
    clock.advance(7)
    assert node.crash_seconds_left() is None
    assert node.snapshot().uptime_seconds == pytest.approx(2)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda n: n.inject("cpu", 10), "failure"),
        (lambda n: n.inject("cpu_spike", 0.5), "duration_seconds"),
        (lambda n: n.inject("cpu_spike", 3601), "duration_seconds"),
        (lambda n: n.inject("cpu_spike", float("nan")), "duration_seconds"),
        (lambda n: n.inject("cpu_spike", "30"), "duration_seconds"),
        (lambda n: n.inject("cpu_spike", True), "duration_seconds"),
        (lambda n: n.recover("all"), "failure"),
    ],
)
def test_bad_input_raises_naming_the_field_and_changes_nothing(
    node: Node, call: object, field: str
) -> None:
    with pytest.raises(InvalidInput) as err:
        call(node)  # type: ignore[operator]
    assert err.value.field == field
    assert field in str(err.value) and "got" in str(err.value)
    assert node.faults()["active"] == [] and node.faults()["history"] == []
    assert events(node) == []


def test_a_close_name_gets_a_suggestion() -> None:
    with pytest.raises(InvalidInput, match="Did you mean cpu_spike"):
        Node(1).inject("CPU", 10)
