"""Scenario files: every validation problem with its line; playing them (a fake clock and a
stand-in lab in the unit test, the real CLI against a live lab in the live one)."""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from labkit.journal import read_journal
from labkit.scenario import ScenarioError, load, parse, play
from tests.conftest import LABKIT, REPO

HEAD = "name: t\nseed: 1\nnodes: 12\nduration: 5m\nschedule:\n"


def problems(schedule: str) -> list[str]:
    with pytest.raises(ScenarioError) as err:
        parse(HEAD + schedule, "t.yml")
    return err.value.problems


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("  - {at: 30s, nodes: [3], failure: cpu, duration: 30s}\n", "line 6: failure must be one of cpu_spike"),
        ("  - {at: 30s, nodes: [13], failure: cpu_spike, duration: 30s}\n", "line 6: nodes must be ids from 1 to 12"),
        ("  - {at: 30s, nodes: [1], failure: cpu_spike, duration: 2h}\n", "line 6: duration must be from 1s to 1h"),
        ("  - {at: 30s, nodes: [1], failure: cpu_spike, duration: 0.5s}\n", "line 6: duration must be from 1s to 1h"),
        ("  - {at: 4m50s, nodes: [1], failure: cpu_spike, duration: 30s}\n", "line 6: the injection ends at 320 s, past the end"),
        ("  - {at: soon, nodes: [1], failure: cpu_spike, duration: 30s}\n", "line 6: at must be an offset"),
        ("  - {at: 1m, nodes: [1], failure: cpu_spike, duration: 30s, when: now}\n", "line 6: unknown field(s) when"),
        ("  - {at: 1m, nodes: [1], failure: cpu_spike, duration: 60s}\n  - {at: 90s, nodes: [1, 2], failure: cpu_spike, duration: 10s}\n",
         "line 7: cpu_spike on node 1 overlaps the one on line 6"),
        ("  - {control: true, at: 2m, duration: 1m}\n  - {at: 2m30s, nodes: all, failure: node_crash, duration: 10s}\n",
         "line 7: node_crash runs into the control period on line 6"),
    ],
)  # fmt: skip
def test_every_problem_is_reported_with_its_line(schedule: str, expected: str) -> None:
    assert any(p.startswith(expected) for p in problems(schedule)), problems(schedule)


def test_all_problems_are_reported_at_once() -> None:
    found = problems("  - {at: 30s, nodes: [13], failure: cpu, duration: 2h}\n")
    assert len(found) == 3


def test_different_faults_may_overlap_on_a_node() -> None:
    s = parse(HEAD + "  - {at: 1m, nodes: [1], failure: cpu_spike, duration: 60s}\n"
                     "  - {at: 90s, nodes: [1], failure: error_burst, duration: 60s}\n")  # fmt: skip
    assert [i.failure for i in s.injections] == ["cpu_spike", "error_burst"]


@pytest.mark.parametrize("path", sorted((REPO / "scenarios").glob("*.yml")), ids=lambda p: p.name)
def test_the_shipped_scenarios_are_valid(path: Path) -> None:
    s = load(path)
    assert s.nodes == 12 and s.controls  # each teaches with a control period


class StandInLab:
    """Records calls instead of reaching a lab (a unit test of the timing; the live test below
    plays against the real one)."""

    def __init__(self, nodes: int) -> None:
        self.fleet = type("F", (), {"urls": {i: "" for i in range(1, nodes + 1)}})()
        self.calls: list[tuple[Any, ...]] = []
        self.now = 0.0

    def inject(self, nodes: list[int], failure: str, duration: float) -> None:
        self.calls.append((round(self.now, 3), tuple(nodes), failure, duration))


def test_play_injects_each_entry_at_its_offset() -> None:
    s = parse(HEAD + "  - {at: 30s, nodes: [3], failure: cpu_spike, duration: 10s}\n"
                     "  - {at: 2m, nodes: all, failure: latency_spike, duration: 10s}\n")  # fmt: skip
    lab = StandInLab(12)

    def sleep(seconds: float) -> None:
        lab.now += seconds

    out = io.StringIO()
    assert play(s, lab, out, clock=lambda: lab.now, sleep=sleep) == 2
    assert lab.calls == [
        (30.0, (3,), "cpu_spike", 10.0),
        (120.0, tuple(range(1, 13)), "latency_spike", 10.0),
    ]
    assert lab.now == pytest.approx(300)
    assert "injected cpu_spike on node 3" in out.getvalue() and "done" in out.getvalue()


def test_play_refuses_a_lab_with_too_few_nodes() -> None:
    from labkit.errors import LabkitError

    with pytest.raises(LabkitError, match="labkit up --nodes 12"):
        play(parse(HEAD), StandInLab(6), io.StringIO())


@pytest.mark.live
def test_run_a_short_scenario_against_the_live_lab(shared_lab: Any, tmp_path: Path) -> None:
    path = tmp_path / "short.yml"
    path.write_text("name: short\nseed: 1\nnodes: 6\nduration: 4s\nschedule:\n"
                    "  - {at: 1s, nodes: [1], failure: cpu_spike, duration: 1s}\n"
                    "  - {at: 2s, nodes: [2, 3], failure: error_burst, duration: 1s}\n")  # fmt: skip
    env = {**os.environ, "LABKIT_STATE_DIR": str(shared_lab.settings.state_dir)}
    before = len(list(read_journal(shared_lab.settings.journal_path)))
    run = subprocess.run(
        [*LABKIT, "scenario", "run", str(path)], env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    assert "2 injections made" in run.stdout
    new = list(read_journal(shared_lab.settings.journal_path))[before:]
    injected = sorted((r["node"], r["failure"]) for r in new if r["event"] == "inject")
    assert injected == [(1, "cpu_spike"), (2, "error_burst"), (3, "error_burst")]
    bad = tmp_path / "bad.yml"
    bad.write_text("nodes: 0\nduration: x\n")
    run = subprocess.run(
        [*LABKIT, "scenario", "validate", str(bad)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (
        run.returncode == 2
        and "line 1: nodes must be" in run.stderr
        and "Traceback" not in run.stderr
    )
