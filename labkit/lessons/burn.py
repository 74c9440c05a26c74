"""Lesson 3's pieces: one incident, the seed's threshold alert against the SLO's burn-rate
alerts, measured and in theory; and a graded burn-rate exercise.

    compare_alerts(lab, node=2, failure="error_burst")   one row per alert
    agrees(table)                                        does it agree with theory? a sentence
    grade_burn_rate(answer, error_ratio=0.02, objective=0.999)

The maths are in labkit.lessons.burn_theory (plain values, tested without a lab); this module
talks to the lab: `clean_node`, `burst_error_ratio`, `watch_alerts` and `compare_alerts`
inject, watch, measure, recover; `budget_figure` and `budget_table` query and draw.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from labkit import slo_spec
from labkit.alerts import SeedAlert, watching
from labkit.errors import InvalidInput, LabkitError
from labkit.lessons.burn_theory import (
    BURNS,
    Incident,
    NodeBudget,
    Watched,
    burn_of,
    burnt_query,
    comparison,
    first_active,
    first_clean,
    grade_burn_rate,
    period_words,
    ratio_query,
    theoretical,
    verdict,
    watched,
)
from labkit.lessons.panel import inject
from labkit.slo import budget_words
from labkit.slo_spec import SLO, WINDOWS, Profile, duration, profile

__all__ = [  # the lesson's names; the maths are re-exported from burn_theory
    "BURNS",
    "agrees",
    "budget_figure",
    "budget_table",
    "burst_error_ratio",
    "clean_node",
    "compare_alerts",
    "grade_burn_rate",
    "theoretical",
    "theory_tolerance",
    "verdict",
    "watch_alerts",
]

if TYPE_CHECKING:
    import pandas as pd

    from labkit.lab import Lab
    from labkit.query import Prom


# The lab: inject, watch, measure, recover.


def _slo(name: str) -> SLO:
    return next(s for s in slo_spec.load(slo_spec.LAB_SPEC) if s.name == name)


def _profile(lab: Lab, name: str) -> Profile:
    """The profile `name`, if the lab's rules were generated with it (its windows are the
    rules' windows only then); a lab labkit did not start is taken at its word."""
    running = lab.config.slo_profile if lab.config is not None else name
    if running != name:
        raise InvalidInput(
            "slo_profile",
            name,
            f"the lab's own profile, {running!r}",
            f"Pass slo_profile={running!r}.",
        )
    return profile(name)


def clean_node(lab: Lab, failure: str, prefer: int, slo_profile: str = "lab-day") -> int:
    """A node whose SLO for `failure` starts clean: none of its alerts firing, and its error
    ratio over the SLO's longest window near rest (under a fifth of the budget), so theory's
    "constant error ratio from a clean start" holds. `prefer` first, then 1, 2, 3, ...
    An earlier run of the lesson leaves its node burnt for that long: a rerun takes another."""
    s = _slo(burn_of(failure).slo_name)
    prof = _profile(lab, slo_profile)
    burnt = {int(r["metric"]["node"]) for r in lab.query(burnt_query(s, prof))}
    firing = {int(a["labels"].get("node") or 0) for a in lab.prometheus_alerts()}
    fleet = [int(t["node"]) for t in lab.targets() if t["node"]]
    node = first_clean(prefer, fleet, burnt | firing)
    if node is None:
        raise LabkitError(
            f"every node has an alert firing or burnt its {s.name} SLO within the last "
            f"{duration(prof.window(max(WINDOWS)))} (the SLO's longest window), so none starts "
            "clean. Wait for the alerts to resolve, or start a new lab (`labkit down`, remove "
            ".lab/prometheus/data, `labkit up`)."
        )
    return node


def burst_error_ratio(lab: Lab, slo_name: str, node: int, started: float) -> float:
    """The SLI's error ratio over the incident so far, from the SLO's own queries over a window
    that starts after the injection (never before it): what each request of the incident
    risked, the number theory takes. nan when there is none yet."""
    now = time.time()
    window = math.floor(now - started) - 1  # whole seconds inside the incident
    if window < 2:
        return math.nan
    result = lab.query(ratio_query(_slo(slo_name), window), at=now)
    rows = [r for r in result if r["metric"].get("node") == str(node)]
    return float(rows[0]["value"][1]) if rows else math.nan


