"""Lesson 3's grader and its maths, without a lab, under every SLO profile (the live
comparison runs in tests/test_past_live.py and in lesson 3 under nbval)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from labkit import slo_spec
from labkit.alerts import watching
from labkit.errors import InvalidInput
from labkit.lessons import burn
from labkit.lessons.burn_theory import (
    BURNS,
    Incident,
    NodeBudget,
    burnt_query,
    comparison,
    first_active,
    first_clean,
    grade_burn_rate,
    period_words,
    ratio_query,
    theoretical,
    watched,
)
from labkit.slo_spec import ALERT_WINDOWS, PERIOD_SECONDS, Profile, profile
from labkit.stack import LabConfig

PROFILES = sorted(slo_spec.PROFILES)
SEED = watching("error_budget_remaining")
SPEC = {s.name: s for s in slo_spec.load(slo_spec.LAB_SPEC)}
COLUMNS = ["alert", "fired after (s)", "theory (s)", "budget spent when it fired",
           "budget spent, theory"]  # fmt: skip


@pytest.fixture(params=PROFILES)
def prof(request: pytest.FixtureRequest) -> Profile:
    """Every profile labkit names, as is: the maths hold for any period, even one whose
    windows are too short for a lab's scrapes (`profile` refuses those at 1 s scrapes)."""
    return slo_spec.PROFILES[request.param]


def simulated(
    pairs: list[tuple[float, float, float]], error_ratio: float, budget: float, step: float
) -> float:
    """When a multi-window alert fires, stepping time from a clean start: each window's
    average of a constant error ratio is error_ratio x min(t, window) / window (constant
    once every window is full: never, if it has not fired by then)."""
    t = 0.0
    while t <= max(long_ for _, long_, _ in pairs):
        t += step
        for short, long_, factor in pairs:
            if all(error_ratio * min(t, w) / w > factor * budget for w in (short, long_)):
                return t
    return math.inf


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (20, "Right"),
        (20.2, "Right"),
        (None, "Not answered yet"),
        ("20", "should be a number"),
        (0.02 / 0.999, "divided by the objective"),
        (0.05, "Upside down"),
        (2000, "Off by 100"),
        (7, "Not quite"),
    ],
)
def test_the_grader_says_what_is_wrong(answer: object, words: str) -> None:
    assert words in grade_burn_rate(answer, error_ratio=0.02, objective=0.999)  # type: ignore[arg-type]


def test_theory_for_the_lab_day_page_at_30_percent_errors() -> None:
    seconds, spent = theoretical("page", 0.3, 0.999, profile("lab-day"))
    assert seconds == pytest.approx(120 * 0.0144 / 0.3)  # the 2 m window, scaled from 1 h
    assert spent == pytest.approx(0.02)  # 14.4 x 1 h / 30 days, as in the Workbook
    assert theoretical("page", 0.001, 0.999, profile("lab-day")) == (math.inf, math.inf)


@pytest.mark.parametrize(
    ("severity", "long_seconds", "factor", "spent"),
    [("page", 3600, 14.4, 0.02), ("ticket", 86400, 3.0, 0.10)],
)
def test_theory_scales_with_the_profile_and_spends_the_workbooks_share(
    prof: Profile, severity: str, long_seconds: float, factor: float, spent: float
) -> None:
    scale = prof.period_seconds / (30 * 86400)
    seconds, share = theoretical(severity, 0.3, 0.999, prof)
    assert seconds == pytest.approx(long_seconds * scale * factor * 0.001 / 0.3)
    assert share == pytest.approx(spent)  # factor x long window / period, whatever the period


@pytest.mark.parametrize("error_ratio", [0.0025, 0.05, 0.3, 1.0])
@pytest.mark.parametrize("objective", [0.999, 0.99])
def test_theory_agrees_with_the_windows_stepped_through(
    prof: Profile, error_ratio: float, objective: float
) -> None:
    budget = 1 - objective
    for severity, pairs in ALERT_WINDOWS.items():
        scaled = [(prof.window(s), prof.window(lng), f) for s, lng, f in pairs]
        step = prof.window(min(slo_spec.WINDOWS)) / 100
        want = simulated(scaled, error_ratio, budget, step)
        seconds, spent = theoretical(severity, error_ratio, objective, prof)
        if math.isinf(want):
            assert (seconds, spent) == (math.inf, math.inf), severity
        else:
            assert seconds == pytest.approx(want, abs=step), severity
            assert spent == pytest.approx(error_ratio * seconds / (budget * prof.period_seconds))


def test_the_page_fires_before_the_ticket_in_error_bursts_range(prof: Profile) -> None:
    for error_ratio in (0.2, 0.35, 0.5):  # error_burst's documented range
        page, ticket = (theoretical(sev, error_ratio, 0.999, prof)[0] for sev in ALERT_WINDOWS)
        assert page < ticket


