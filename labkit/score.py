"""Alert quality, scored against the faults that were actually injected.

    board = score_history("runs/one-of-each")    # replays both rule sets, scores them
    board.rules     # per rule: firings, false alerts, precision, false alerts in control periods
    board.modes     # per rule and failure mode: recall, time to detect, time to resolve
    print(board.text())

The definitions (the same in the CLI, the lessons and the tests):

- Ground truth is the injection journal: one fault per (node, failure) from its injection to
  its expiry or recovery. `labkit_fault_active` carries the same facts in the TSDB; `check`
  compares the two.
- A firing *detects* a fault when it is on the fault's node (or carries no node label: a
  fleet-wide alert) and starts within [fault start, fault end + grace). The grace (default
  60 s, or 4 evaluation steps if longer) lets rate windows catch up with a short fault.
- A firing is *true* if it detects some fault, of any mode; otherwise it is a false alert.
  Precision = true firings / firings. A false alert that starts inside a control period is
  also counted there: control periods are promised quiet.
- Recall of a rule for a mode = faults of that mode it detected / faults of that mode.
- Time to detect = first detecting firing - fault start; on a live recording, time to
  notify = first matching `firing` notification at the receiver - fault start.
  Time to resolve = that firing's resolution - fault end (None while still firing).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labkit.alert_replay import Rule, load_rules, parse_rules, replay, spans
from labkit.alerts import INTENDED
from labkit.errors import InvalidInput
from labkit.failures import FAILURE_MODES
from labkit.journal import read_journal
from labkit.recording import HistoryInfo
from labkit.stack import PROJECT
from labkit.words import plural

if TYPE_CHECKING:
    import pandas as pd

    from labkit.query import Prom

REPLAY_TIMEOUT = 300.0  # seconds per range query: long windows over a week are slow
SEED_RULES = PROJECT / "prometheus" / "rules" / "alerts.yml"
SLO_SPEC = PROJECT / "slo" / "edge.yml"
FAULT_COLUMNS = ["node", "failure", "start", "end"]


def default_grace(step: float) -> float:
    return max(60.0, 4 * step)


def slo_profile_for(step: float) -> str:
    """The SLO profile whose shortest window still spans 4 evaluation steps."""
    from labkit.slo_spec import profile

    lab_day = profile("lab-day")
    return "lab-day" if lab_day.window(300.0) >= 4 * step else "production"


def rule_sets(step: float, profile: str | None = None) -> dict[str, list[Rule]]:
    """The two rule sets labkit ships: the seed's thresholds and the SLO burn-rate alerts
    (generated from slo/edge.yml at `profile`, by default one that suits `step`)."""
    from labkit import slo_spec

    prof = slo_spec.profile(profile or slo_profile_for(step))
    slo_text = slo_spec.render(slo_spec.load(SLO_SPEC), prof, str(SLO_SPEC))
    return {"seed": load_rules(SEED_RULES), f"slo:{prof.name}": parse_rules(slo_text)}


def faults_from_journal(events: list[dict[str, Any]], end: float) -> pd.DataFrame:
    """One row per fault: node (str), failure, start and end (epoch seconds)."""
    import pandas as pd

    open_: dict[tuple[str, str], list[float]] = {}
    rows = []
    for e in sorted(events, key=lambda e: e["ts"]):
        key = (str(e["node"]), str(e["failure"]))
        if e["event"] == "inject":
            if key in open_:  # a restart: the same fault, a later planned end
                open_[key][1] = float(e.get("ends_at", end))
            else:
                open_[key] = [float(e["ts"]), float(e.get("ends_at", end))]
        elif e["event"] in ("expire", "recover") and key in open_:
            start, _planned = open_.pop(key)
            rows.append((*key, start, float(e["ts"])))
    rows += [(*key, start, min(planned, end)) for key, (start, planned) in open_.items()]
    frame = pd.DataFrame(rows, columns=FAULT_COLUMNS)
    return frame.sort_values(["start", "node"], ignore_index=True)


def faults_from_metrics(prom: Prom, start: float, end: float, step: float) -> pd.DataFrame:
    """The same from `labkit_fault_active == 1` (a crashed node is not scraped, so node_crash
    shows there only as the gap in its other series: use the journal for crashes)."""
    import pandas as pd

    frame = prom.range("labkit_fault_active == 1", start, end, step)
    rows = [
        (labels["node"], labels["failure"], active, resolved if resolved is not None else end)
        for labels, active, _, resolved in spans(frame, start, end, step)
    ]
    out = pd.DataFrame(rows, columns=FAULT_COLUMNS)
    return out.sort_values(["start", "node"], ignore_index=True)


@dataclass
class Score:
    """A scoreboard: `rules` and `modes` are DataFrames; `text()` prints them."""

    rules: pd.DataFrame
    modes: pd.DataFrame
    faults: pd.DataFrame
    firings: pd.DataFrame
    grace_seconds: float
    notes: list[str] = field(default_factory=list)

    def best(self) -> pd.DataFrame:
        """Per rule set and failure mode: the rule with the best recall, then fastest."""
        m = self.modes[self.modes["detected"] > 0]
        if m.empty:
            return m
        ranked = m.sort_values(
            ["rule_set", "failure", "recall", "detect_s"], ascending=[True, True, False, True]
        )
        return ranked.groupby(["rule_set", "failure"], sort=False).head(1).reset_index(drop=True)

    def text(self) -> str:
        lines = []
        for rule_set, rules in self.rules.groupby("rule_set", sort=False):
            lines.append(f"rule set {rule_set}")
            lines.append(
                f"  {'alert':<32} {'firings':>7} {'false':>5} {'precision':>9} "
                f"{'false in control':>16}"
            )
            for r in rules.itertuples():
                precision = "-" if math.isnan(r.precision) else f"{r.precision:.2f}"
                lines.append(
                    f"  {r.alertname:<32} {r.firings:>7} {r.false_alerts:>5} "
                    f"{precision:>9} {r.control_false_alerts:>16}"
                )
            modes = self.modes[(self.modes["rule_set"] == rule_set) & (self.modes["detected"] > 0)]
            if not modes.empty:
                lines.append(
                    f"  {'alert':<32} {'failure':<14} {'recall':>7} {'detect':>8} "
                    f"{'notify':>8} {'resolve':>8}"
                )
                for m in modes.itertuples():
                    lines.append(
                        f"  {m.alertname:<32} {m.failure:<14} {m.detected}/{m.faults:<5} "
                        f"{_s(m.detect_s):>8} {_s(m.notify_s):>8} {_s(m.resolve_s):>8}"
                    )
            lines.append("")
        missed = [
            f"{f.failure} on node {f.node} at +{f.offset:g} s"
            for f in self.faults.itertuples()
            if not f.detected_by
        ]
        lines.append(
            f"{plural(len(self.faults), 'fault')} (grace {self.grace_seconds:g} s); "
            f"undetected by every rule: {', '.join(missed) or 'none'}"
        )
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _s(x: float) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.0f}s"


def _median(xs: list[float]) -> float:
    import statistics

    return statistics.median(xs) if xs else math.nan


def score(
    firings: pd.DataFrame,
    faults: pd.DataFrame,
    *,
    end: float,
    controls: tuple[tuple[float, float], ...] = (),
    grace_seconds: float = 60.0,
    notifications: list[dict[str, Any]] | None = None,
    rule_names: dict[str, list[str]] | None = None,
    origin: float | None = None,
) -> Score:
    """Score firing intervals (as `alert_replay.replay` gives them) against `faults`.
    `rule_names` lists each rule set's rules, so rules that never fired are scored too."""
    import pandas as pd

    if grace_seconds < 0:
        raise InvalidInput("grace_seconds", grace_seconds, "0 or more seconds")
    names = {k: list(dict.fromkeys(v)) for k, v in (rule_names or {}).items()}
    for rs, name in firings[["rule_set", "alertname"]].drop_duplicates().itertuples(index=False):
        names.setdefault(rs, [])
        if name not in names[rs]:
            names[rs].append(name)
    fault_list = list(faults.itertuples(index=False))

    def detects(node: Any, fired: float, f: Any) -> bool:
        return bool((node is None or node == f.node) and f.start <= fired < f.end + grace_seconds)

    rule_rows, mode_rows = [], []
    detected_by: dict[int, list[str]] = {i: [] for i in range(len(fault_list))}
    for rule_set, rules in names.items():
        for name in rules:
            mine = firings[(firings["rule_set"] == rule_set) & (firings["alertname"] == name)]
            items = [
                (
                    None if pd.isna(x.node) else str(x.node),
                    float(x.fired_at),
                    None if pd.isna(x.resolved_at) else float(x.resolved_at),
                )
                for x in mine.itertuples()
            ]
            true = sum(any(detects(n, t, f) for f in fault_list) for n, t, _ in items)
            in_control = sum(
                1
                for n, t, _ in items
                if not any(detects(n, t, f) for f in fault_list)
                and any(a <= t < b for a, b in controls)
            )
            rule_rows.append(
                {
                    "rule_set": rule_set,
                    "alertname": name,
                    "firings": len(items),
                    "false_alerts": len(items) - true,
                    "precision": true / len(items) if items else math.nan,
                    "control_false_alerts": in_control,
                }
            )
            for mode in FAILURE_MODES:
                of_mode = [(i, f) for i, f in enumerate(fault_list) if f.failure == mode]
                if not of_mode:
                    continue
                ttd, resolve, notify = [], [], []
                for i, f in of_mode:
                    hits = [(t, r) for n, t, r in items if detects(n, t, f)]
                    hits.sort(key=lambda h: h[0])
                    if not hits:
                        continue
                    detected_by[i].append(f"{rule_set}/{name}")
                    t, r = hits[0]
                    ttd.append(t - f.start)
                    if r is not None:
                        resolve.append(r - f.end)
                    sent = [
                        float(x["ts"])
                        for x in notifications or []
                        if x.get("status") == "firing"
                        and x.get("alertname") == name
                        and detects(x.get("node"), float(x["ts"]), f)
                    ]
                    if sent:
                        notify.append(min(sent) - f.start)
                mode_rows.append(
                    {
                        "rule_set": rule_set,
                        "alertname": name,
                        "failure": mode,
                        "intended": INTENDED[mode] == name,
                        "faults": len(of_mode),
                        "detected": len(ttd),
                        "recall": len(ttd) / len(of_mode),
                        "detect_s": _median(ttd),
                        "notify_s": _median(notify),
                        "resolve_s": _median(resolve),
                    }
                )
    origin = origin if origin is not None else (faults["start"].min() if len(faults) else 0.0)
    faults_out = faults.assign(
        offset=faults["start"] - origin,
        detected_by=[detected_by[i] for i in range(len(fault_list))],
    )
    rule_frame = pd.DataFrame(
        rule_rows,
        columns=[
            "rule_set",
            "alertname",
            "firings",
            "false_alerts",
            "precision",
            "control_false_alerts",
        ],
    )
    mode_frame = pd.DataFrame(
        mode_rows,
        columns=[
            "rule_set",
            "alertname",
            "failure",
            "intended",
            "faults",
            "detected",
            "recall",
            "detect_s",
            "notify_s",
            "resolve_s",
        ],
    )
    return Score(rule_frame, mode_frame, faults_out, firings, grace_seconds)


