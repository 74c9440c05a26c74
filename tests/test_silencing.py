"""Lesson 6's graders (pure): matchers that silence exactly the noisy alert, and a routing
prediction. The live steps run in the lesson itself, under nbval (test_notebooks.py)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from labkit import slo_spec
from labkit.lessons import silencing
from labkit.routing import parse_routes
from tests.conftest import REPO

SILENCE_ANSWERS = [
    # (answer, the findings' kinds, points out of 2, a phrase the feedback must contain)
    (None, ["not answered"], 0, "Set `answer`"),
    ("  ", ["not answered"], 0, "Set `answer`"),
    ("alertname=HighCPUUsage node=6", [], 2, "nothing else"),
    ('{alertname="HighCPUUsage", node="6"}', [], 2, "nothing else"),
    (["alertname=HighCPUUsage", 'node="6"'], [], 2, "nothing else"),
    ('alertname=~"HighCPU.*" node=~"6"', [], 2, "nothing else"),
    ("alertname=HighCPUUsage node=6 severity=warning job=edge-nodes", [], 2, "nothing else"),
    ("alertname=HighCPUUsage", ["too wide"], 1, "HighCPUUsage on nodes 1, 2, 3, 4, 5 and more."),
    ('alertname=HighCPUUsage node=~"6|7"', ["too wide"], 1, "also silences 1 other alert."),
    ("node=6", ["too wide"], 1, "Name the alert"),
    ("severity=warning node=6", ["too wide"], 1, "LowReliabilityScore on node 6"),
    ('alertname=~"High.*" node=6', ["too wide"], 1, "HighErrorRate on node 6"),
    ('alertname=HighCPUUsage node!="7"', ["too wide"], 1, "Pin the node"),
    ("alertname=HighCPUUsage node=7", ["miss"], 0, "does not silence the noisy alert"),
    ("alertname=HighCPUUsage node=6 severity=critical", ["miss"], 0, 'severity="warning"'),
    ('alertname=HighCPUUsage instance="127.0.0.1:8006"', ["wrong value"], 0, "node label"),
    ("node=~(6", ["malformed"], 0, "regular expression of node=~ must be"),
    ('node!="7"', ["malformed"], 0, "at least one matcher that an empty label does not satisfy"),
    ("alertname", ["malformed"], 0, "matchers must be written as"),
]


@pytest.mark.parametrize(("answer", "kinds", "points", "says"), SILENCE_ANSWERS)
def test_check_silence_names_each_kind_of_wrong_answer(
    answer: Any, kinds: list[str], points: float, says: str
) -> None:
    feedback = silencing.check_silence(answer, node=6)
    assert feedback.kinds() == kinds and feedback.points == points, str(feedback)
    assert says in str(feedback) and feedback.full_marks == (points == 2)
    assert feedback.max_points == silencing.SILENCE_POINTS


def test_check_silence_says_where_with_the_node() -> None:
    (miss,) = silencing.check_silence("alertname=HighCPUUsage node=7", node=6).findings
    assert (miss.kind, miss.node) == ("miss", 6)
    assert 'node="6"' in miss.hint  # the noisy alert's own labels


def test_check_silence_works_for_another_node() -> None:
    assert silencing.check_silence("alertname=HighCPUUsage node=9", node=9).full_marks
    assert silencing.check_silence("alertname=HighCPUUsage node=6", node=9).kinds() == ["miss"]


def test_the_catalogue_matches_the_lab_rules() -> None:
    rules = yaml.safe_load((REPO / "prometheus" / "rules" / "alerts.yml").read_text())
    seed = {
        r["alert"]: r["labels"]["severity"]
        for g in rules["groups"]
        for r in g["rules"]
        if "alert" in r
    }
    assert seed == silencing.seed_alerts()
    slos = slo_spec.load(slo_spec.LAB_SPEC)
    names = {s.alert_name: ("by (node)" in s.error_query) for s in slos}
    assert {name: per_node for name, (_, per_node) in silencing.slo_alerts().items()} == names
    assert silencing.slo_alerts()["NodeLatencyBudgetBurn"] == ("node-latency", True)
    alerts = silencing.lab_alerts(12)
    assert len(alerts) == 12 * 7 + 2 * (12 + 12 + 1 + 1)
    assert silencing.noisy_labels(6) in alerts


ROUTE_ANSWERS = [
    (None, ["not answered"], "Set `prediction`"),
    (["critical"], ["malformed"], "The prediction should be a receiver's name, as a string"),
    ("critical", [], 'Right: severity="critical" goes to critical'),
    (" critical ", [], "Right"),
    ("default", ["wrong value"], "Try the children of the root in order"),
    ("pager", ["wrong value"], "receivers are critical, default, warning"),
]


@pytest.mark.parametrize(("answer", "kinds", "says"), ROUTE_ANSWERS)
def test_check_route_grades_against_the_tree(answer: Any, kinds: list[str], says: str) -> None:
    tree = parse_routes((REPO / "alertmanager" / "alertmanager.yml").read_text())
    feedback = silencing.check_route(answer, {"severity": "critical"}, tree)
    assert feedback.kinds() == kinds and says in str(feedback), str(feedback)
    assert feedback.full_marks == (kinds == [])


def watched(silenced: bool, noisy: int) -> Any:
    import pandas as pd

    frame = pd.DataFrame(columns=["after_seconds", "receiver", "status", "alertname", "node"])
    frame.attrs.update(node=6, silenced=silenced, noisy=noisy)
    return frame


def test_held_says_whether_the_silence_held_the_same_way_every_time() -> None:
    assert silencing.held(watched(True, 0)) == (
        "the silence held: HighCPUUsage on node 6 suppressed, and no notification of it came"
    )
    assert silencing.held(watched(True, 1)) == (
        "the silence leaked: 1 notification of HighCPUUsage on node 6 came while it held"
    )
    assert silencing.held(watched(False, 2)).startswith("not silenced: Alertmanager holds")
