"""A running node with a fake clock: injection, expiry, recovery, journal and ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from labkit.errors import InvalidInput
from labkit.exposition import render
from labkit.failures import FAILURE_MODES
from labkit.journal import Journal, close_orphans, read_journal
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


def test_a_stopping_node_journals_the_end_of_its_active_faults(
    node: Node, clock: FakeClock
) -> None:
    node.inject("cpu_spike", 60)
    node.inject("error_burst", 2)
    clock.advance(5)  # error_burst expired on its own first
    assert node.stop() == ["cpu_spike"]
    assert node.stop() == []  # once
    assert node.journal.path is not None
    last = list(read_journal(node.journal.path))[-2:]
    assert [(e["event"], e["failure"], e.get("reason")) for e in last] == [
        ("expire", "error_burst", None),
        ("recover", "cpu_spike", "fleet-stopped"),
    ]
    assert last[1]["ts"] == round(clock.now, 3)
    assert node.faults()["history"][0]["ended_by"] == "fleet-stopped"


def test_orphans_of_a_dead_fleet_end_when_it_was_last_alive(tmp_path: Path) -> None:
    """A fault the journal holds as active after its fleet died: ended at the fleet's last
    heartbeat; one whose planned end came first, expired then; a restarted fault once, at
    its latest plan; ended faults are left alone; nothing to do, nothing written."""
    journal = Journal(tmp_path / "j.jsonl")
    journal.append("inject", 100.0, 1, "cpu_spike", duration_seconds=60, ends_at=160.0)
    journal.append("inject", 110.0, 2, "error_burst", duration_seconds=5, ends_at=115.0)
    journal.append("inject", 120.0, 1, "cpu_spike", duration_seconds=60, ends_at=180.0,
                   restarted=True)  # fmt: skip
    journal.append("inject", 125.0, 3, "node_crash", duration_seconds=9, ends_at=134.0)
    journal.append("recover", 126.0, 3, "node_crash", duration_seconds=9)
    assert close_orphans(journal, last_alive=130.0, now=500.0) == 2
    assert journal.path is not None
    added = [(e["event"], e["node"], e["failure"], e["ts"], e.get("reason"))
             for e in list(read_journal(journal.path))[5:]]  # fmt: skip
    assert added == [  # in time order
        ("expire", 2, "error_burst", 115.0, None),
        ("recover", 1, "cpu_spike", 130.0, "fleet-died"),
    ]
    assert close_orphans(journal, last_alive=None, now=600.0) == 0
    assert len(list(read_journal(journal.path))) == 7


def test_orphans_with_no_heartbeat_end_when_they_are_found(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.jsonl")
    journal.append("inject", 100.0, 1, "latency_spike", duration_seconds=600, ends_at=700.0)
    assert close_orphans(journal, last_alive=None, now=300.0) == 1
    assert journal.path is not None
    last = list(read_journal(journal.path))[-1]
    assert (last["event"], last["ts"], last["reason"]) == ("recover", 300.0, "fleet-died")
    assert close_orphans(Journal(None), None, 1.0) == 0  # no journal, nothing to close


def test_orphans_are_found_past_a_line_cut_short_and_lines_that_are_not_events(
    tmp_path: Path,
) -> None:
    """A kill mid-write, a stray line, bad bytes: the next fleet still starts and still ends
    the orphans it can read."""
    journal = Journal(tmp_path / "j.jsonl")
    journal.append("inject", 100.0, 1, "cpu_spike", duration_seconds=60, ends_at=160.0)
    assert journal.path is not None
    with journal.path.open("ab") as f:
        f.write(b'[1, 2]\n{"no": "event"}\n\xff\xfe\n{"time":"2026-11-27T00:00:0')
    assert close_orphans(journal, last_alive=120.0, now=500.0) == 1
    last = json.loads(journal.path.read_bytes().splitlines()[-1])  # a line of its own
    assert (last["event"], last["node"], last["reason"]) == ("recover", 1, "fleet-died")
