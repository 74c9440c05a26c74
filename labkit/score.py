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
from typing import TYPE_CHECKING, Any, NamedTuple

from labkit.alert_replay import FIRING_COLUMNS, Rule, load_rules, replay, rules_of, spans
from labkit.alerts import INTENDED
from labkit.errors import InvalidInput, QueryError
from labkit.failures import FAILURE_MODES
from labkit.journal import read_journal
from labkit.recording import HistoryInfo
from labkit.resources import PROJECT
from labkit.words import plural

if TYPE_CHECKING:
    import pandas as pd

    from labkit.query import Prom
    from labkit.settings import Settings

REPLAY_TIMEOUT = 300.0  # seconds per range query: long windows over a week are slow
SEED_RULES = PROJECT / "prometheus" / "rules" / "alerts.yml"
SLO_SPEC = PROJECT / "slo" / "edge.yml"
FAULT_COLUMNS = ["node", "failure", "start", "end"]
RULE_COLUMNS = [
    "rule_set", "alertname", "firings", "false_alerts", "precision", "control_false_alerts",
]  # fmt: skip
MODE_COLUMNS = [
    "rule_set", "alertname", "failure", "intended", "faults", "detected", "recall", "detect_s",
    "notify_s", "resolve_s",
]  # fmt: skip


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

    prof = slo_spec.profile(profile or slo_profile_for(step), lab=True)  # the lab's rules
    generated = slo_spec.generate(slo_spec.load(SLO_SPEC), prof)  # as a document, not YAML text
    return {"seed": load_rules(SEED_RULES), f"slo:{prof.name}": rules_of(generated, str(SLO_SPEC))}


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


class _Firing(NamedTuple):
    """One firing of a rule: on a node (None: fleet-wide), from `fired_at` to `resolved_at`
    (None: still firing at the end), epoch seconds."""

    node: str | None
    fired_at: float
    resolved_at: float | None


@dataclass(frozen=True)
class _Detection:
    """A rule's first firing that detects a fault, timed from the fault (seconds)."""

    detect_s: float  # firing - fault start
    resolve_s: float | None  # the firing's resolution - fault end (None: still firing)
    notify_s: float | None  # first matching `firing` notification - fault start (None: none)


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
    if grace_seconds < 0:
        raise InvalidInput("grace_seconds", grace_seconds, "0 or more seconds")
    fault_list = list(faults.itertuples(index=False))
    detected_by: list[list[str]] = [[] for _ in fault_list]
    rule_rows, mode_rows = [], []
    for rule_set, names in _rule_names(firings, rule_names).items():
        for name in names:
            fired = _firings_of(firings, rule_set, name)
            rule_rows.append(_rule_row(rule_set, name, fired, fault_list, controls, grace_seconds))
            found = _detections(fired, fault_list, name, notifications or [], grace_seconds)
            for i in found:
                detected_by[i].append(f"{rule_set}/{name}")
            mode_rows += _mode_rows(rule_set, name, fault_list, found)
    origin = origin if origin is not None else (faults["start"].min() if len(faults) else 0.0)
    return _board(firings, faults, detected_by, rule_rows, mode_rows, origin, grace_seconds)


def _rule_names(
    firings: pd.DataFrame, rule_names: dict[str, list[str]] | None
) -> dict[str, list[str]]:
    """Each rule set's rules: those listed, then those that fired, each once, in order."""
    names = {k: list(dict.fromkeys(v)) for k, v in (rule_names or {}).items()}
    for rs, name in firings[["rule_set", "alertname"]].drop_duplicates().itertuples(index=False):
        names.setdefault(rs, [])
        if name not in names[rs]:
            names[rs].append(name)
    return names


def _firings_of(firings: pd.DataFrame, rule_set: str, name: str) -> list[_Firing]:
    import pandas as pd

    mine = firings[(firings["rule_set"] == rule_set) & (firings["alertname"] == name)]
    return [
        _Firing(
            None if pd.isna(x.node) else str(x.node),
            float(x.fired_at),
            None if pd.isna(x.resolved_at) else float(x.resolved_at),
        )
        for x in mine.itertuples()
    ]


def _detects(node: Any, fired: float, fault: Any, grace_seconds: float) -> bool:
    """A firing detects a fault on its node (or fleet-wide) from its start to its end + grace."""
    on_node = node is None or node == fault.node
    return bool(on_node and fault.start <= fired < fault.end + grace_seconds)


def _rule_row(
    rule_set: str,
    name: str,
    fired: list[_Firing],
    fault_list: list[Any],
    controls: tuple[tuple[float, float], ...],
    grace_seconds: float,
) -> dict[str, Any]:
    """Precision: how many of the rule's firings detect some fault, of any mode; the false
    ones that start inside a control period."""
    true = [any(_detects(x.node, x.fired_at, f, grace_seconds) for f in fault_list) for x in fired]
    in_control = sum(
        1
        for x, ok in zip(fired, true, strict=True)
        if not ok and any(a <= x.fired_at < b for a, b in controls)
    )
    return {
        "rule_set": rule_set,
        "alertname": name,
        "firings": len(fired),
        "false_alerts": len(fired) - sum(true),
        "precision": sum(true) / len(fired) if fired else math.nan,
        "control_false_alerts": in_control,
    }


