"""The lessons' graders, both ways, without Prometheus: each given its right answer (full marks)
and each kind of wrong answer it recognises (the finding named, with its minute and node).
The graders are pure; the data they grade is built here, the faults from the teaching
scenarios' own ground truth (labkit.history.ground_truth_journal: no simulation, no promtool)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from labkit.alert_replay import FIRING_COLUMNS
from labkit.history import DEFAULT_START, ground_truth_journal
from labkit.lessons import burn_theory, drills, grading, review, tour
from labkit.lessons.grading import Feedback, Finding
from labkit.recording import HistoryInfo
from labkit.scenario import load
from labkit.score import faults_from_journal

START = DEFAULT_START


def recording(name: str) -> tuple[pd.DataFrame, HistoryInfo]:
    """A teaching scenario's faults (score.faults_from_journal's frame) and its history.json,
    as `labkit history` would write them, without writing anything."""
    s = load(review.SCENARIOS / f"{name}.yml")
    end = START + s.duration_seconds
    controls = tuple((START + c.at_seconds, START + c.end_seconds) for c in s.controls)
    info = HistoryInfo(s.name, "simulated", START, end, s.step_seconds, s.nodes, s.seed, controls)
    return faults_from_journal(ground_truth_journal(s, START), end), info


def firings(*rows: tuple[Any, float, float | None]) -> pd.DataFrame:
    """Replayed firings from (node, fired at minute, resolved at minute or None)."""
    out = [
        {"rule_set": "answer", "alertname": "answer", "node": None if n is None else str(n),
         "series": f"node={n}", "active_at": START + 60 * at, "fired_at": START + 60 * at,
         "resolved_at": None if to is None else START + 60 * to}
        for n, at, to in rows
    ]  # fmt: skip
    return pd.DataFrame(out, columns=FIRING_COLUMNS)


# -- Feedback ------------------------------------------------------------------------------------


def test_feedback_as_text_and_as_escaped_html() -> None:
    f = grading.wrong(
        4, "Not yet: <b>bold</b>?",
        Finding("false alarm", "fires at <script>.", 22.5, 3, hint="a & b"),
        Finding("malformed", "no node"), points=2,
    )  # fmt: skip
    assert str(f) == (
        "Not yet: <b>bold</b>? (2/4 points)\n"
        "- false alarm [22 min 30 s, node 3]: fires at <script>. Hint: a & b\n"
        "- malformed: no node"
    )
    page = f._repr_html_()
    assert "<script>" not in page and "&lt;script&gt;" in page and "a &amp; b" in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page and page.count("<tr>") == 3  # header + 2
    assert "22 min 30 s, node 3" in page and "(2/4 points)" in page
    assert not f.full_marks and f.kinds() == ["false alarm", "malformed"]
    # `code` in a finding shows as code (escaped first); a column empty in every row is left out
    quoted = grading.wrong(3, "Not yet.", Finding("malformed", "Set `answer` to <x>`"))
    page = quoted._repr_html_()
    assert "Set <code>answer</code> to &lt;x&gt;`" in page and "`answer`" in str(quoted)
    assert "<th" in page and ">where<" not in page and ">hint<" not in page and ">kind<" in page
    right = grading.right(3, "Right.")
    assert right.full_marks and right.points == 3.0 and "<table" not in right._repr_html_()


def test_feedback_refuses_impossible_points_and_unknown_kinds() -> None:
    with pytest.raises(ValueError, match="points must be from 0 to 2"):
        Feedback(3.0, 2.0, "?")
    with pytest.raises(ValueError, match="kind must be one of"):
        Finding("oops", "?")


# -- alert rules over a recording ------------------------------------------------------------------

# alert-quality: memory_leak on node 5 at minute 3 (30 s) and on node 6 at minute 14 (90 s);
# error_burst on node 9 at minute 9 (10 s) and node 10 at minute 20 (1 min); quiet 25-40.


def memory(*rows: tuple[Any, float, float | None]) -> Feedback:
    faults, info = recording("alert-quality")
    return review.grade_faster_rule([(firings(*rows), faults, info)])


def test_a_memory_rule_that_catches_both_leaks_in_time_gets_full_marks() -> None:
    f = memory((5, 3 + 5 / 60, 3.6), (6, 14 + 5 / 60, 15.6))
    assert f.full_marks and f.findings == () and f.verdict.startswith("Right")


def test_a_missed_leak_is_named_with_its_minute_and_node() -> None:
    f = memory((6, 14 + 5 / 60, 15.6))
    assert f.kinds() == ["miss"]
    (miss,) = f.findings
    assert (miss.minute, miss.node, miss.recording) == (3.0, 5, "alert-quality")
    assert "misses the memory_leak that starts at 3 min (30 s long)." in miss.what
    assert miss.hint.startswith("Is the condition ever true")
    assert f.points == 3.0  # one of two faults in time: 1 of the first half; no false alarm: 2


def test_a_rule_firing_since_before_the_fault_misses_it_and_says_why() -> None:
    """Always true: one firing from minute 0 that never ends. Alertmanager sends nothing new
    when a leak begins, so each leak is missed; the hint is not to query the expression (it
    holds), but that it holds with no fault."""
    f = memory((5, 0.0, None))
    misses = {x.node: x for x in f.findings if x.kind == "miss"}
    assert sorted(misses) == [5, 6]
    assert "already firing there since 0 min" in misses[5].what
    assert "holds with no fault" in misses[5].hint
    assert "already" not in misses[6].what  # nothing fired on node 6: the usual hint
    assert "false alarm" in f.kinds() and f.points == 0.0


def test_a_late_detection_says_by_how_much_and_the_goal() -> None:
    f = memory((5, 3 + 8 / 60, 3.6), (6, 14 + 5 / 60, 15.6))
    (late,) = f.findings
    assert (late.kind, late.minute, late.node) == ("late", 3.0, 5)
    assert "fires 8 s after the memory_leak starts; the goal is 7 s" in late.what


def test_false_alarms_in_the_quiet_period_and_during_another_fault() -> None:
    f = memory((5, 3.1, 3.6), (6, 14.1, 15.6), (2, 30, 31), (9, 9 + 2 / 60, 9.5))
    assert f.kinds() == ["false alarm", "false alarm"]
    quiet, other = sorted(f.findings, key=lambda x: x.minute or 0, reverse=True)
    assert (quiet.minute, quiet.node) == (30.0, 2) and "in the quiet period" in quiet.what
    assert (other.minute, other.node) == (
        9.03,
        9,
    ) and "during another fault (error_burst)" in other.what
    assert f.points == 2.0 and "2 false alarms" in f.verdict


def test_quiet_day_false_alarms_are_named_on_their_recording() -> None:
    leaks, info = recording("alert-quality")
    quiet, day = recording("quiet-day")
    caught = firings((5, 3.1, 3.6), (6, 14.1, 15.6))
    f = review.grade_faster_rule([(caught, leaks, info), (firings((7, 600, 601)), quiet, day)])
    (alarm,) = f.findings
    assert (alarm.kind, alarm.recording, alarm.minute, alarm.node) == (
        "false alarm", "quiet-day", 600.0, 7)  # fmt: skip


def test_many_false_alarms_are_shown_five_per_recording_and_the_rest_counted() -> None:
    leaks, info = recording("alert-quality")
    quiet, day = recording("quiet-day")
    noisy = firings(*((n, 26 + i / 10, 26 + i / 10 + 0.05) for i in range(20) for n in (1, 3)))
    f = review.grade_faster_rule([(noisy, leaks, info), (firings((7, 600, 601)), quiet, day)])
    assert f.kinds() == ["miss", "miss", *["false alarm"] * 7]
    shown = [x for x in f.findings if x.kind == "false alarm" and x.recording == "alert-quality"]
    assert [x.minute for x in shown[:5]] == [26.0, 26.0, 26.1, 26.1, 26.2]
    assert shown[5].what == "and 35 more like these, on nodes 1, 3." and shown[5].minute is None
    assert "40 false alarms" not in f.verdict and "41 false alarms" in f.verdict


def test_a_refused_expression_is_malformed() -> None:
    f = review.grade_faster_rule(["1:5: parse error: unexpected end of input"])
    assert f.kinds() == ["malformed"] and "parse error" in str(f) and f.points == 0


@pytest.mark.parametrize(
    ("expr", "for_seconds", "kind"),
    [(None, None, "not answered"), ("", 0, "malformed"), (85, 0, "malformed"),
     ("node_memory_usage_percent > 75", -1, "malformed"),
     ("node_memory_usage_percent > 75", "10s", "malformed")],
)  # fmt: skip
def test_a_rule_that_is_not_one_yet(expr: Any, for_seconds: Any, kind: str) -> None:
    f = review.rule_answer_problem(expr, for_seconds, 4)
    assert f is not None and f.kinds() == [kind] and f.points == 0
    assert review.rule_answer_problem("x > 1", 0, 4) is None


# alert-quality's error bursts, for lesson 3's page alert.


def page(*rows: tuple[Any, float, float | None], expr: str | None = None) -> Feedback:
    faults, info = recording("alert-quality")
    expr = expr or "sum by (node) (rate(node_requests_total{status='error'}[10s])) > 0"
    return burn_theory.grade_page_alert(expr, (firings(*rows), faults, info))


def test_a_page_that_fires_and_stops_in_time_gets_full_marks() -> None:
    f = page((9, 9 + 6 / 60, 9 + 30 / 60), (10, 20 + 5 / 60, 21 + 15 / 60))
    assert f.full_marks, str(f)


def test_a_page_that_stays_on_is_late_to_stop() -> None:
    f = page((9, 9.1, 11.5), (10, 20.1, 21.2))
    (late,) = f.findings
    assert (late.kind, late.node) == ("late", 9) and late.minute == pytest.approx(9 + 10 / 60, 0.01)
    assert "still fires 140 s after the error_burst ends" in late.what
    assert 0 < f.points < f.max_points


def test_a_page_that_flaps_is_late_to_stop_by_its_last_firing() -> None:
    f = page((9, 9.1, 9.15), (9, 9.2, None), (10, 20.1, 21.2))
    (late,) = f.findings
    assert (late.kind, late.node) == ("late", 9) and "still fires until the end" in late.what


def test_a_page_on_the_gauge_is_not_a_burn_rate() -> None:
    f = page((9, 9.1, 9.4), (10, 20.1, 21.2), expr="node_error_rate > 0.0144")
    assert f.kinds() == ["malformed"] and "node_requests_total" in str(f)


def test_a_fleet_wide_page_is_malformed_and_its_false_alarm_named() -> None:
    f = page((None, 9.1, 9.4), (None, 20.1, 21.2), (None, 30, 30.5))
    assert f.kinds() == ["malformed", "false alarm"] and "no node label" in str(f)
    assert f.findings[1].node is None and f.findings[1].minute == 30 and f.points == 2
    caught = page((None, 9.1, 9.4), (None, 20.1, 21.2))
    assert caught.kinds() == ["malformed"] and caught.points == 2  # half, at most


# -- query results -------------------------------------------------------------------------------


def frame(values: dict[Any, list[float]], label: str = "node") -> pd.DataFrame:
    """A range result: one series per key, a sample every 15 s from minute 7."""
    rows = [
        {"timestamp": pd.Timestamp(START + 420 + 15 * i, unit="s", tz="UTC"), "value": v,
         **({label: str(k)} if k is not None else {})}
        for k, vs in values.items() for i, v in enumerate(vs)
    ]  # fmt: skip
    return pd.DataFrame(rows)


RIGHT = {n: [0.2, 0.21, 0.2 + n / 100] for n in range(1, 4)}
P95 = {n: [v * 0.8 for v in vs] for n, vs in RIGHT.items()}


def latency(answer: pd.DataFrame | str | None) -> Feedback:
    return tour.grade_latency_query(answer, frame(RIGHT), {"the p95": frame(P95)}, START)


def test_the_right_query_gets_full_marks() -> None:
    near = {n: [v * 1.001 for v in vs] for n, vs in RIGHT.items()}
    assert latency(frame(RIGHT)).full_marks and latency(frame(near)).full_marks


@pytest.mark.parametrize(
    ("answer", "kind", "says"),
    [(None, "not answered", "Set `answer`"),
     ("1:9: parse error: unclosed left parenthesis", "malformed", "parse error"),
     (frame({}), "malformed", "`le` label"),
     (frame({None: [0.3, 0.3, 0.3]}), "malformed", "no `node` label"),
     (frame({n: vs for n, vs in RIGHT.items()}, label="instance"), "malformed",
      "3 series, told apart by `instance`, not by `node`")],
)  # fmt: skip
def test_answers_that_are_not_one_series_per_node(answer: Any, kind: str, says: str) -> None:
    f = latency(answer)
    assert f.kinds() == [kind] and says in str(f) and f.points == 0


def test_the_wrong_quantile_everywhere_is_one_finding_naming_it() -> None:
    f = latency(frame(P95))
    (wrong,) = f.findings
    assert wrong.kind == "wrong value" and wrong.node is None
    assert "by up to 20 %" in wrong.what and "the p95" in wrong.hint and f.points == 0


def test_a_known_wrong_query_right_on_some_nodes_by_chance_gets_no_points() -> None:
    """Node 3 reads as the p95 does, nodes 1 and 2 agree by chance (a 5 m range at rest, say):
    the query is the wrong one, so no share of the points for the nodes it happens to match."""
    f = latency(frame({**RIGHT, 3: P95[3]}))
    (wrong,) = f.findings
    assert wrong.what == "1 of 3 nodes is off, by up to 20 %; the others match by chance."
    assert "the p95" in wrong.hint and f.points == 0


def test_one_node_off_is_named_with_the_minute_it_goes_wrong() -> None:
    off = {**RIGHT, 3: [0.23, 0.21, 0.5]}
    f = latency(frame(off))
    (wrong,) = f.findings
    assert (wrong.kind, wrong.node, wrong.minute) == ("wrong value", 3, 7.0)
    assert wrong.what == "15 % too high from 7 min on." and f.points == 2.0
    near = latency(frame({**RIGHT, 3: [0.2 * 0.976, 0.21, 0.23]}))  # off by 2.4 %: not "2 %"
    assert near.findings[0].what == "2.4 % too low from 7 min on."


def test_a_missing_node_an_extra_one_and_a_doubled_one() -> None:
    missing = latency(frame({1: RIGHT[1], 2: RIGHT[2]}))
    assert missing.kinds() == ["miss"] and missing.findings[0].node == 3 and missing.points == 2
    extra = latency(frame({**RIGHT, 13: [0.1, 0.1, 0.1]}))
    assert extra.kinds() == ["wrong value"] and extra.findings[0].node == 13
    assert extra.points == 1.5  # every node right, but not only them: half at most
    doubled = pd.concat([frame(RIGHT), frame({2: [0.1, 0.1, 0.1]})])
    f = latency(doubled)
    assert f.kinds() == ["malformed"] and f.findings[0].node == 2 and "several series" in str(f)


def test_a_missing_sample_is_wrong_from_its_minute() -> None:
    gap = frame(RIGHT).drop(index=2)  # node 1 at minute 7.5
    (wrong,) = latency(gap).findings
    assert (wrong.node, wrong.minute) == (1, 7.5) and "no value" in wrong.what


# -- lesson 4: an incident's nodes, start and end ------------------------------------------------


def incident(answer: Any) -> Feedback:
    faults, info = recording("bad-afternoon")  # error_burst on nodes 2 and 9, minutes 13-23
    return review.grade_incident(answer, review.fault_minutes(faults, info.start))


def test_the_incident_read_right_gets_full_marks() -> None:
    assert incident({"nodes": [9, 2], "start": 13, "end": 23}).full_marks
    assert incident({"nodes": [2, 9], "start": 13.75, "end": 22.5}).full_marks  # within 1 min


@pytest.mark.parametrize(
    ("answer", "kinds", "points", "says"),
    [(None, ["not answered"], 0, '{"nodes": [...], "start": ..., "end": ...}'),
     ({"nodes": [2, 9], "minute": 13}, ["malformed"], 0, "`answer` should be"),
     ({"nodes": "2, 9", "start": 13, "end": 23}, ["malformed"], 0, "a list such as"),
     ({"nodes": [2, 9], "start": "13", "end": 23}, ["malformed"], 0, "numbers of minutes"),
     ({"nodes": [2, 9, 7], "start": 13, "end": 23}, ["wrong value"], 2, "node 7 had no"),
     ({"nodes": [2], "start": 13, "end": 23}, ["miss"], 2, "1 node with the error_burst"),
     ({"nodes": [2, 9], "start": 15, "end": 23}, ["wrong value"], 3, "start is a little late"),
     ({"nodes": [2, 9], "start": 13, "end": 13}, ["wrong value"], 3, "several minutes early"),
     ({"nodes": [2, 9], "start": 40, "end": 55}, ["wrong value"] * 2, 2,
      "more than ten minutes late")],
)  # fmt: skip
def test_each_wrong_incident_answer(
    answer: Any, kinds: list[str], points: float, says: str
) -> None:
    f = incident(answer)
    assert f.kinds() == kinds and f.points == points and says in str(f), str(f)


def test_the_incident_grader_never_says_the_answer() -> None:
    text = str(incident({"nodes": [2, 9], "start": 16, "end": 30}))
    assert "13" not in text and "23" not in text


# -- the graders that were there before: lesson 2's predictions, lesson 3's burn rate -----------


def test_check_predictions_both_ways() -> None:
    from labkit.alerts import INTENDED

    table = drills.check_predictions(dict(INTENDED))
    assert (table["verdict"] == "right").all()
    wrong = drills.check_predictions(
        {"cpu_spike": "LowReliabilityScore", "memory_leak": "NoSuchAlert", "error_burst": ""}
    )
    assert wrong.loc["cpu_spike", "verdict"].startswith("not quite: LowReliabilityScore may")
    assert "'NoSuchAlert' is not one of the lab's alerts" in wrong.loc["memory_leak", "verdict"]
    assert wrong.loc["error_burst", "verdict"] == "not answered yet"
    assert wrong.loc["node_crash", "verdict"] == "not answered yet"


def test_grade_burn_rate_both_ways() -> None:
    assert burn_theory.grade_burn_rate(20, 0.02, 0.999).startswith("Right: 0.02 / (1 - 0.999)")
    assert "divided by the objective" in burn_theory.grade_burn_rate(0.02002, 0.02, 0.999)
