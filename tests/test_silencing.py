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
    # (answer, how the verdict starts, a phrase it must contain)
    (None, "Not answered yet", "set `answer`"),
    ("  ", "Not answered yet", "set `answer`"),
    ("alertname=HighCPUUsage node=6", "Right", "nothing else"),
    ('{alertname="HighCPUUsage", node="6"}', "Right", "nothing else"),
    (["alertname=HighCPUUsage", 'node="6"'], "Right", "nothing else"),
    ('alertname=~"HighCPU.*" node=~"6"', "Right", "nothing else"),
    ("alertname=HighCPUUsage node=6 severity=warning job=edge-nodes", "Right", "nothing else"),
    (
        "alertname=HighCPUUsage",
        "Not yet",
        "HighCPUUsage on nodes 1, 2, 3, 4, 5 and more: pin the node",
    ),
    (
        'alertname=HighCPUUsage node=~"6|7"',
        "Not yet",
        "HighCPUUsage on node 7: pin the node (1 other alert in all)",
    ),
    ("node=6", "Not yet", "name the alert"),
    ("severity=warning node=6", "Not yet", "LowReliabilityScore on node 6"),
    ('alertname=~"High.*" node=6', "Not yet", "HighErrorRate on node 6"),
    ('alertname=HighCPUUsage node!="7"', "Not yet", "pin the node"),
    ("alertname=HighCPUUsage node=7", "Not yet", "does not silence the noisy alert"),
    (
        "alertname=HighCPUUsage node=6 severity=critical",
        "Not yet",
        "does not silence the noisy alert",
    ),
    ('alertname=HighCPUUsage instance="127.0.0.1:8006"', "Almost", "node label"),
    ("node=~(6", "Not yet", "regular expression of node=~ must be"),
    ('node!="7"', "Not yet", "at least one matcher that an empty label does not satisfy"),
    ("alertname", "Not yet", "matchers must be written as"),
]


@pytest.mark.parametrize(("answer", "starts", "says"), SILENCE_ANSWERS)
def test_check_silence_says_what_else_the_matchers_silence(
    answer: Any, starts: str, says: str
) -> None:
    verdict = silencing.check_silence(answer, node=6)
    assert verdict.startswith(starts) and says in verdict, verdict


def test_check_silence_works_for_another_node() -> None:
    assert silencing.check_silence("alertname=HighCPUUsage node=9", node=9).startswith("Right")
    assert silencing.check_silence("alertname=HighCPUUsage node=6", node=9).startswith("Not yet")


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
    (None, "Not answered yet"),
    (["critical"], "The prediction should be a receiver's name, as a string"),
    ("critical", 'Right: severity="critical" goes to critical'),
    (" critical ", "Right"),
    ("default", "Not yet: try the children of the root in order"),
    ("pager", "Not yet: 'pager' is not one of this tree's receivers (critical, default, warning)"),
]


@pytest.mark.parametrize(("answer", "starts"), ROUTE_ANSWERS)
def test_check_route_grades_against_the_tree(answer: Any, starts: str) -> None:
    tree = parse_routes((REPO / "alertmanager" / "alertmanager.yml").read_text())
    assert silencing.check_route(answer, {"severity": "critical"}, tree).startswith(starts)