def test_the_node_budget_alert_is_the_seeds_over_the_models_window(prof: Profile) -> None:
    gauge = NodeBudget.of(SEED)
    assert (gauge.objective, gauge.window_seconds, gauge.alert_below) == (0.999, 600.0, 0.5)
    # half of 0.1 % of 600 s of traffic is gone after 1 s at 30 % errors, whatever the profile
    incident = Incident(0.3, 0.999, prof, gauge)
    seconds, spent = incident.theory(watched(SPEC["node-availability"], SEED)[0])
    assert seconds == pytest.approx(0.5 * 600 * 0.001 / 0.3)
    assert spent == pytest.approx(0.3 * seconds / (0.001 * prof.period_seconds))
    assert gauge.detection_seconds(0.0) == math.inf
    # an alert below 20 % left fires once 80 % is spent
    assert NodeBudget(0.99, 300, 0.2).detection_seconds(0.5) == pytest.approx(
        0.8 * 300 * 0.01 / 0.5
    )


@pytest.mark.parametrize("failure", sorted(BURNS))
def test_the_comparison_table_under_every_profile(prof: Profile, failure: str) -> None:
    s = SPEC[BURNS[failure].slo_name]
    watches = watched(s, SEED)
    assert [w.severity for w in watches] == [None, "page", "ticket"]
    gauge = NodeBudget.of(SEED) if BURNS[failure].node_budget else None
    incident = Incident(0.3, s.objective, prof, gauge)
    page_s, page_spent = incident.theory(watches[1])
    rows = comparison(watches, {watches[1].row: page_s}, incident, wait_seconds=60)
    assert [list(r) for r in rows] == [COLUMNS] * 3
    seed_row, page, ticket = rows
    assert page["fired after (s)"] == round(page_s, 1) == page["theory (s)"]
    assert page["budget spent when it fired"] == page["budget spent, theory"]
    assert page["budget spent, theory"] == f"{page_spent * 100:.1f} %"
    assert page_spent == pytest.approx(14.4 * 3600 / PERIOD_SECONDS)  # 2.0 %, any profile
    assert ticket["fired after (s)"] == "not within 60 s"
    assert ticket["budget spent when it fired"] == "-"
    assert ticket["theory (s)"] == round(incident.theory(watches[2])[0], 1)
    if failure == "error_burst":
        assert seed_row["theory (s)"] == pytest.approx(1.0)
    else:  # the node's budget counts failed requests, not slow ones
        assert (seed_row["theory (s)"], seed_row["budget spent, theory"]) == ("never", "-")


def test_an_error_ratio_not_measured_is_no_number(prof: Profile) -> None:
    s = SPEC["node-availability"]
    watches = watched(s, SEED)
    incident = Incident(math.nan, s.objective, prof, NodeBudget.of(SEED))
    rows = comparison(watches, {watches[0].row: 2.0}, incident, wait_seconds=60)
    assert [r["theory (s)"] for r in rows] == ["no data"] * 3
    assert {r["budget spent, theory"] for r in rows} == {"-"}
    assert rows[0]["budget spent when it fired"] == "-"
    assert rows[0]["fired after (s)"] == 2.0


def test_an_alert_active_from_the_start_spent_nothing(prof: Profile) -> None:
    incident = Incident(0.3, 0.999, prof)
    assert incident.spent(-0.5) == 0.0
    assert incident.spent(math.inf) == math.inf
    assert incident.spent(10.0) == pytest.approx(0.3 * 10 / (0.001 * prof.period_seconds))


def test_the_lessons_queries_name_rules_the_profile_generates(prof: Profile) -> None:
    try:
        profile(prof.name)
    except InvalidInput:  # no rules under it, and no lab either: the lesson never meets it
        with pytest.raises(InvalidInput, match="profile"):
            LabConfig(slo_profile=prof.name)
        return
    slos = list(SPEC.values())
    rules = [r for g in slo_spec.generate(slos, prof)["groups"] for r in g["rules"]]
    records = {(r["record"], r["labels"].get("sloth_slo")) for r in rules if "record" in r}
    alerts = {(r["alert"], r["labels"]["sloth_severity"]) for r in rules if "alert" in r}
    for what in BURNS.values():
        s = SPEC[what.slo_name]
        query = burnt_query(s, prof)
        assert (query.split("{")[0], s.name) in records, query
        assert float(query.rsplit(">", 1)[1]) == pytest.approx(0.2 * (1 - s.objective))
        for watch in watched(s, SEED)[1:]:
            assert (watch.alertname, watch.severity) in alerts


def test_the_incidents_ratio_is_read_from_the_slos_own_queries() -> None:
    s = SPEC["node-availability"]
    query = ratio_query(s, 17)
    assert "{{.window}}" not in query
    assert query == (
        '(sum by (node) (rate(node_requests_total{status="error"}[17s])))'
        " / (sum by (node) (rate(node_requests_total[17s])))"
    )


