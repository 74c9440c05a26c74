"""Lesson 3's pieces: one incident, the seed's threshold alert against the SLO's burn-rate
alerts, measured and in theory; and a graded burn-rate exercise.

    compare_alerts(lab, node=2, failure="error_burst")   one row per alert
    grade_burn_rate(answer, error_ratio=0.02, objective=0.999)
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from labkit import slo
from labkit.panel import epoch, inject
from labkit.slo_spec import ALERT_WINDOWS, Profile, profile

if TYPE_CHECKING:
    import pandas as pd

    from labkit.lab import Lab

#: Which SLO of slo/edge.yml each failure burns, and the alert it pages with.
BURNS = {
    "error_burst": ("node-availability", "NodeAvailabilityBudgetBurn", 0.999),
    "latency_spike": ("node-latency", "NodeLatencyBudgetBurn", 0.99),
}


def theoretical(
    severity: str, error_ratio: float, objective: float, prof: Profile
) -> tuple[float, float]:
    """(detection seconds, budget share spent by then) of a burn-rate alert, the soonest of
    its window pairs, at a constant error ratio from a clean start."""
    best = (math.inf, math.inf)
    for short, long_, factor in ALERT_WINDOWS[severity]:
        alert = slo.BurnRateAlert(factor, prof.window(long_), prof.window(short), severity)
        seconds = alert.detection_seconds(error_ratio, objective)
        if seconds < best[0]:
            best = (
                seconds,
                alert.budget_spent_before_firing(error_ratio, objective, prof.period_seconds),
            )
    return best


def _first_active(
    lab: Lab, alertname: str, node: int, severity: str | None, since: float
) -> float | None:
    for alert in lab.prometheus_alerts():
        labels = alert["labels"]
        if labels["alertname"] != alertname or labels.get("node") != str(node):
            continue
        if severity and labels.get("sloth_severity") != severity:
            continue
        active = epoch(alert["activeAt"])
        if active >= since - 1:
            return active
    return None


def compare_alerts(
    lab: Lab,
    node: int,
    failure: str = "error_burst",
    wait_seconds: float = 45,
    slo_profile: str = "lab-day",
) -> pd.DataFrame:
    """Inject `failure` on `node`, watch the alerts for up to `wait_seconds`, recover; one row
    per alert: when it fired, when theory says it should, and the budget spent by then (as a
    share of the SLO period's budget)."""
    import pandas as pd

    if failure not in BURNS:
        from labkit.errors import InvalidInput

        raise InvalidInput(
            "failure", failure, "error_burst or latency_spike (the modes that burn an SLO)"
        )
    slo_name, burn_alert, objective = BURNS[failure]
    prof = profile(slo_profile)
    started = inject(lab, [node], failure, wait_seconds + 30).started_at[node]
    watch = {
        "ErrorBudgetBurn (seed, budget < 50 %)": ("ErrorBudgetBurn", None),
        f"{burn_alert} page": (burn_alert, "page"),
        f"{burn_alert} ticket": (burn_alert, "ticket"),
    }
    fired: dict[str, float] = {}
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline and len(fired) < len(watch):
        for row, (name, severity) in watch.items():
            if row not in fired:
                at = _first_active(lab, name, node, severity, started)
                if at is not None:
                    fired[row] = at - started
        time.sleep(0.5)
    window = f"{max(1, round(time.time() - started))}s"
    measured = lab.query(
        f'avg_over_time(slo:sli_error:ratio_rate10s{{sloth_slo="{slo_name}", node="{node}"}}'
        f"[{window}])"
    )
    lab.recover([node], failure)
    error_ratio = float(measured[0]["value"][1]) if measured else math.nan
    budget = 1 - objective
    rows = []
    for row, (_name, severity) in watch.items():
        seconds = fired.get(row)
        if severity is None:  # the node's gauge: a 99.9 % budget over its own 600 s window
            theory_s = (0.5 * 600 * 0.001) / error_ratio if failure == "error_burst" else math.inf
            theory_spent = error_ratio * theory_s / (budget * prof.period_seconds)
        else:
            theory_s, theory_spent = theoretical(severity, error_ratio, objective, prof)
        spent = (
            error_ratio * seconds / (budget * prof.period_seconds)
            if seconds is not None
            else math.nan
        )
        rows.append(
            {
                "alert": row,
                "fired after (s)": round(seconds, 1) if seconds is not None else None,
                "theory (s)": round(theory_s, 1) if math.isfinite(theory_s) else "never",
                "budget spent when it fired": spent,
                "budget spent, theory": theory_spent if math.isfinite(theory_spent) else None,
            }
        )
    table = pd.DataFrame(rows).set_index("alert")
    table.attrs["error_ratio"] = error_ratio
    return table


def grade_burn_rate(answer: float | None, error_ratio: float, objective: float) -> str:
    """Feedback on a computed burn rate: right, or what went wrong."""
    expected = slo.burn_rate(error_ratio, objective)
    if answer is None:
        return "Not answered yet: set `answer` to your burn rate and run the cell again."
    if isinstance(answer, bool) or not isinstance(answer, int | float):
        return f"The answer should be a number, such as 3.5; got {answer!r}."

    def near(x: float) -> bool:
        return math.isclose(answer, x, rel_tol=0.02)

    if near(expected):
        return (
            f"Right: {error_ratio:g} / (1 - {objective:g}) = {expected:g}. "
            f"The budget burns {expected:g}x too fast."
        )
    if near(error_ratio / objective):
        return "You divided by the objective; divide by the error budget, 1 - objective."
    if near(1 / expected):
        return "Upside down: the burn rate is the error ratio over the budget, not the other way."
    if near(expected * 100) or near(expected / 100):
        return "Off by 100: use ratios (0.02 and 0.999), not percentages."
    return (
        f"Not quite: {answer:g}. The burn rate is the error ratio divided by the error budget "
        f"(1 - objective)."
    )


def budget_figure(
    lab: Lab, node: int, minutes: float = 3, slo_name: str = "node-availability"
) -> Any:
    """The node's budget over the last minutes, two ways: the SLO's period budget remaining
    (recording rules) and the node's own 600 s gauge (what ErrorBudgetBurn reads)."""
    import plotly.graph_objects as go

    from labkit.query import Prom

    prom = Prom(lab.prometheus_url)
    end = time.time()
    start = end - 60 * minutes
    lines = {
        f"SLO {slo_name}: period budget remaining": (
            f'slo:period_error_budget_remaining:ratio{{sloth_slo="{slo_name}", node="{node}"}}'
        ),
        "node's error_budget_remaining (600 s window)": f'error_budget_remaining{{node="{node}"}}',
    }
    fig = go.Figure()
    for name, expr in lines.items():
        frame = prom.range(expr, start, end, step=1)
        fig.add_trace(go.Scatter(x=frame["timestamp"], y=frame["value"], mode="lines", name=name))
    fig.add_hline(
        y=0.5, line_dash="dot", line_color="red", annotation_text="ErrorBudgetBurn: below 50 %"
    )
    fig.update_yaxes(title_text="error budget remaining (share of the budget)")
    fig.update_xaxes(title_text="time (UTC)")
    fig.update_layout(
        title=f"Node {node}: the budget burning",
        template="plotly_white",
        height=420,
        legend={"orientation": "h", "y": -0.25},
    )
    return fig
