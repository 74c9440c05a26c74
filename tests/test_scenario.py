"""Scenario files: every validation problem with its line; playing them (a fake clock and a
stand-in lab in the unit test, the real CLI against a live lab in the live one)."""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from labkit.cli import main
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
        ("  - {at: 1m, nodes: [1], failure: cpu_spike, duration: 30s, when: now}\n", "line 6: schedule entry: unknown key 'when'; allowed: at, nodes"),
        ("  - {at: 1m, nodes: [1], failure: cpu_spike, duration: 60s}\n  - {at: 90s, nodes: [1, 2], failure: cpu_spike, duration: 10s}\n",
         "line 7: cpu_spike on node 1 overlaps the one on line 6"),
        ("  - {control: true, at: 2m, duration: 1m}\n  - {at: 2m30s, nodes: all, failure: node_crash, duration: 10s}\n",
         "line 7: node_crash runs into the control period on line 6"),
    ],
)  # fmt: skip
def test_every_problem_is_reported_with_its_line(schedule: str, expected: str) -> None:
    assert any(p.startswith(expected) for p in problems(schedule)), problems(schedule)


TOP = [
    ("schedul:\n  - {at: 1m, nodes: [1], failure: cpu_spike, duration: 30s}\n",
     "line 5: scenario: unknown key 'schedul'; did you mean 'schedule'?"),
    ("schedule: []\nschedule: []\n", "line 6: gives the key 'schedule' twice (first on line 5); keep one"),
    ("schedule: {at: 1m}\n", "line 5: schedule must be a list of injections and control periods; got {'at': '1m'}"),
    ("seed: " + "9" * 5000 + "\n", "line 5: seed: '99999999999999999999...(5,000 characters)' is not a valid int: Python reads whole numbers of up to 4,300 digits"),
    ("seed: -1\n", "line 5: seed must be a whole number from 0 to 18446744073709551615 (2**64 - 1); got -1"),
    ("seed: 18446744073709551616\n", "line 5: seed must be a whole number from 0 to 18446744073709551615 (2**64 - 1); got 18446744073709551616"),
    ("seed: true\n", "line 5: seed must be a whole number from 0 to 18446744073709551615 (2**64 - 1); got True"),
    ("seed: 7.0\n", "line 5: seed must be a whole number from 0 to 18446744073709551615 (2**64 - 1); got 7.0"),
    ("nodes: 0\n", "line 5: nodes must be a whole number from 1 to 5000; got 0"),
    ("nodes: 5001\n", "line 5: nodes must be a whole number from 1 to 5000; got 5001"),
    ("nodes: 12.0\n", "line 5: nodes must be a whole number from 1 to 5000; got 12.0"),
    ("duration: .inf\n", "line 5: duration must be a duration from 1s to 1y, such as 10m; got inf"),
    ("duration: .nan\n", "line 5: duration must be a duration from 1s to 1y, such as 10m; got nan"),
    ("duration: 2y\n", "line 5: duration must be a duration from 1s to 1y, such as 10m; got '2y'"),
    ("duration: 1.5h\n", "line 5: duration must be a duration from 1s to 1y, such as 10m; got '1.5h'. Did you mean 1h30m?"),
    ("step: 0\n", "line 5: step must be a duration from 1s to 1h, such as 15s; got 0"),
    ("step: -.inf\n", "line 5: step must be a duration from 1s to 1h, such as 15s; got -inf"),
    ("name: [a]\n", "line 5: name must be some text (quote a number: '7'); got ['a']"),
    ("description: 12\n", "line 5: description must be text; got 12"),
]  # fmt: skip


@pytest.mark.parametrize(("line_5", "expected"), TOP, ids=[t[0][:30] for t in TOP])
def test_top_level_keys_and_values_are_checked_with_their_line(line_5: str, expected: str) -> None:
    """Line 5 gives the key under test; of the four lines before it, the one that would give
    it too is a comment."""
    key = line_5.split(":")[0]
    head = "".join(
        f"# {given}\n" if given.startswith(key + ":") else f"{given}\n"
        for given in ("name: t", "nodes: 12", "duration: 5m", "seed: 1")
    )
    with pytest.raises(ScenarioError) as err:
        parse(head + line_5, "t.yml")
    assert err.value.problems == [expected]
    assert str(err.value) == f"t.yml: 1 problem\n  {expected}"