def _detections(
    fired: list[_Firing],
    fault_list: list[Any],
    name: str,
    notifications: list[dict[str, Any]],
    grace_seconds: float,
) -> dict[int, _Detection]:
    """Which faults (of the known modes, by index in `fault_list`) the rule `name` detects,
    each with its first detecting firing and the first notification of it."""
    found = {}
    for i, f in enumerate(fault_list):
        if f.failure not in FAILURE_MODES:
            continue
        hits = [x for x in fired if _detects(x.node, x.fired_at, f, grace_seconds)]
        if not hits:
            continue
        first = min(hits, key=lambda x: x.fired_at)
        sent = [
            float(x["ts"])
            for x in notifications
            if x.get("status") == "firing"
            and x.get("alertname") == name
            and _detects(x.get("node"), float(x["ts"]), f, grace_seconds)
        ]
        found[i] = _Detection(
            first.fired_at - f.start,
            None if first.resolved_at is None else first.resolved_at - f.end,
            min(sent) - f.start if sent else None,
        )
    return found


def _mode_rows(
    rule_set: str, name: str, fault_list: list[Any], found: dict[int, _Detection]
) -> list[dict[str, Any]]:
    """Per failure mode injected: the rule's recall and median times."""
    rows = []
    for mode in FAILURE_MODES:
        of_mode = [i for i, f in enumerate(fault_list) if f.failure == mode]
        if not of_mode:
            continue
        hits = [found[i] for i in of_mode if i in found]
        rows.append(
            {
                "rule_set": rule_set,
                "alertname": name,
                "failure": mode,
                "intended": INTENDED[mode] == name,
                "faults": len(of_mode),
                "detected": len(hits),
                "recall": len(hits) / len(of_mode),
                "detect_s": _median([h.detect_s for h in hits]),
                "notify_s": _median([h.notify_s for h in hits if h.notify_s is not None]),
                "resolve_s": _median([h.resolve_s for h in hits if h.resolve_s is not None]),
            }
        )
    return rows


def _board(
    firings: pd.DataFrame,
    faults: pd.DataFrame,
    detected_by: list[list[str]],
    rule_rows: list[dict[str, Any]],
    mode_rows: list[dict[str, Any]],
    origin: float,
    grace_seconds: float,
) -> Score:
    import pandas as pd

    faults_out = faults.assign(offset=faults["start"] - origin, detected_by=detected_by)
    rule_frame = pd.DataFrame(rule_rows, columns=RULE_COLUMNS)
    mode_frame = pd.DataFrame(mode_rows, columns=MODE_COLUMNS)
    return Score(rule_frame, mode_frame, faults_out, firings, grace_seconds)


def open_history(source: Path | str, settings: Settings | None = None) -> tuple[Path, HistoryInfo]:
    """A recorded history's directory (an archive is unpacked first, as `replay.resolve`
    does) and its history.json, read once: `score_history(directory, info=info)` takes both."""
    from labkit import replay as replay_mod

    path = Path(source)
    if not path.is_dir():  # an archive, or a clear error
        path = replay_mod.resolve(path, settings)
    return path, HistoryInfo.load(path)


def score_history(
    directory: Path | str,
    prom: Prom | None = None,
    *,
    info: HistoryInfo | None = None,
    sets: dict[str, list[Rule]] | None = None,
    step: float | None = None,
    grace_seconds: float | None = None,
    port: int | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> Score:
    """Replay the rule sets over a recorded history (starting its replay Prometheus if
    needed) and score them. By default: the seed's rules and the SLO burn-rate rules.
    `info` is the history's history.json when the caller has read it (`open_history`).
    `progress(share, note)` hears of each rule as it is replayed (long windows over a long
    history take a while: the SLO rules over a week at 15 s, about 2.5 minutes)."""
    from labkit import replay as replay_mod
    from labkit.query import Prom

    if info is None:
        directory, info = open_history(directory)
    directory = Path(directory)
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
    step = step or info.step_seconds
    if not step > 0:
        raise InvalidInput("step", step, "a positive number of seconds")
    sets = sets if sets is not None else rule_sets(step)
    firings = _replay_rules(prom, sets, info, step, progress)
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


def _replay_rules(
    prom: Prom,
    sets: dict[str, list[Rule]],
    info: HistoryInfo,
    step: float,
    progress: Callable[[float, str], None] | None,
) -> pd.DataFrame:
    """Every rule's firings over the history, one rule at a time (so `progress` can tell)."""
    import pandas as pd

    todo = [(name, rule) for name, rules in sets.items() for rule in rules]
    frames = []
    for i, (name, rule) in enumerate(todo):
        if progress is not None:
            progress(i / len(todo), f"replaying {name}/{rule.name} ({i + 1}/{len(todo)})")
        try:
            frames.append(replay(prom, [rule], info.start, info.end, step, rule_set=name))
        except QueryError as exc:  # the rule's own expression: the rule file is at fault
            raise InvalidInput(
                f"{name}: alert {rule.name}: expr",
                rule.original,
                "an expression Prometheus accepts",
                f"Prometheus: {exc.message}",
            ) from None
    if progress is not None:
        progress(1.0, f"replayed {plural(len(todo), 'rule')}")
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=FIRING_COLUMNS)


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
