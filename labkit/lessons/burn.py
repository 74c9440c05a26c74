"""Lesson 3's pieces: one incident, the seed's threshold alert against the SLO's burn-rate
alerts, measured and in theory; and a graded burn-rate exercise.

    compare_alerts(lab, node=2, failure="error_burst")   one row per alert
    grade_burn_rate(answer, error_ratio=0.02, objective=0.999)

The maths are plain functions over plain values, through labkit.slo under any labkit.slo_spec
profile, tested without a lab: `Incident.theory` (when an alert should fire at an error ratio,
and the budget spent by then) and `comparison` (the table's rows). `clean_node`,
`burst_error_ratio`, `watch_alerts` and `compare_alerts` talk to the lab: inject, watch,
measure, recover.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from labkit import slo, slo_spec
from labkit.alerts import SeedAlert, watching
from labkit.errors import InvalidInput, LabkitError
from labkit.lessons.panel import inject
from labkit.model import ModelParams
from labkit.slo import budget_words
from labkit.slo_spec import ALERT_WINDOWS, SLO, WINDOWS, Profile, duration, profile, ratio_record
from labkit.words import epoch

if TYPE_CHECKING:
    import pandas as pd

    from labkit.lab import Lab
    from labkit.query import Prom


@dataclass(frozen=True)
class Burn:
    """What a failure mode burns: an SLO of slo/edge.yml (its alert and objective are the
    spec's), and whether the node's own budget gauge, which the seed's budget alert reads,
    counts it (it counts failed requests, not slow ones)."""

    slo_name: str
    node_budget: bool


BURNS = {
    "error_burst": Burn("node-availability", node_budget=True),
    "latency_spike": Burn("node-latency", node_budget=False),
}


# The maths: plain values in, plain values out.


@dataclass(frozen=True)
class NodeBudget:
    """A node's own budget gauge (labkit.model): 1 - `objective` of its requests over the last
    `window_seconds` may fail; the seed's alert fires below `alert_below` of it left."""

    objective: float
    window_seconds: float
    alert_below: float

    @classmethod
    def of(cls, alert: SeedAlert, params: ModelParams | None = None) -> NodeBudget:
        params = params or ModelParams()
        return cls(params.slo_target, params.budget_window_seconds, alert.threshold)

    def detection_seconds(self, error_ratio: float) -> float:
        """Seconds from a clean window to the alert at `error_ratio` (inf at none)."""
        left = 1 - self.alert_below  # the share spent when it fires
        return slo.time_to_exhaustion(error_ratio, self.objective, self.window_seconds, left)


@dataclass(frozen=True)
class Watched:
    """An alert the comparison watches: its row in the table, its name, and its
    `sloth_severity` (None for the seed's alert)."""

    row: str
    alertname: str
    severity: str | None = None


def watched(s: SLO, seed_alert: SeedAlert) -> tuple[Watched, ...]:
    """The seed's budget alert, then the SLO's alert at each severity."""
    seed_row = f"{seed_alert.name} (seed, budget < {seed_alert.threshold * 100:g} %)"
    return (
        Watched(seed_row, seed_alert.name),
        *(
            Watched(f"{s.alert_name} {severity}", s.alert_name, severity)
            for severity in ALERT_WINDOWS
        ),
    )


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


@dataclass(frozen=True)
class Incident:
    """A constant `error_ratio` (nan: not measured) against an SLO of `objective` under
    `prof`, from a clean start; `node_budget` when the node's own gauge counts it."""

    error_ratio: float
    objective: float
    prof: Profile
    node_budget: NodeBudget | None = None

    def spent(self, seconds: float) -> float:
        """The share of the SLO period's budget spent after `seconds` of it (nan if unknown,
        inf if never, 0 for an alert already active when it started)."""
        if math.isnan(self.error_ratio) or math.isnan(seconds):
            return math.nan
        if seconds == math.inf:
            return math.inf
        if seconds <= 0:
            return 0.0
        return slo.budget_consumed(
            self.error_ratio, seconds, self.objective, self.prof.period_seconds
        )

    def theory(self, watch: Watched) -> tuple[float, float]:
        """(seconds until `watch` fires, budget share spent by then): inf when it never
        does, nan when the error ratio is unknown."""
        if math.isnan(self.error_ratio):
            return math.nan, math.nan
        if watch.severity is not None:
            return theoretical(watch.severity, self.error_ratio, self.objective, self.prof)
        if self.node_budget is None:
            return math.inf, math.inf
        seconds = self.node_budget.detection_seconds(self.error_ratio)
        return seconds, self.spent(seconds)


def comparison(
    watches: Sequence[Watched], fired: Mapping[str, float], incident: Incident, wait_seconds: float
) -> list[dict[str, float | str]]:
    """One row per watched alert: when it fired (`fired`: row -> seconds after the start),
    when theory says it should, and the budget spent by each (display values)."""
    rows: list[dict[str, float | str]] = []
    for watch in watches:
        theory_s, theory_spent = incident.theory(watch)
        seconds = fired.get(watch.row)
        when = f"not within {wait_seconds:g} s" if seconds is None else round(seconds, 1)
        rows.append({
            "alert": watch.row,
            "fired after (s)": when,
            "theory (s)": _seconds(theory_s),
            "budget spent when it fired": _share(
                math.nan if seconds is None else incident.spent(seconds)
            ),
            "budget spent, theory": _share(theory_spent),
        })  # fmt: skip
    return rows


def _seconds(x: float) -> float | str:
    """Seconds for a table: rounded, "never" (inf) or "no data" (nan)."""
    if math.isnan(x):
        return "no data"
    return round(x, 1) if math.isfinite(x) else "never"


def _share(x: float) -> str:
    """A share of the period's budget, for a table: "2.0 %", or "-" when there is none."""
    return f"{x * 100:.1f} %" if math.isfinite(x) else "-"


def first_active(
    alerts: Iterable[Mapping[str, Any]], watch: Watched, node: int, since: float
) -> float | None:
    """When `watch` became active on `node`, from Prometheus' alerts, if since `since` (a
    second of clock skew allowed)."""
    times = [
        epoch(a["activeAt"])
        for a in alerts
        if a["labels"]["alertname"] == watch.alertname
        and a["labels"].get("node") == str(node)
        and (watch.severity is None or a["labels"].get("sloth_severity") == watch.severity)
    ]
    return min((t for t in times if t >= since - 1), default=None)


def first_clean(prefer: int, fleet: Iterable[int], unclean: Iterable[int]) -> int | None:
    """`prefer` if it is clean, else the lowest clean node of `fleet`; None if none is."""
    skip = set(unclean)
    nodes = [prefer, *sorted(n for n in fleet if n != prefer)]
    return next((n for n in nodes if n not in skip), None)


def burnt_query(s: SLO, prof: Profile, share: float = 0.2) -> str:
    """The nodes whose error ratio over the SLO's longest window (under `prof`, from the
    recording rule labkit.slo_spec generates for it) is above `share` of its budget."""
    longest = duration(prof.window(max(WINDOWS)))
    above = share * slo.error_budget(s.objective)
    return f'{ratio_record(longest)}{{sloth_slo="{s.name}"}} > {above!r}'


def ratio_query(s: SLO, window_seconds: int) -> str:
    """The SLI's error ratio over the last `window_seconds`, from the SLO's own queries (no
    recording rule: any window, whatever the profile)."""
    window = f"{window_seconds}s"
    return (
        f"({s.error_query.replace('{{.window}}', window)})"
        f" / ({s.total_query.replace('{{.window}}', window)})"
    )


# The lab: inject, watch, measure, recover.


def _burn(failure: str) -> Burn:
    if failure not in BURNS:
        raise InvalidInput(
            "failure", failure, "error_burst or latency_spike (the modes that burn an SLO)"
        )
    return BURNS[failure]


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
    s = _slo(_burn(failure).slo_name)
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

    burn = _burn(failure)
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
    period = _period_words(profile(lab.config.slo_profile if lab.config else "lab-day"))
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


def _period_words(prof: Profile) -> str:
    """A profile's SLO period as a title says it: "1-day", "6-hour", else "12h30m"."""
    for unit, name in ((slo.DAY, "day"), (slo.HOUR, "hour")):
        if (prof.period_seconds / unit).is_integer():
            return f"{prof.period_seconds / unit:g}-{name}"
    return duration(prof.period_seconds)
