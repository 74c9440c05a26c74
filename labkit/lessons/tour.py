"""What lesson 1 (notebooks/01_fleet_tour.ipynb) looks at, as plain functions over a Prom.

snapshot(prom)          one row per node: the seed's metrics now
quiet_window(prom)      the latest minutes with no fault in them: the fleet at rest, on any run
recent(prom, minutes)   the frames the lesson's figures need, over the last minutes
at_rest(frames)         whether every charted series stayed on the quiet side of its threshold
break_two(lab)          the lesson's drill: a CPU spike and an error burst on two nodes at rest
check_latency_query(answer, directory)   the exercise, graded on a recording (one-of-each)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from labkit.alerts import intended, watching
from labkit.errors import LabkitError
from labkit.lessons import grading

if TYPE_CHECKING:
    import pandas as pd

    from labkit.lab import Lab
    from labkit.query import Prom

#: The seed's eight metrics: (type, unit, what it is), in the seed's order.
SEED_METRICS: dict[str, tuple[str, str, str]] = {
    "node_cpu_usage_percent": ("gauge", "%", "simulated CPU usage, 10-85 % with drift"),
    "node_memory_usage_percent": ("gauge", "%", "simulated memory usage, 20-75 % with drift"),
    "node_request_latency_seconds": ("histogram", "s", "request latency, log-normal"),
    "node_requests_total": ("counter", "requests", "requests served, by status"),
    "node_uptime_seconds": ("gauge", "s", "time since the node (re)started"),
    "node_error_rate": ("gauge", "ratio", "share of requests failing now"),
    "reliability_score": ("gauge", "ratio", "weighted composite of errors, latency, saturation"),
    "error_budget_remaining": ("gauge", "ratio", "99.9 % SLO budget left over 600 s"),
}

#: One PromQL expression per snapshot column (a value per node).
SNAPSHOT: dict[str, str] = {
    "cpu_percent": "node_cpu_usage_percent",
    "memory_percent": "node_memory_usage_percent",
    "p95_latency_seconds": "histogram_quantile(0.95, sum by (node, le) "
    "(rate(node_request_latency_seconds_bucket[30s])))",
    "requests_per_second": "sum by (node) (rate(node_requests_total[30s]))",
    "uptime_seconds": "node_uptime_seconds",
    "error_rate": "node_error_rate",
    "reliability_score": "reliability_score",
    "error_budget_remaining": "error_budget_remaining",
}


def snapshot(prom: Prom, at: float | None = None) -> pd.DataFrame:
    """One row per node, one column per seed metric (rates over the last 30 s)."""
    import pandas as pd

    at = time.time() if at is None else at
    columns = {}
    for name, expr in SNAPSHOT.items():
        frame = prom.instant(expr, at=at)
        columns[name] = (
            frame.set_index(frame["node"].astype(int))["value"]
            if len(frame)
            else pd.Series(dtype=float)
        )
    table = pd.DataFrame(columns).sort_index()
    table.index.name = "node"
    return table


def recent(
    prom: Prom, minutes: float = 5, end: float | None = None, step: float = 1.0
) -> dict[str, pd.DataFrame]:
    """cpu, memory, errors, quantiles (p50/p95/p99), alerts (firing) and faults (injected)."""
    import pandas as pd

    end = time.time() if end is None else end
    start = end - 60 * minutes
    quantiles = []
    for q in (0.5, 0.95, 0.99):
        frame = prom.range(
            f"histogram_quantile({q}, sum by (le) "
            "(rate(node_request_latency_seconds_bucket[30s])))",
            start,
            end,
            step,
        )
        quantiles.append(frame.assign(quantile=str(q)))
    return {
        "cpu": prom.range("node_cpu_usage_percent", start, end, step),
        "memory": prom.range("node_memory_usage_percent", start, end, step),
        "errors": prom.range("node_error_rate", start, end, step),
        "quantiles": pd.concat(quantiles, ignore_index=True),
        "alerts": prom.range('ALERTS{alertstate="firing"}', start, end, step),
        "faults": prom.range("labkit_fault_active == 1", start, end, step),
    }


#: Seconds after a fault (or a node down) before the fleet counts as at rest again: the
#: figures' rates read the last 30 s, and a crashed node's counters restart.
QUIET_MARGIN = 60.0
#: How far back `quiet_window` looks for quiet minutes, and in steps of how many seconds.
QUIET_LOOKBACK_HOURS = 6.0
QUIET_STEP = 15.0


@dataclass(frozen=True)
class Window:
    """A stretch of the lab's time: [start, end] in Unix seconds, and whether it is quiet (no
    fault injected and no node down in it, nor in the `QUIET_MARGIN` before it)."""

    start: float
    end: float
    quiet: bool = True

    def __str__(self) -> str:
        def at(t: float) -> str:
            return datetime.fromtimestamp(t, UTC).strftime("%H:%M:%S")

        minutes = (self.end - self.start) / 60
        span = f"{at(self.start)} to {at(self.end)} UTC ({minutes:.3g} min)"
        if not self.quiet:
            return (
                f"{span}: the lab has no quiet stretch that long in its last "
                f"{QUIET_LOOKBACK_HOURS:g} h, so these are the last minutes, faults and all"
            )
        ago = (time.time() - self.end) / 60
        when = "ending now" if ago < 1 else f"ending {ago:.0f} min ago"
        return f"{span}, {when}: no fault injected and no node down, nor in the minute before"


def quiet_window(
    prom: Prom,
    minutes: float = 5,
    end: float | None = None,
    lookback_hours: float = QUIET_LOOKBACK_HOURS,
) -> Window:
    """The latest `minutes` ending at or before `end` (default now) with no fault injected and
    no node down, in them or in the `QUIET_MARGIN` before: the fleet at rest, whatever an
    earlier run of a lesson injected. On a fresh lab, the last `minutes`. With no such stretch
    in the last `lookback_hours`, the last `minutes`, marked not quiet."""
    end = time.time() if end is None else end
    earliest = end - 3600 * lookback_hours
    step = QUIET_STEP
    busy: list[float] = []  # each stamp t: a fault or a node down somewhere in (t - step, t]
    for expr in (
        f"max(max_over_time(labkit_fault_active[{step:g}s])) == 1",
        f'min(min_over_time(up{{job="edge-nodes"}}[{step:g}s])) == 0',
    ):
        frame = prom.range(expr, earliest, end + step, step)
        busy += (frame["timestamp"].astype("int64") / 1e9).tolist() if len(frame) else []
    recorded = prom.range("count(node_cpu_usage_percent)", earliest, end, step)
    origin = recorded["timestamp"].min().timestamp() if len(recorded) else end
    return quiet_in(busy, end, 60 * minutes, max(earliest, origin), step)


def quiet_in(busy: list[float], end: float, width: float, origin: float, step: float) -> Window:
    """`quiet_window`'s choice, over plain numbers: `busy` are the stamps t at which a fault
    or a node down was seen in (t - step, t]; the window of `width` seconds ends as late as it
    can up to `end`, clear of each of them by `QUIET_MARGIN` before it; it may not start
    before `origin` (the lab's first data) once it had to step back."""
    stop = end
    for stamp in sorted(busy, reverse=True):
        if stamp <= stop - width - QUIET_MARGIN:
            break  # this one and all before it end before the window and its margin begin
        stop = min(stop, stamp - step)  # the window must end before this busy stretch
    if stop < end and stop - width - QUIET_MARGIN < origin:
        return Window(end - width, end, quiet=False)
    return Window(stop - width, stop)


def at_rest(frames: dict[str, pd.DataFrame]) -> str:
    """One sentence on `recent`'s frames: did every series the figures draw stay on the quiet
    side of its alert's threshold (CPU, memory and error ratio per node, the fleet's p95)? A
    crossing is named with its node and its worst value."""
    quantiles = frames["quantiles"]
    checks = [
        ("node_cpu_usage_percent", frames["cpu"], 1.0, "%"),
        ("node_memory_usage_percent", frames["memory"], 1.0, "%"),
        ("node_request_latency_seconds_bucket", quantiles[quantiles["quantile"] == "0.95"], 1.0,
         "s"),
        ("node_error_rate", frames["errors"], 100.0, "%"),
    ]  # fmt: skip
    labels, crossed = [], []
    for metric, frame, scale, unit in checks:
        alert = watching(metric)
        label = alert.label(scale=scale, unit=unit)
        labels.append(label)
        over = frame[alert.breached(frame["value"])]
        if len(over):
            worst = over.loc[over["value"].idxmax() if alert.comparison[0] == ">"
                             else over["value"].idxmin()]  # fmt: skip
            where = f" on node {worst['node']}" if "node" in over.columns else " for the fleet"
            crossed.append(f"{label} crossed{where} ({worst['value'] * scale:.3g} {unit})")
    if crossed:
        return "not at rest: " + "; ".join(crossed)
    return (
        "at rest: every series stayed on the quiet side of its threshold ("
        + ", ".join(labels)
        + ")"
    )


#: How soon the drill's alerts must fire: one scrape and one evaluation take about 1 s at rest;
#: the rest is room for a busy laptop.
DRILL_WITHIN = 5.0
#: Nodes the drill prefers (the lesson's text names them), then any other node at rest.
DRILL_NODES = {"cpu_spike": 2, "error_burst": 4}


def nodes_at_rest(lab: Lab) -> list[int]:
    """Nodes with no fault injected, no alert pending or firing, and at least 90 % of their
    error budget left: a drill there starts from a clean slate, whatever ran before."""
    busy: set[str] = set()
    for promql in (
        "ALERTS",
        "labkit_fault_active == 1",
        "error_budget_remaining < 0.9",
    ):
        busy.update(r["metric"].get("node", "") for r in lab.query(promql))
    return [n for n in sorted(lab.fleet.node_ids("all")) if str(n) not in busy]


@dataclass(frozen=True)
class Drill:
    """Lesson 1's two faults: where, when and for how long."""

    cpu_node: int
    error_node: int
    started: float
    seconds: float

    def __str__(self) -> str:
        at = datetime.fromtimestamp(self.started, UTC).strftime("%H:%M:%S UTC")
        return (
            f"cpu_spike on node {self.cpu_node} and error_burst on node {self.error_node}, "
            f"injected at {at} for {self.seconds:g} s"
        )

    def frames(self, prom: Prom) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(firing alerts, injected faults) of the drill's two nodes, from 3 s before it: an
        earlier run's alerts and faults stay out of the picture."""
        nodes = f'node=~"{self.cpu_node}|{self.error_node}"'
        start, end = self.started - 3, time.time()
        return (
            prom.range(f'ALERTS{{alertstate="firing", {nodes}}}', start, end, 1.0),
            prom.range(f"labkit_fault_active{{{nodes}}} == 1", start, end, 1.0),
        )

    def check(self, prom: Prom, within: float = DRILL_WITHIN) -> str:
        """One sentence: did each fault fire the alert meant for it, on its node, within
        `within` seconds of the injection? A miss or a late alert is named."""
        return self.verdict(self.frames(prom)[0], within)

    def verdict(self, alerts: pd.DataFrame, within: float = DRILL_WITHIN) -> str:
        """`check` over the firing alerts' frame (`ALERTS` over the drill)."""
        said, problems = [], []
        for node, failure in ((self.cpu_node, "cpu_spike"), (self.error_node, "error_burst")):
            name = intended(failure)
            said.append(name)
            mine = (
                alerts[(alerts["alertname"] == name) & (alerts["node"] == str(node))]
                if len(alerts)
                else alerts
            )
            if not len(mine):
                problems.append(f"{name} has not fired on node {node}")
                continue
            after = mine["timestamp"].min().timestamp() - self.started
            if after > within:
                problems.append(f"{name} fired on node {node} {after:.1f} s after its fault")
        if problems:
            return f"not within {within:g} s: " + "; ".join(problems)
        return f"each fault fired the alert meant for it within {within:g} s: " + " and ".join(said)


def break_two(lab: Lab, seconds: float = 15) -> Drill:
    """Inject a CPU spike and an error burst on two nodes at rest (nodes 2 and 4 on a fresh
    lab; a rerun moves on while node 4 still carries the first run's budget alert)."""
    calm = nodes_at_rest(lab)
    chosen: list[int] = []
    for failure, preferred in DRILL_NODES.items():
        options = [n for n in calm if n not in chosen]
        if not options:
            raise LabkitError(
                f"no node is at rest for the {failure} drill: every node has a fault, an "
                "alert or a spent budget. Run lab.recover('all') and try again in a few "
                "minutes (a node's budget window is 600 s)."
            )
        chosen.append(preferred if preferred in options else options[0])
    started = time.time()
    lab.inject(chosen[0], "cpu_spike", seconds)
    lab.inject(chosen[1], "error_burst", seconds)
    return Drill(chosen[0], chosen[1], started, seconds)


# -- the exercise: a query of each node's p99 latency, graded on a recording -----------------------

LATENCY_QUERY_POINTS = 3.0
LATENCY_WHAT = "each node's p99 request latency over the last minute, in seconds"
#: The right query, and known wrong ones whose values the grader recognises.
LATENCY_RIGHT = (
    "histogram_quantile(0.99, sum by (node, le) (rate(node_request_latency_seconds_bucket[1m])))"
)
LATENCY_LOOKALIKES = {
    "the p95": LATENCY_RIGHT.replace("0.99", "0.95"),
    "the median (p50)": LATENCY_RIGHT.replace("0.99", "0.5"),
    "a 30 s range": LATENCY_RIGHT.replace("[1m]", "[30s]"),
    "a 2 m range": LATENCY_RIGHT.replace("[1m]", "[2m]"),
    "a 5 m range": LATENCY_RIGHT.replace("[1m]", "[5m]"),
}
#: The recorded window it is graded over: minutes 7 to 12 of one-of-each (a latency spike on
#: node 3 at minute 9), every 15 s.
LATENCY_WINDOW_MINUTES = (7.0, 12.0)


def grade_latency_query(
    answer: pd.DataFrame | str | None,
    expected: pd.DataFrame,
    lookalikes: dict[str, pd.DataFrame],
    origin: float,
) -> grading.Feedback:
    """The exercise, pure: the answer's range result (or Prometheus' error) against the right
    query's over the same window (`origin`: the recording's start, for minutes)."""
    return grading.grade_values(answer, expected, origin=origin, what=LATENCY_WHAT,
                                max_points=LATENCY_QUERY_POINTS,
                                alternatives=lookalikes)  # fmt: skip


def check_latency_query(answer: object, directory: object) -> grading.Feedback:
    """The exercise: `answer` (PromQL) run over the recording in `directory` (one-of-each,
    written by labkit.lessons.review.ensure) beside the right query, then graded. Starts the
    recording's replay Prometheus if none serves it, and stops it after."""
    from pathlib import Path

    from labkit import replay
    from labkit.errors import QueryError
    from labkit.query import Prom
    from labkit.recording import HistoryInfo

    if answer is None or (isinstance(answer, str) and not answer.strip()):
        return grading.not_answered(LATENCY_QUERY_POINTS, f"Set `answer` to a PromQL query: "
                                    f"{LATENCY_WHAT}.")  # fmt: skip
    if not isinstance(answer, str):
        return grading.wrong(LATENCY_QUERY_POINTS, "Not yet: `answer` is not PromQL.",
                             grading.Finding("malformed", f"`answer` is a PromQL text, in "
                                             f"quotes; got {answer!r}."))  # fmt: skip
    directory = Path(str(directory))
    info = HistoryInfo.load(directory)
    start, end = (info.start + 60 * m for m in LATENCY_WINDOW_MINUTES)
    started = replay.running_url(directory) is None
    prom = Prom(replay.start(directory))
    try:
        expected = prom.range(LATENCY_RIGHT, start, end, info.step_seconds)
        lookalikes = {k: prom.range(q, start, end, info.step_seconds)
                      for k, q in LATENCY_LOOKALIKES.items()}  # fmt: skip
        given: pd.DataFrame | str
        try:
            given = prom.range(answer, start, end, info.step_seconds)
        except QueryError as exc:
            given = exc.message
    finally:
        if started:
            replay.stop(directory)
    return grade_latency_query(given, expected, lookalikes, info.start)
