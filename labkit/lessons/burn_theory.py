"""Lesson 3's maths, plain values in and out, through labkit.slo under any labkit.slo_spec
profile, tested without a lab (labkit.lessons.burn does the talking to the lab):

    Incident(...).theory(watch)   when an alert should fire at an error ratio, the budget spent
    comparison(...)               the table's rows: measured against theory
    verdict(table, tolerance)     whether that table agrees with theory, in one sentence
    grade_burn_rate(answer, error_ratio=0.02, objective=0.999)
    grade_page_alert(expr, run)   the exercise's burn-rate page alert, over its replayed firings
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from labkit import slo
from labkit.alerts import SeedAlert
from labkit.errors import InvalidInput
from labkit.lessons import grading
from labkit.model import BURST_ERROR_RANGE, ModelParams
from labkit.slo_spec import SEVERITIES, SLO, Profile, duration, ratio_record, window_into
from labkit.words import epoch

if TYPE_CHECKING:
    import pandas as pd

    from labkit.recording import HistoryInfo


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
        *(Watched(f"{s.alert_name} {severity}", s.alert_name, severity) for severity in SEVERITIES),
    )


def theoretical(
    severity: str, error_ratio: float, objective: float, prof: Profile
) -> tuple[float, float]:
    """(detection seconds, budget share spent by then) of a burn-rate alert, the soonest of
    its window pairs, at a constant error ratio from a clean start."""
    best = (math.inf, math.inf)
    for short, long_, factor in prof.alert_windows[severity]:
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
    longest = duration(prof.window(max(prof.window_seconds)))
    above = share * slo.error_budget(s.objective)
    return f'{ratio_record(longest)}{{sloth_slo="{s.name}"}} > {above!r}'


def ratio_query(s: SLO, window_seconds: int) -> str:
    """The SLI's error ratio over the last `window_seconds`, from the SLO's own queries (no
    recording rule: any window, whatever the profile)."""
    window = f"{window_seconds}s"
    return f"({window_into(s.error_query, window)}) / ({window_into(s.total_query, window)})"


def burn_of(failure: str) -> Burn:
    if failure not in BURNS:
        raise InvalidInput(
            "failure", failure, "error_burst or latency_spike (the modes that burn an SLO)"
        )
    return BURNS[failure]


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


def period_words(prof: Profile) -> str:
    """A profile's SLO period as a title says it: "1-day", "6-hour", else "12h30m"."""
    for unit, name in ((slo.DAY, "day"), (slo.HOUR, "hour")):
        if (prof.period_seconds / unit).is_integer():
            return f"{prof.period_seconds / unit:g}-{name}"
    return duration(prof.period_seconds)


PAGE_ALERT_POINTS = 4.0
PAGE_GOAL_SECONDS = 10.0  # from the burst's start to the page
PAGE_STOP_SECONDS = 30.0  # from the burst's end to the page's end


def grade_page_alert(
    expr: str, run: tuple[pd.DataFrame, pd.DataFrame, HistoryInfo] | str
) -> grading.Feedback:
    """The exercise, pure: a page alert for node-availability (99.9 % of a node's requests
    succeed) under lab-day, replayed over a recording (`run`: its firings, faults and
    history.json, or Prometheus' error). It reads the SLI's counters, pages within
    PAGE_GOAL_SECONDS of every error_burst, stops within PAGE_STOP_SECONDS of its end, and
    pages for nothing else."""
    if isinstance(run, str):
        return grading.wrong(
            PAGE_ALERT_POINTS,
            "Not yet: Prometheus refused `expr`.",
            grading.Finding(
                "malformed",
                f"Prometheus says: {run}",
                hint="Try each half of the `and` as a query.",
            ),
        )
    if "node_requests_total" not in expr:
        return grading.wrong(PAGE_ALERT_POINTS, "Not yet: this is not the SLO's burn rate.",
                             grading.Finding(
                                 "malformed", "The rule does not read the SLI's counters, "
                                 "node_requests_total.",
                                 hint="The SLI is failed requests over all requests, each a "
                                 "rate() of node_requests_total over a window."))  # fmt: skip
    firings, faults, info = run
    found = grading.alert_findings(
        firings, faults, failure="error_burst", goal_seconds=PAGE_GOAL_SECONDS,
        origin=info.start, controls=info.controls, resolve_goal_seconds=PAGE_STOP_SECONDS,
        recording=info.name)  # fmt: skip
    feedback = grading.grade_firings([found], max_points=PAGE_ALERT_POINTS, failure="error_burst")
    if firings.empty or firings["node"].notna().all():
        return feedback
    fleet = grading.Finding(
        "malformed", "some pages have no node label: node-availability is per node, and a page "
        "should say which node.", hint="Keep `node` in every sum's by (...).")  # fmt: skip
    return grading.wrong(
        PAGE_ALERT_POINTS,
        "Not yet: pages without a node.",
        fleet,
        *feedback.findings,
        points=min(feedback.points, PAGE_ALERT_POINTS / 2),
    )