def score_history(
    directory: Path | str,
    prom: Prom | None = None,
    *,
    sets: dict[str, list[Rule]] | None = None,
    step: float | None = None,
    grace_seconds: float | None = None,
    port: int | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> Score:
    """Replay the rule sets over a recorded history (starting its replay Prometheus if
    needed) and score them. By default: the seed's rules and the SLO burn-rate rules.
    `progress(share, note)` hears of each rule as it is replayed (long windows over a long
    history take a while: the SLO rules over a week at 15 s, about 2.5 minutes)."""
    from labkit import replay as replay_mod
    from labkit.query import Prom

    directory = replay_mod.resolve(directory)
    info = HistoryInfo.load(directory)
    started = False
    if prom is None:  # serve it for the scoring; stop it after unless it was already running
        started = replay_mod.running_url(directory) is None
        prom = Prom(replay_mod.start(directory, port=port), timeout=REPLAY_TIMEOUT)
    try:
        return _score_on(prom, directory, info, sets, step, grace_seconds, progress)
    finally:
        if started:
            replay_mod.stop(directory)


def _score_on(
    prom: Prom,
    directory: Path,
    info: HistoryInfo,
    sets: dict[str, list[Rule]] | None,
    step: float | None,
    grace_seconds: float | None,
    progress: Callable[[float, str], None] | None = None,
) -> Score:
    import pandas as pd

    step = step or info.step_seconds
    if not step > 0:
        raise InvalidInput("step", step, "a positive number of seconds")
    sets = sets if sets is not None else rule_sets(step)
    todo = [(name, rule) for name, rules in sets.items() for rule in rules]
    frames = []
    for i, (name, rule) in enumerate(todo):
        if progress is not None:
            progress(i / len(todo), f"replaying {name}/{rule.name} ({i + 1}/{len(todo)})")
        frames.append(replay(prom, [rule], info.start, info.end, step, rule_set=name))
    if progress is not None:
        progress(1.0, f"replayed {plural(len(todo), 'rule')}")
    firings = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    events = list(read_journal(directory / "journal.jsonl"))
    notes = list(read_journal(directory / "notifications.jsonl"))
    board = score(
        firings,
        faults_from_journal(events, info.end),
        end=info.end,
        controls=info.controls,
        grace_seconds=grace_seconds if grace_seconds is not None else default_grace(step),
        notifications=notes or None,
        rule_names={name: [r.name for r in rules] for name, rules in sets.items()},
        origin=info.start,
    )
    board.notes += blind_rules(sets, step)
    return board


def blind_rules(sets: dict[str, list[Rule]], step: float) -> list[str]:
    """Rules that cannot fire at this evaluation step: a range shorter than two steps holds
    at most one sample, and rate() needs two."""
    notes = []
    for name, rules in sets.items():
        for r in rules:
            shortest = r.shortest_range()
            if shortest is not None and shortest < 2 * step:
                notes.append(
                    f"{name}/{r.name} reads a {shortest:g} s range, under two steps of "
                    f"{step:g} s: it cannot fire on this history (record it at a finer step)"
                )
    return list(dict.fromkeys(notes))
