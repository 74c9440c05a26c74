"""The graders' wrappers on real recordings: the learner's query or rule run on the recording's
replay Prometheus (real promtool, real Prometheus), then graded. The right answers are the
lessons' solutions (nbval runs them too); here, the wrong answers that only Prometheus can
tell: a query it refuses, a rule that fires too late or all the time. Each wrapper leaves no
replay running that it started."""

from __future__ import annotations

from pathlib import Path

import pytest

from labkit import replay
from labkit.lessons import burn, review, tour

pytestmark = [pytest.mark.live, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("recordings")
    names = ("one-of-each", "alert-quality", "quiet-day", "bad-afternoon")
    return {n: review.ensure(review.SCENARIOS / f"{n}.yml", root / n) for n in names}


def test_the_latency_query_on_one_of_each(recordings: dict[str, Path]) -> None:
    d = recordings["one-of-each"]
    assert tour.check_latency_query(tour.LATENCY_RIGHT, d).full_marks
    refused = tour.check_latency_query("histogram_quantile(0.99, sum by (node, le) (", d)
    assert refused.kinds() == ["malformed"] and "parse error" in str(refused)
    fleet = tour.check_latency_query(tour.LATENCY_RIGHT.replace("node, le", "le"), d)
    assert fleet.kinds() == ["malformed"] and "no `node` label" in str(fleet)
    p95 = tour.check_latency_query(tour.LATENCY_LOOKALIKES["the p95"], d)
    assert p95.kinds() == ["wrong value"] and "the p95" in p95.findings[0].hint
    assert replay.running_url(d) is None


def test_the_page_alert_on_alert_quality(recordings: dict[str, Path]) -> None:
    d = recordings["alert-quality"]
    ratio = (
        'sum by (node) (rate(node_requests_total{status="error"}[W]))'
        " / sum by (node) (rate(node_requests_total[W])) > 14.4 * 0.001"
    )
    page = f"({ratio.replace('W', '2m')}) and ({ratio.replace('W', '10s')})"
    assert burn.check_page_alert(page, d).full_marks
    long_only = burn.check_page_alert(ratio.replace("W", "2m"), d)
    assert long_only.kinds() == ["late", "late"] and long_only.points == 3
    assert {f.node for f in long_only.findings} == {9, 10}
    assert "still fires" in long_only.findings[0].what
    assert burn.check_page_alert("sum(", d).kinds() == ["malformed"]
    assert replay.running_url(d) is None


def test_the_memory_rule_on_alert_quality_and_quiet_day(recordings: dict[str, Path]) -> None:
    both = [recordings["alert-quality"], recordings["quiet-day"]]
    assert review.check_faster_rule("node_memory_usage_percent > 75", 0, both).full_marks
    seed = review.check_faster_rule("node_memory_usage_percent > 85", 0, both)
    assert seed.kinds() == ["late", "late"] and [f.node for f in seed.findings] == [5, 6]
    assert "fires 8 s after the memory_leak starts; the goal is 7 s" in seed.findings[0].what
    low = review.check_faster_rule("node_memory_usage_percent > 60", 0, both)
    assert {f.recording for f in low.findings} == {"alert-quality", "quiet-day"}
    assert set(low.kinds()) == {"false alarm"} and low.points == 2
    assert all(replay.running_url(d) is None for d in both)


def test_the_incident_on_bad_afternoon(recordings: dict[str, Path]) -> None:
    d = recordings["bad-afternoon"]
    assert review.check_incident({"nodes": [2, 9], "start": 13, "end": 23}, d).full_marks
    late = review.check_incident({"nodes": [2, 9], "start": 16, "end": 23}, d)
    assert late.kinds() == ["wrong value"] and late.points == 3