def watch_alerts(
    lab: Lab, watches: Sequence[Watched], node: int, started: float, deadline: float
) -> dict[str, float]:
    """Poll Prometheus' alerts until each of `watches` fired on `node` or `deadline` passed:
    row -> seconds from `started` to its activation."""
    fired: dict[str, float] = {}
    while time.time() < deadline and len(fired) < len(watches):
        alerts = lab.prometheus_alerts()
        for watch in watches:
            at = None if watch.row in fired else first_active(alerts, watch, node, started)
            if at is not None:
                fired[watch.row] = at - started
        time.sleep(0.5)
    return fired


def compare_alerts(
    lab: Lab,
    node: int | None = None,
    failure: str = "error_burst",
    wait_seconds: float = 60,
    slo_profile: str = "lab-day",
    prefer: int = 2,
) -> pd.DataFrame:
    """Inject `failure` on `node` (default: `clean_node`, `prefer` first), watch the alerts
    until each fired or `wait_seconds` passed, measure the incident's error ratio, recover;
    one row per alert: when it fired, when theory says it should at that error ratio, and the
    budget spent by then (a share of the SLO period's budget). `attrs` holds the node, the
    injection time and the error ratio."""
    import pandas as pd

    burn = burn_of(failure)
    s = _slo(burn.slo_name)
    prof = _profile(lab, slo_profile)
    if node is None:
        node = clean_node(lab, failure, prefer, slo_profile)
    seed_alert = watching("error_budget_remaining")
    watches = watched(s, seed_alert)
    started = inject(lab, [node], failure, wait_seconds + 30).started_at[node]
    try:
        fired = watch_alerts(lab, watches, node, started, deadline=started + wait_seconds)
        if time.time() < started + 5:  # enough of the incident to measure its error ratio
            time.sleep(started + 5 - time.time())
        error_ratio = burst_error_ratio(lab, s.name, node, started)
    finally:
        lab.recover([node], failure)
    incident = Incident(
        error_ratio, s.objective, prof, NodeBudget.of(seed_alert) if burn.node_budget else None
    )
    table = pd.DataFrame(comparison(watches, fired, incident, wait_seconds)).set_index("alert")
    table.attrs.update(
        node=node, failure=failure, started=started, error_ratio=error_ratio,
        wait_seconds=wait_seconds, fired=fired,
    )  # fmt: skip
    return table


def theory_tolerance(slo_profile: str = "lab-day") -> float:
    """How far a measured alert may be from theory: one short window of the profile (10 s
    under lab-day, the step at which the short window's rate moves) plus 2 s for a scrape, a
    rule evaluation and the recording rules the alert reads."""
    prof = profile(slo_profile)
    return slo_spec.parse_duration(duration(prof.window(min(WINDOWS))), "window") + 2


def agrees(table: pd.DataFrame, slo_profile: str = "lab-day") -> str:
    """Whether `compare_alerts`' table agrees with theory, within `theory_tolerance`, in a
    sentence that is the same on every run that does (the lesson's check, which nbval
    compares on every run)."""
    return verdict(table, theory_tolerance(slo_profile))


def budget_table(prom: Prom, window: str = "2m") -> pd.DataFrame:
    """`slo_check.recompute` with the node's budget in words ("spent 4.2x its budget", never
    a negative share)."""
    from labkit.slo_check import recompute

    columns = ["requests", "errors", "pandas_error_ratio", "recorded_error_ratio",
               "node_budget_remaining", "why_they_differ"]  # fmt: skip
    table = recompute(prom, window=window).round(4)[columns]
    table["node_budget_remaining"] = table["node_budget_remaining"].map(
        lambda x: budget_words(x) if x == x else "no data"
    )
    return table