def test_an_alert_counts_from_its_own_node_severity_and_incident() -> None:
    def alert(name: str, node: str, at: str, severity: str | None = None) -> dict[str, object]:
        labels = {"alertname": name, "node": node}
        if severity:
            labels["sloth_severity"] = severity
        return {"labels": labels, "activeAt": at}

    page = watched(SPEC["node-availability"], SEED)[1]
    since = 1_700_000_000.0  # 2023-11-14T22:13:20Z
    alerts = [
        alert(page.alertname, "2", "2023-11-14T22:13:30Z", "ticket"),  # another severity
        alert(page.alertname, "3", "2023-11-14T22:13:25Z", "page"),  # another node
        alert(page.alertname, "2", "2023-11-14T22:10:00Z", "page"),  # before the incident
        alert(page.alertname, "2", "2023-11-14T22:13:27.5Z", "page"),
    ]
    assert first_active(alerts, page, 2, since) == since + 7.5
    assert first_active(alerts[:3], page, 2, since) is None
    assert first_active(alerts, page, 2, since + 9) is None  # a second of skew, no more


def test_a_clean_node_prefers_the_preferred_then_the_lowest() -> None:
    assert first_clean(2, [1, 2, 3, 4], unclean=set()) == 2
    assert first_clean(2, [4, 3, 2, 1], unclean={2}) == 1
    assert first_clean(2, [1, 2, 3, 4], unclean={1, 2}) == 3
    assert first_clean(2, [1, 2], unclean={1, 2}) is None


#: every profile's period as the budget figure's title says it (a new profile needs a line)
PERIOD_WORDS = {"production": "30-day", "lab-day": "1-day", "12h30m": "12h30m"}


@pytest.mark.parametrize("name", [*PROFILES, "12h30m"])
def test_the_figure_names_the_profiles_period(name: str) -> None:
    prof = slo_spec.PROFILES.get(name) or profile(name)
    assert period_words(prof) == PERIOD_WORDS[name]


# -- the lesson's own check: measured against theory --------------------------------------------


def measured(page: float | str, ticket: float | str, ratio: float = 0.31,
             failure: str = "error_burst") -> Any:  # fmt: skip
    import pandas as pd

    table = pd.DataFrame([
        {"alert": "ErrorBudgetBurn (seed, budget < 50 %)", "fired after (s)": 0.9,
         "theory (s)": "no data"},
        {"alert": "NodeAvailabilityBudgetBurn page", "fired after (s)": page, "theory (s)": 6.0},
        {"alert": "NodeAvailabilityBudgetBurn ticket", "fired after (s)": ticket,
         "theory (s)": 28.0},
    ]).set_index("alert")  # fmt: skip
    table.attrs.update(wait_seconds=60, failure=failure, error_ratio=ratio)
    return table


def test_a_run_that_agrees_with_theory_says_so_the_same_way_every_time() -> None:
    assert burn.theory_tolerance("lab-day") == 12
    for page, ticket in ((8.1, 31.0), (2.0, 39.5)):
        assert burn.agrees(measured(page, ticket)) == (
            "agrees with theory: the page and the ticket fired within 12 s of their theoretical "
            "times, the page first; the error ratio was within error_burst's 20-50 %"
        )


def test_each_disagreement_is_named() -> None:
    said = burn.agrees(measured(19.0, "not within 60 s", ratio=0.102))
    assert said.startswith("disagrees with theory: ")
    assert "NodeAvailabilityBudgetBurn page fired after 19 s (theory 6 s)" in said
    assert "NodeAvailabilityBudgetBurn ticket did not fire within 60 s (theory 28 s)" in said
    assert "the burst's error ratio was 10.2 %, outside 20-50 %" in said
    assert "the ticket fired before the page" in burn.agrees(measured(9.0, 8.0))


def test_an_alert_theory_says_fires_after_the_watch_may_stay_silent() -> None:
    table = measured(8.0, "not within 50 s", failure="latency_spike")
    table.attrs["wait_seconds"] = 50
    table.loc["NodeAvailabilityBudgetBurn ticket", "theory (s)"] = 45.0  # within 12 s of the end
    said = (
        "agrees with theory: the page fired within 12 s of its theoretical time; the ticket, "
        "due after the 50 s watch, did not fire in it"
    )
    assert burn.agrees(table) == said
    table.loc["NodeAvailabilityBudgetBurn ticket", "theory (s)"] = 127.3  # lesson 3's spike
    assert burn.agrees(table) == said
    table.loc["NodeAvailabilityBudgetBurn ticket", "theory (s)"] = "never"
    assert burn.agrees(table) == said