ENTRIES = [
    ("{at: 1m, nodes: [1], failur: cpu_spike, duration: 30s}",
     "line 6: schedule entry: unknown key 'failur'; did you mean 'failure'?"),
    ("{at: 1m, nodes: [1], failure: cpu_spik, duration: 30s}",
     "line 6: failure must be one of cpu_spike, memory_leak, latency_spike, error_burst, node_crash; got 'cpu_spik'; did you mean 'cpu_spike'?"),
    ("{at: 1m, nodes: [1], failure: [cpu_spike], duration: 30s}", "line 6: failure must be one of cpu_spike"),
    ("{at: 1m, nodes: [1], duration: 30s}", "line 6: failure is missing: one of cpu_spike"),
    ("{control: 'false', at: 1m, nodes: [1], failure: cpu_spike, duration: 30s}",
     "line 6: control must be true or false (unquoted); got 'false'"),
    ("{control: 1, at: 1m, duration: 30s}", "line 6: control must be true or false (unquoted); got 1"),
    ("{control: true, at: 1m, nodes: [1], failure: cpu_spike, duration: 30s}",
     "line 6: a control period is fault-free, so it names no failure or nodes; got failure: 'cpu_spike', nodes: [1]"),
    ("{at: .nan, nodes: [1], failure: cpu_spike, duration: 30s}",
     "line 6: at must be an offset from the scenario's start, 0 or more, such as 90s or 2m; got nan"),
    ("{at: .inf, nodes: [1], failure: cpu_spike, duration: 30s}", "line 6: at must be an offset"),
    ("{at: -5, nodes: [1], failure: cpu_spike, duration: 30s}", "line 6: at must be an offset"),
    ("{nodes: [1], failure: cpu_spike, duration: 30s}", "line 6: at is missing"),
    ("{at: 1m, nodes: [1], failure: cpu_spike, duration: .nan}", "line 6: duration must be from 1s to 1h; got nan"),
    ("{at: 1m, nodes: [1], failure: cpu_spike, duration: .inf}", "line 6: duration must be from 1s to 1h; got inf"),
    ("{at: 1m, nodes: [1], failure: cpu_spike, duration: 1.5m}",
     "line 6: duration must be from 1s to 1h; got '1.5m'. Did you mean 1m30s?"),
    ("{at: 1m, nodes: [1], failure: cpu_spike}", "line 6: duration is missing: from 1s to 1h"),
    ("{control: true, at: 1m, duration: .nan}", "line 6: duration must be a duration above 0, such as 2m; got nan"),
    ("{control: true, at: 1m, duration: 10m}", "line 6: the control period ends at 660 s, after the scenario (300 s)"),
    ("{at: 1m, nodes: [true], failure: cpu_spike, duration: 30s}", "line 6: nodes must be ids from 1 to 12 or all; got [True]"),
    ("{at: 1m, nodes: [1.0], failure: cpu_spike, duration: 30s}", "line 6: nodes must be ids from 1 to 12 or all; got [1.0]"),
    ("{at: 1m, nodes: [], failure: cpu_spike, duration: 30s}", "line 6: nodes must be ids from 1 to 12 or all; got []"),
    ("{at: 1m, nodes: All, failure: cpu_spike, duration: 30s}", "line 6: nodes must be ids from 1 to 12 or all; got 'All'"),
    ("{at: 1m, nodes: [[1]], failure: cpu_spike, duration: 30s}", "line 6: nodes must be ids from 1 to 12 or all; got [[1]]"),
    ("{at: 1m, nodes: [3, 1, 3], failure: cpu_spike, duration: 30s}", "line 6: nodes lists node 3 more than once"),
    ("{at: 1m, node: 1, nodes: [2], failure: cpu_spike, duration: 30s}", "line 6: give nodes or node, not both"),
    ("{at: 1m, failure: cpu_spike, duration: 30s}", "line 6: nodes is missing: ids from 1 to 12, or all"),
    ("5", "line 6: each schedule entry is a mapping such as {at: 30s"),
]  # fmt: skip


@pytest.mark.parametrize(("entry", "expected"), ENTRIES)
def test_schedule_entries_are_checked_strictly_with_their_line(entry: str, expected: str) -> None:
    found = problems(f"  - {entry}\n")
    assert found[0].startswith(expected), found
    assert all(p.startswith("line 6: ") for p in found), found


def test_a_misspelt_key_is_not_also_said_to_be_missing() -> None:
    found = problems("  - {at: 1m, nodes: [3], failur: cpu_spike, duratoin: 30s}\n")
    assert found == [
        "line 6: schedule entry: unknown key 'failur'; did you mean 'failure'?",
        "line 6: schedule entry: unknown key 'duratoin'; did you mean 'duration'?",
    ]
    with pytest.raises(ScenarioError) as err:
        parse("nodes: 3\nduraton: 5m\n")
    assert err.value.problems == [
        "line 2: scenario: unknown key 'duraton'; did you mean 'duration'?"
    ]
    assert problems("  - {at: 1m, nodes: [3], duration: 30s}\n") == [
        "line 6: failure is missing: one of cpu_spike, memory_leak, latency_spike, error_burst, "
        "node_crash"
    ]


