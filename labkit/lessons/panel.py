"""The control panel's logic, as plain functions (labkit.lessons.widgets wires them to
ipywidgets, labkit.lessons.panel_html draws what they return):

choose_nodes(["2", "5"], lab)          -> [2, 5]          (InvalidInput on a bad choice)
check_seconds(5000)                    -> InvalidInput: "duration must be ... from 1 to 3600"
inject(lab, [2], "cpu_spike", 30)      -> Injection
collect(lab)                           -> PanelState      (never raises: errors are text)
merge_alerts(prometheus, alertmanager) -> one row per alert, with where it is: "Prometheus",
                                          "Alertmanager" or "both"
remember(history, injection)           -> the last KEEP injections, each a Record
update(history, prometheus_alerts)     -> each record's detection times, kept once found
recovered(history, ended, now)         -> marks the records whose faults Recover ended
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from labkit.alerts import alert_details, intended
from labkit.errors import InvalidInput, LabkitError
from labkit.failures import check_duration
from labkit.words import epoch

if TYPE_CHECKING:
    from labkit.lab import Lab

KEEP = 5  # injections the panel keeps listed
EARLY_SECONDS = 1.0  # an alert active this long before the injection still counts as its own


@dataclass(frozen=True)
class Injection:
    failure: str
    started_at: dict[int, float]  # node -> when the node applied it (epoch seconds)
    duration_seconds: float = 0.0
    ends_at: dict[int, float] = field(default_factory=dict)  # node -> when it expires
    restarted: frozenset[int] = frozenset()  # nodes where it was already active (timer restarted)

    @property
    def alert(self) -> str:
        return intended(self.failure)

    @property
    def nodes(self) -> list[int]:
        return sorted(self.started_at)

    @property
    def at(self) -> float:
        return min(self.started_at.values(), default=0.0)


@dataclass
class Record:
    """One injection as the panel remembers it: when, where, and what its alert did."""

    injection: Injection
    detected: dict[int, float | None] = field(default_factory=dict)  # kept once found
    firing: set[int] = field(default_factory=set)  # nodes where its alert fires now
    recovered_at: dict[int, float] = field(default_factory=dict)  # nodes Recover ended it on

    def __post_init__(self) -> None:
        for node in self.injection.started_at:
            self.detected.setdefault(node, None)

    def fault_on(self, node: int, now: float) -> bool:
        if node in self.recovered_at:
            return False
        return now < self.injection.ends_at.get(node, math.inf)


@dataclass
class PanelState:
    nodes: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)  # merge_alerts' rows
    prometheus: list[dict[str, Any]] = field(default_factory=list)  # Prometheus' alerts, raw
    error: str | None = None
    links: dict[str, str] = field(default_factory=dict)  # title -> address, shown at the foot
    now: float = 0.0


def choose_nodes(choice: tuple[str, ...] | list[str], lab: Lab) -> list[int]:
    """Node ids from the panel's selection ("all" or ids as text)."""
    if not choice:
        raise InvalidInput("nodes", list(choice), "at least one node, or all")
    ids: list[int] = []
    for item in choice:
        ids += lab.fleet.node_ids(item)
    return sorted(set(ids))