def _range() -> str:
    low, high = BURST_ERROR_RANGE
    return f"{low * 100:g}-{high * 100:g} %"


def _slo_rows(table: pd.DataFrame) -> Iterator[tuple[str, str, float | str, float | str]]:
    """`compare_alerts`' SLO rows (the seed's alert left out): (row, severity, fired after
    (s), theory (s))."""
    for alert, row in table.iterrows():
        severity = str(alert).rsplit(" ", 1)[-1]
        if severity in SEVERITIES:
            yield str(alert), severity, row["fired after (s)"], row["theory (s)"]


def disagreements(table: pd.DataFrame, tolerance: float) -> list[str]:
    """Where `compare_alerts`' table disagrees with theory: an SLO alert that fired more than
    `tolerance` seconds from its theoretical time, or not within the watch though theory says
    it should have; a ticket that fired before its page. The seed's budget alert is not an
    SLO alert and has no theory to meet."""
    wait = table.attrs["wait_seconds"]
    problems = []
    fired: dict[str, float] = {}
    for alert, severity, measured, theory in _slo_rows(table):
        theory_s = math.inf if theory == "never" else float(theory)
        if isinstance(measured, str):  # did not fire within the watch
            if theory_s < wait - tolerance:
                problems.append(f"{alert} did not fire within {wait:g} s (theory {theory_s:g} s)")
            continue
        fired[severity] = measured
        if abs(measured - theory_s) > tolerance:
            problems.append(f"{alert} fired after {measured:g} s (theory {theory:g} s)")
    if "page" in fired and "ticket" in fired and fired["page"] > fired["ticket"]:
        problems.append("the ticket fired before the page")
    if table.attrs.get("failure") == "error_burst":
        low, high = BURST_ERROR_RANGE
        ratio = table.attrs["error_ratio"]
        if not low <= ratio <= high:
            problems.append(f"the burst's error ratio was {ratio * 100:.1f} %, outside {_range()}")
    return problems


def verdict(table: pd.DataFrame, tolerance: float) -> str:
    """`disagreements` in one sentence, the same on every run that agrees with theory: which
    SLO alerts fired within `tolerance` of theory (the page first, if both did), and which,
    due after the watch, rightly did not fire in it."""
    problems = disagreements(table, tolerance)
    if problems:
        return "disagrees with theory: " + "; ".join(problems)
    fired: list[str] = []
    silent: list[str] = []
    for _, severity, measured, _ in _slo_rows(table):
        (silent if isinstance(measured, str) else fired).append(f"the {severity}")
    said = []
    if fired:
        both = len(fired) > 1
        said.append(f"{' and '.join(fired)} fired within {tolerance:g} s of "
                    f"{'their theoretical times' if both else 'its theoretical time'}"
                    + (", the page first" if both and "the page" in fired else ""))  # fmt: skip
    if silent:
        wait = table.attrs["wait_seconds"]
        said.append(f"{' and '.join(silent)}, due after the {wait:g} s watch, did not fire in it")
    if table.attrs.get("failure") == "error_burst":
        said.append(f"the error ratio was within error_burst's {_range()}")
    return "agrees with theory: " + "; ".join(said)