def test_a_field_on_its_own_line_is_named_by_that_line() -> None:
    found = problems("  - at: 1m\n    nodes: [1]\n    failure: cpu_spike\n    duration: 2h\n")
    assert found == ["line 9: duration must be from 1s to 1h; got '2h'"]


def test_a_control_period_that_names_a_failure_is_not_half_used() -> None:
    """Before: taken as a control period, the failure dropped without a word."""
    assert (
        "names no failure"
        in problems("  - {control: true, at: 1m, failure: cpu_spike, duration: 30s}\n")[0]
    )
    s = parse(
        HEAD + "  - {control: false, at: 1m, nodes: [2], failure: cpu_spike, duration: 30s}\n"
    )
    assert [(i.failure, i.nodes) for i in s.injections] == [("cpu_spike", (2,))] and not s.controls


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (HEAD.encode() + b"  - {at: 1m, nodes: [1], failure: caf\xe9, duration: 30s}\n",
         f"line 6: is not UTF-8: byte 0xe9 at offset {len(HEAD) + 37} cannot start"),
        (HEAD + "  - &a {at: 1m, nodes: [1], failure: cpu_spike, duration: 30s}\n  - *a\n", "line 7: uses the alias *a"),
        (HEAD + "  - " + "[" * 70 + "]" * 70 + "\n", "line 6: nests deeper than 64"),
        (HEAD + "  - {at: 1m\n", "line 6: not valid YAML"),
        ("", "line 1: a scenario is a mapping with at least a duration (and most often seed, nodes and schedule); got an empty file"),
        ("- a\n- b\n", "line 1: a scenario is a mapping with at least a duration (and most often seed, nodes and schedule); got ['a', 'b']"),
        ("just text", "line 1: a scenario is a mapping"),
    ],
)  # fmt: skip
def test_files_yaml_would_misread_are_refused_with_the_line(
    data: str | bytes, expected: str
) -> None:
    with pytest.raises(ScenarioError) as err:
        parse(data, "t.yml")
    assert len(err.value.problems) == 1 and err.value.problems[0].startswith(expected), err.value


def test_a_missing_duration_does_not_make_every_entry_end_too_late() -> None:
    with pytest.raises(ScenarioError) as err:
        parse("nodes: 2\nschedule:\n  - {at: 1m, nodes: [1], failure: cpu_spike, duration: 30s}\n")
    assert err.value.problems == ["line 1: duration is missing: the scenario's length, such as 10m"]


def test_all_problems_are_reported_at_once() -> None:
    found = problems("  - {at: 30s, nodes: [13], failure: cpu, duration: 2h}\n")
    assert len(found) == 3


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        # one long fault, two short ones inside it that do not touch each other: both named
        (["{at: 0s, nodes: [1], failure: cpu_spike, duration: 100s}",
          "{at: 10s, nodes: [1], failure: cpu_spike, duration: 10s}",
          "{at: 30s, nodes: [1], failure: cpu_spike, duration: 10s}"],
         ["line 7: cpu_spike on node 1 overlaps the one on line 6",
          "line 8: cpu_spike on node 1 overlaps the one on line 6"]),
        # written later, starting earlier: the later line is the one named first
        (["{at: 2m, nodes: [4, 7], failure: error_burst, duration: 30s}",
          "{at: 110s, nodes: [7, 9], failure: error_burst, duration: 30s}"],
         ["line 7: error_burst on node 7 overlaps the one on line 6"]),
        # on every node: against one on some nodes, both ways, and against another on every node
        (["{at: 1m, nodes: [5], failure: latency_spike, duration: 30s}",
          "{at: 70s, nodes: all, failure: latency_spike, duration: 30s}",
          "{at: 80s, nodes: all, failure: latency_spike, duration: 30s}",
          "{at: 95s, nodes: [3, 8], failure: latency_spike, duration: 30s}"],
         # (lines 6 and 7 overlap too: both are named already, each in another pair)
         ["line 8: latency_spike on node 5 overlaps the one on line 6",
          "line 8: latency_spike on node 1 overlaps the one on line 7",
          "line 9: latency_spike on node 3 overlaps the one on line 7",
          "line 9: latency_spike on node 3 overlaps the one on line 8"]),
        # back to back is not an overlap; another mode is not either
        (["{at: 1m, nodes: [1], failure: node_crash, duration: 30s}",
          "{at: 90s, nodes: all, failure: node_crash, duration: 30s}",
          "{at: 100s, nodes: [1], failure: memory_leak, duration: 30s}"], []),
        # an injection in two control periods is named once; one that ends as a period starts is not
        (["{control: true, at: 1m, duration: 30s}", "{control: true, at: 2m, duration: 30s}",
          "{at: 80s, nodes: all, failure: cpu_spike, duration: 50s}",
          "{at: 30s, nodes: [2], failure: cpu_spike, duration: 30s}"],
         ["line 8: cpu_spike runs into the control period on line 7, which must be fault-free"]),
    ],
)  # fmt: skip
def test_overlaps_name_each_injection_that_overlaps(
    schedule: list[str], expected: list[str]
) -> None:
    text = "".join(f"  - {entry}\n" for entry in schedule)
    if not expected:
        assert parse(HEAD + text).injections
        return
    found = problems(text)
    assert [p.split(";")[0].split(", which")[0] for p in found] == [
        e.split(", which")[0] for e in expected
    ]


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


BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(9)
)
FROM_THE_ISSUE = [
    (HEAD.replace("schedule:", "schedul:") + "  - {at: 1m, nodes: [1], failure: cpu_spike, duration: 30s}\n",
     "line 5: scenario: unknown key 'schedul'; did you mean 'schedule'?"),
    (HEAD + "  - {at: 1m, nodes: [1], failure: cpu_spike, duration: 30s}\nschedule: []\n",
     "line 7: gives the key 'schedule' twice (first on line 5)"),
    (HEAD.replace("5m", ".inf"), "line 4: duration must be a duration from 1s to 1y"),
    (HEAD.replace("5m", ".nan"), "line 4: duration must be a duration from 1s to 1y"),
    (HEAD + "  - {at: .nan, nodes: [1], failure: cpu_spike, duration: 30s}\n", "line 6: at must be an offset"),
    (HEAD + "  - {control: 'false', at: 1m, duration: 30s}\n", "line 6: control must be true or false"),
    (HEAD + "  - {control: true, at: 1m, failure: cpu_spike, duration: 30s}\n",
     "line 6: a control period is fault-free, so it names no failure"),
    (HEAD.replace("schedule:", BOMB + "schedule: [*j]"), "line 6: uses the alias *a"),
    (HEAD.replace("seed: 1", "seed: " + "7" * 5000), "line 2: seed: '77777777777777777777...(5,000 characters)' is not a valid int"),
    (HEAD + "  - " + "[" * 100_000 + "]" * 100_000 + "\n", "line 6: not valid YAML"),
    (HEAD.encode("utf-16"), "line 1: is UTF-16; save it as UTF-8"),
    (HEAD.encode() + b"  - {at: 1m, nodes: [1], failure: cpu_spike, duration: 30s} # \xff\n",
     "line 6: is not UTF-8: byte 0xff at offset"),
]  # fmt: skip


@pytest.mark.parametrize(("content", "expected"), FROM_THE_ISSUE, ids=range(len(FROM_THE_ISSUE)))
def test_validate_exits_2_with_each_problem_and_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | bytes, expected: str
) -> None:
    path = tmp_path / "bad.yml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    out = io.StringIO()
    code = main(["--state-dir", str(tmp_path), "scenario", "validate", str(path)], out=out)
    err = capsys.readouterr().err
    assert code == 2 and out.getvalue() == ""
    assert err.startswith(f"labkit scenario: {path}: 1 problem\n  {expected}"), err
    assert "Traceback" not in err


def test_validate_and_history_say_ok_or_refuse_the_same_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.yml"
    good.write_text(HEAD + "  - {at: 1m, nodes: all, failure: cpu_spike, duration: 30s}\n")
    out = io.StringIO()
    assert main(["--state-dir", str(tmp_path), "scenario", "validate", str(good)], out=out) == 0
    assert out.getvalue() == (
        "ok: t: 12 nodes, 300 s, seed 1; 1 injection (12 node-faults), 0 control periods\n"
    )
    bad = tmp_path / "bad.yml"
    bad.write_text(HEAD.replace("schedule:", "schedul:"))
    argv = ["--state-dir", str(tmp_path), "history", str(bad), "--out", str(tmp_path / "h")]
    assert main(argv, out=io.StringIO()) == 2
    assert "line 5: scenario: unknown key 'schedul'" in capsys.readouterr().err
    assert not (tmp_path / "h").exists()


def test_the_docs_example_says_what_validate_says(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = (REPO / "docs" / "scenarios.md").read_text()
    example = doc.split("Given this `bad.yml`:\n\n```yaml\n")[1].split("```")[0]
    said = doc.split("it says:\n\n```\n")[1].split("```")[0]
    (tmp_path / "bad.yml").write_text(example)
    monkeypatch.chdir(tmp_path)
    assert main(["--state-dir", str(tmp_path), "scenario", "validate", "bad.yml"]) == 2
    assert capsys.readouterr().err == said