def check_seconds(value: Any) -> float:
    """The panel's duration field, refused (never clamped) outside the nodes' own limits."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a number field's 5000.0 is said as the 5000 typed
    return check_duration(value, "duration")


def inject(lab: Lab, nodes: list[int], failure: str, duration_seconds: float) -> Injection:
    results = lab.inject(nodes, failure, duration_seconds)
    return Injection(
        failure,
        {r["node"]: epoch(r["started_at"]) for r in results},
        float(duration_seconds),
        {r["node"]: epoch(r["ends_at"]) for r in results if r.get("ends_at")},
        frozenset(r["node"] for r in results if r.get("restarted")),
    )


def _episodes(
    injection: Injection, prometheus_alerts: list[dict[str, Any]], until: dict[int, float]
) -> dict[int, float]:
    """Per injected node, when this injection's alert became active (the earliest), for the
    alerts active from just before it started and before `until` (a newer injection's)."""
    out: dict[int, float] = {}
    for alert in prometheus_alerts:
        labels = alert["labels"]
        node = int(labels.get("node", 0) or 0)
        if labels["alertname"] != injection.alert or node not in injection.started_at:
            continue
        active = epoch(alert["activeAt"])
        start = injection.started_at[node]
        if start - EARLY_SECONDS <= active < until.get(node, math.inf):
            out[node] = min(active, out.get(node, math.inf))
    return out


def detection_times(
    injection: Injection, prometheus_alerts: list[dict[str, Any]]
) -> dict[int, float | None]:
    """Per injected node: seconds from the injection to its intended alert becoming active in
    Prometheus (the alert's activeAt), None while it has not fired."""
    out: dict[int, float | None] = dict.fromkeys(injection.started_at)
    for node, active in _episodes(injection, prometheus_alerts, {}).items():
        out[node] = max(0.0, active - injection.started_at[node])
    return out


def remember(history: list[Record], injection: Injection, keep: int = KEEP) -> list[Record]:
    """The history with `injection` added, oldest first, the last `keep` only."""
    return [*history, Record(injection)][-keep:]


def update(history: list[Record], prometheus_alerts: list[dict[str, Any]]) -> None:
    """Each record's alert, from Prometheus' alerts now: where it fires, and its detection time
    (kept once found, so it outlives the alert). An alert that became active after a newer
    injection of the same mode on that node started is the newer one's."""
    for i, record in enumerate(history):
        inj = record.injection
        until: dict[int, float] = {}
        for newer in history[i + 1 :]:
            if newer.injection.failure != inj.failure:
                continue
            for node, start in newer.injection.started_at.items():
                if node in inj.started_at and node not in newer.injection.restarted:
                    until[node] = min(until.get(node, math.inf), start - EARLY_SECONDS)
        active = _episodes(inj, prometheus_alerts, until)
        record.firing = set(active)
        for node, at in active.items():
            if record.detected.get(node) is None:
                record.detected[node] = max(0.0, at - inj.started_at[node])


def recovered(history: list[Record], ended: Mapping[int, list[str]], now: float) -> None:
    """Recover ended `ended` ({node: [modes]}): mark the newest record of each."""
    for node, modes in ended.items():
        for mode in modes:
            for record in reversed(history):
                inj = record.injection
                if inj.failure == mode and node in inj.started_at:
                    record.recovered_at.setdefault(node, now)
                    break


def merge_alerts(
    prometheus: list[dict[str, Any]], alertmanager: list[dict[str, Any]], now: float
) -> list[dict[str, Any]]:
    """One row per alert (its label set), firing in Prometheus, held by Alertmanager, or both;
    newest first. `where` is "Prometheus", "Alertmanager" or "both"; `silenced` is True when
    Alertmanager holds it back (a silence or an inhibition)."""
    rows: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
    for source, alerts, since in (("Prometheus", prometheus, "activeAt"),
                                  ("Alertmanager", alertmanager, "startsAt")):  # fmt: skip
        for alert in alerts:
            if source == "Prometheus" and alert.get("state") != "firing":
                continue
            labels = alert["labels"]
            row = rows.setdefault(tuple(sorted(labels.items())), {
                "alertname": labels["alertname"], "node": labels.get("node", ""),
                "details": alert_details(labels), "severity": labels.get("severity", ""),
                "sources": set(), "silenced": False, "since": math.inf,
            })  # fmt: skip
            row["sources"].add(source)
            row["since"] = min(row["since"], epoch(alert[since]))
            if source == "Alertmanager":
                row["silenced"] = alert.get("status", {}).get("state") == "suppressed"
    out = []
    for row in rows.values():
        sources = row.pop("sources")
        row["where"] = "both" if len(sources) == 2 else next(iter(sources))
        row["age_seconds"] = max(0.0, now - row["since"])
        out.append(row)
    out.sort(key=lambda a: (-a["since"], a["alertname"], int(a["node"] or 0), a["details"]))
    return out


def collect(lab: Lab | None, now: float | None = None) -> PanelState:
    """Everything the panel reads from the lab; a failure becomes the state's error text,
    never a raise."""
    now = time.time() if now is None else now
    state = PanelState(now=now)
    if lab is None:
        state.error = (
            "No lab is running. Start it with `make lab` (or `labkit up`), then rerun this cell."
        )
        return state
    state.links = {"Prometheus' alerts": lab.prometheus_page("alerts"),
                   "dashboard and Alertmanager view": lab.dashboard_url}  # fmt: skip
    try:
        state.nodes = lab.status()
        state.prometheus = lab.prometheus_alerts()
        state.alerts = merge_alerts(state.prometheus, lab.alertmanager_alerts(), now)
    except LabkitError as exc:
        state.error = str(exc)
    return state