def budget_figure(
    lab: Lab,
    node: int,
    since: float | None = None,
    slo_name: str = "node-availability",
    minutes: float = 3,
) -> Any:
    """The node's budget around an incident (from 30 s before `since`, default the last
    `minutes`, to now), two ways, each on its own scale: the SLO's period budget remaining
    (recording rules, over the period of the lab's profile) and the node's own gauge (over
    its last 600 s, what the seed's budget alert reads), which a burst overspends many times
    over. 0 is "budget gone"; the last value is said in words ("spent 4.2x its budget")."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from labkit.query import Prom

    prom = Prom(lab.prometheus_url)
    end = time.time()
    start = since - 30 if since is not None else end - 60 * minutes
    seed_alert = watching("error_budget_remaining")
    period = period_words(profile(lab.config.slo_profile if lab.config else "lab-day"))
    gauge = NodeBudget.of(seed_alert)
    panels = [
        (f"SLO {slo_name}: the {period} period's budget left",
         f'slo:period_error_budget_remaining:ratio{{sloth_slo="{slo_name}", node="{node}"}}'),
        (f"the node's own {gauge.window_seconds:g} s budget, spent "
         f"(what {seed_alert.name} reads; log scale)",
         f'1 - error_budget_remaining{{node="{node}"}}'),
    ]  # fmt: skip
    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.16,
        subplot_titles=[title for title, _ in panels],
    )  # fmt: skip
    for row, (title, expr) in enumerate(panels, start=1):
        frame = prom.range(expr, start, end, step=1)
        values = frame["value"].tolist() if len(frame) else []
        # spent, in budgets (0.5 = the seed's alert, 1 = gone, 15 = overspent 15x), on a log
        # scale: the node's budget always; the period's budget once it is overspent (a lab
        # without a past), never as a negative share left
        spent = row == 2 or (len(values) > 0 and min(values) <= 0)
        if row == 1 and spent:
            values = [1 - v for v in values]
            fig.layout.annotations[0].text = f"SLO {slo_name}: the {period} period's budget, spent"
        if spent:
            values = [max(v, 0.01) for v in values]
        fig.add_trace(
            go.Scatter(x=frame["timestamp"] if len(frame) else [], y=values, mode="lines",
                       name=title.split(":")[0], showlegend=False),
            row=row, col=1,
        )  # fmt: skip
        if spent:
            _spent_axis(fig, row, values, seed_alert if row == 2 else None)
        else:
            _left_axis(fig, row, values)
        if len(values):
            last = float(values[-1])
            fig.add_annotation(x=frame["timestamp"].iloc[-1],
                               y=math.log10(last) if spent else last,
                               text=budget_words(1 - last if spent else last),
                               showarrow=True, arrowhead=2, ax=-80,
                               ay=25 if row == 2 else -25, row=row, col=1)  # fmt: skip
    if since is not None:
        fig.add_vline(x=since * 1000, line_dash="dash", line_color="gray")
    fig.update_xaxes(title_text="time (UTC)", row=2, col=1)
    fig.update_layout(title=f"Node {node}: the budget burning", template="plotly_white",
                      height=560, showlegend=False, margin={"t": 90})  # fmt: skip
    return fig


def _left_axis(fig: Any, row: int, values: list[float]) -> None:
    """A budget left, a slice of a large one: zoom on it, 100 % at the top."""
    low = min(values) if len(values) else 0.0
    bottom = max(0.0, low - max(0.05, 0.5 * (1 - low))) if low > 0.25 else min(0.0, low)
    fig.update_yaxes(range=[bottom, 1.0], tickformat=".0%", title_text="budget left",
                     row=row, col=1)  # fmt: skip


def _spent_axis(fig: Any, row: int, values: list[float], seed_alert: SeedAlert | None) -> None:
    """A budget spent, in budgets on a log scale, with a line at 1x (gone) and, for the
    node's own budget, at the seed's alert."""
    high = max([1.0, *values])
    ticks = [
        t
        for t in (0.01, 0.1, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 10_000)
        if t <= 2 * high
    ]
    fig.update_yaxes(type="log", range=[-2, math.log10(2 * high)], tickvals=ticks,
                     ticktext=[f"{t:g}x" for t in ticks],
                     title_text="budgets spent", row=row, col=1)  # fmt: skip
    lines: list[tuple[float, str, str, str]] = [(1.0, "1x: budget gone", "solid", "black")]
    if seed_alert is not None:
        at = 1 - seed_alert.threshold
        lines.append((at, f"{at:g}x: {seed_alert.name} fires", "dot", "red"))
    for y, text, dash, colour in lines:
        fig.add_hline(y=y, line_dash=dash, line_color=colour, line_width=1,
                      row=row, col=1)  # fmt: skip
        # on a log axis an annotation's y is the exponent (plotly's convention)
        fig.add_annotation(x=0, xref="x domain", y=math.log10(y), text=text,
                           showarrow=False, xanchor="left", yanchor="bottom",
                           font={"color": colour, "size": 11}, row=row, col=1)  # fmt: skip


def check_page_alert(expr: object, directory: object) -> Any:
    """The exercise: the page alert `expr` replayed over the recording in `directory`
    (alert-quality, one sample a second) and graded by burn_theory.grade_page_alert."""
    from pathlib import Path

    from labkit.lessons import review
    from labkit.lessons.burn_theory import PAGE_ALERT_POINTS, grade_page_alert

    problem = review.rule_answer_problem(expr, 0.0, PAGE_ALERT_POINTS)
    if problem is not None:
        return problem
    assert isinstance(expr, str)
    return grade_page_alert(expr, review.replay_rule(expr, 0.0, Path(str(directory))))
