"""The control panel's logic, as plain functions (labkit.widgets wires them to ipywidgets).

choose_nodes(["2", "5"], lab)         -> [2, 5]          (InvalidInput on a bad choice)
inject(lab, [2], "cpu_spike", 30)     -> Injection
collect(lab, injection)               -> PanelState      (never raises: errors are text)
render(state)                         -> HTML
alert_details(labels)                 -> "SLO node-availability, page"  (what tells alike
                                         named alerts apart; "" for the seed's alerts)
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from labkit.errors import InvalidInput, LabkitError
from labkit.failures import FAILURE_MODES

if TYPE_CHECKING:
    from labkit.lab import Lab

#: The alert each failure mode is meant to fire (the seed's design).
INTENDED: dict[str, str] = {
    "cpu_spike": "HighCPUUsage",
    "memory_leak": "HighMemoryUsage",
    "latency_spike": "HighLatency",
    "error_burst": "HighErrorRate",
    "node_crash": "NodeDown",
}
assert tuple(INTENDED) == FAILURE_MODES


def epoch(iso: str) -> float:
    """RFC 3339 with any fraction (Prometheus writes nanoseconds) to epoch seconds."""
    iso = iso.replace("Z", "+00:00")
    if "." in iso:
        head, rest = iso.split(".", 1)
        digits = "".join(c for c in rest if c.isdigit())
        iso = f"{head}.{digits[:6]}{rest[len(digits) :]}"
    return datetime.fromisoformat(iso).timestamp()


def alert_details(labels: dict[str, str]) -> str:
    """What tells this alert apart from others of its name, in the lessons' words:
    "SLO node-availability, page"; "" for an alert whose name is enough (the seed's).

    Every SLO in slo/*.yml has two burn-rate alerts of one name, a page (fast burn, short
    windows) and a ticket (slow burn, long windows): the generated rules label them
    `sloth_severity` ("page", "ticket") and `sloth_slo` (the SLO)."""
    parts = []
    if labels.get("sloth_slo"):
        parts.append(f"SLO {labels['sloth_slo']}")
    if labels.get("sloth_severity"):
        parts.append(labels["sloth_severity"])
    return ", ".join(parts)


@dataclass(frozen=True)
class Injection:
    failure: str
    started_at: dict[int, float]  # node -> when the node applied it (epoch seconds)

    @property
    def alert(self) -> str:
        return INTENDED[self.failure]


@dataclass
class PanelState:
    nodes: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    detection: dict[int, float | None] = field(default_factory=dict)
    injection: Injection | None = None
    error: str | None = None
    links: dict[str, str] = field(default_factory=dict)  # title -> address, shown under the table


def choose_nodes(choice: tuple[str, ...] | list[str], lab: Lab) -> list[int]:
    """Node ids from the panel's selection ("all" or ids as text)."""
    if not choice:
        raise InvalidInput("nodes", list(choice), "at least one node, or all")
    ids: list[int] = []
    for item in choice:
        ids += lab.fleet.node_ids(item)
    return sorted(set(ids))


def inject(lab: Lab, nodes: list[int], failure: str, duration_seconds: float) -> Injection:
    results = lab.inject(nodes, failure, duration_seconds)
    return Injection(failure, {r["node"]: epoch(r["started_at"]) for r in results})


def detection_times(
    injection: Injection, prometheus_alerts: list[dict[str, Any]]
) -> dict[int, float | None]:
    """Per injected node: seconds from the injection to its intended alert becoming active in
    Prometheus (the alert's activeAt), None while it has not fired."""
    out: dict[int, float | None] = dict.fromkeys(injection.started_at)
    for alert in prometheus_alerts:
        labels = alert["labels"]
        node = int(labels.get("node", 0) or 0)
        if labels["alertname"] != injection.alert or node not in out:
            continue
        active = epoch(alert["activeAt"])
        if active >= injection.started_at[node] - 1.0:  # this injection's alert, not an old one
            out[node] = max(0.0, active - injection.started_at[node])
    return out


def collect(
    lab: Lab | None, injection: Injection | None = None, now: float | None = None
) -> PanelState:
    """Everything the panel shows; a failure becomes the state's error text, never a raise."""
    state = PanelState(injection=injection)
    if lab is None:
        state.error = (
            "No lab is running. Start it with `make lab` (or `labkit up`), then rerun this cell."
        )
        return state
    now = time.time() if now is None else now
    state.links = {"Prometheus' alerts": lab.prometheus_page("alerts"),
                   "dashboard and Alertmanager view": lab.dashboard_url}  # fmt: skip
    try:
        state.nodes = lab.status()
        prom = lab.prometheus_alerts()
        am = lab.alertmanager_alerts()
    except LabkitError as exc:
        state.error = str(exc)
        return state
    firing = [a for a in prom if a["state"] == "firing"]
    for source, alerts, since in (
        ("Prometheus", firing, "activeAt"),
        ("Alertmanager", am, "startsAt"),
    ):
        for alert in alerts:
            labels = alert["labels"]
            state.alerts.append({
                "alertname": labels["alertname"], "node": labels.get("node", ""),
                "details": alert_details(labels), "severity": labels.get("severity", ""),
                "seen_by": source, "age_seconds": max(0.0, now - epoch(alert[since])),
            })  # fmt: skip
    state.alerts.sort(
        key=lambda a: (a["alertname"], int(a["node"] or 0), a["details"], a["seen_by"])
    )
    if injection is not None:
        state.detection = detection_times(injection, prom)
    return state


def _table(css: str, head: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th style='text-align:left;padding:2px 10px'>{h}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td style='padding:2px 10px'>{c}</td>" for c in row) + "</tr>"
        for row in rows
    )
    return f"<table class='{css}'><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def render(state: PanelState) -> str:
    """The panel's live view as HTML (every value escaped)."""
    e = html.escape
    parts = []
    if state.error:
        parts.append(
            "<div class='labkit-error' style='color:#b00020'>"
            f"<b>Problem:</b> {e(state.error)}</div>"
        )
    if state.injection is not None:
        inj = state.injection
        lines = []
        for node, seconds in sorted(state.detection.items()):
            when = f"fired after <b>{seconds:.2f} s</b>" if seconds is not None else "not fired yet"
            lines.append(f"{e(inj.failure)} on node {node}: {e(inj.alert)} {when}")
        parts.append("<div class='labkit-detection'>" + "<br>".join(lines) + "</div>")
    if state.nodes:
        rows = []
        for n in state.nodes:
            faults = (
                ", ".join(
                    f"{e(a['failure'])} ({a['seconds_left']:.0f} s left)" for a in n["active"]
                )
                or "-"
            )
            rows.append([str(n["node"]), e(n["health"]), faults])
        parts.append(
            "<h4>Nodes</h4>" + _table("labkit-nodes", ["node", "health", "active faults"], rows)
        )
    if not state.error:
        rows = [[e(a["alertname"]), e(str(a["node"])), e(a.get("details", "")), e(a["severity"]),
                 "firing", e(a["seen_by"]), f"{a['age_seconds']:.0f} s"]
                for a in state.alerts]  # fmt: skip
        head = ["alert", "node", "details", "severity", "state", "seen by", "age"]
        alerts = _table("labkit-alerts", head, rows)
        parts.append("<h4>Firing alerts</h4>" + (alerts if rows else "<i>none</i>"))
    links = [f"<a href='{e(url)}' target='_blank'>{e(title)}</a>"
             for title, url in state.links.items() if url]  # fmt: skip
    if links:
        parts.append("<div class='labkit-links'>See also: " + " · ".join(links) + "</div>")
    return "<div class='labkit-panel'>" + "".join(parts) + "</div>"
