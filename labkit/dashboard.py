"""The dashboard, defined once: the seed's four rows plus a row that watches the watchers.
Two views are built from this definition, so they can never disagree:

- Grafana's JSON model (`build()`): `labkit compose-files` writes it to
  grafana/provisioning/dashboards/telemetry.json for the compose stack;
- labkit's live view (`labkit.dashboard_view` and the `Dashboard` widget), for the embedded
  lab, where Grafana cannot run.

Rows: Overview (active nodes, reliability score, error budget, platform health gauge),
Resource Utilization (CPU and memory of every node), Request Metrics (request rate,
p50/p95/p99 latency, error rate per node), SRE Metrics (reliability score, error budget
consumption, active alerts), Prometheus and Alertmanager (rule evaluation time, missed
evaluations, notifications sent). An annotation layer marks the injected faults from the
ground truth, labkit_fault_active.

Queries that concern nodes carry the matcher `node=~"$node"`: Grafana fills `$node` from its
`node` variable, the live view from its node selector (`for_nodes`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from labkit.alerts import watching

DATASOURCE_UID = "labkit-prometheus"
DATASOURCE = {"type": "prometheus", "uid": DATASOURCE_UID}
WIDTH = 24  # Grafana's grid
NODE_VAR = "$node"


@dataclass(frozen=True)
class Panel:
    title: str
    kind: str  # stat | gauge | timeseries | table
    targets: list[tuple[str, str]]  # (PromQL, legend)
    unit: str = "none"
    width: int = 6
    height: int = 8
    extra: dict[str, Any] = field(default_factory=dict)
    description: str = ""


N = '{node=~"$node"}'  # the node selector, in every query that concerns nodes
EDGE = '{job="edge-nodes", node=~"$node"}'
GROUP = '"group", "$1", "rule_group", ".*;(.*)"'  # rule_group is "<file>;<group>"


def _line(metric: str, scale: float = 1.0, unit: str = "") -> tuple[float, str]:
    """The threshold of the seed alert that watches `metric`, and its label."""
    alert = watching(metric)
    return alert.threshold, alert.label(scale, unit)


_SCORE = watching("reliability_score").threshold  # a healthy node scores this or more
_BUDGET = watching("error_budget_remaining")
_SPENT = 1 - _BUDGET.threshold  # the budget alert fires once this share is spent

ROWS: list[tuple[str, list[Panel]]] = [
    (
        "Overview",
        [
            Panel("Active nodes", "stat", [(f"count(up{EDGE} == 1) or vector(0)", "up")],
                  height=5, description="Nodes Prometheus scrapes successfully."),
            Panel("Reliability score", "stat",
                  [(f"avg(reliability_score{N})", "fleet average")], unit="percentunit",
                  height=5),
            Panel("Error budget remaining", "stat",
                  [(f"min(error_budget_remaining{N})", "worst node")], unit="percentunit",
                  height=5, extra={"budget": True},
                  description="The node with the least budget left (99.9% SLO, 600 s window)."),
            Panel("Platform health", "gauge",
                  [(f"count(up{EDGE} == 1 and on(instance) reliability_score >= {_SCORE:g})"
                    f" / count(up{EDGE})", "healthy share")],
                  unit="percentunit", height=5,
                  extra={"min": 0, "max": 1},
                  description=f"Share of nodes up with a reliability score of {_SCORE:g} or more."),
        ],
    ),
    (
        "Resource Utilization",
        [
            Panel("CPU usage by node", "timeseries",
                  [(f"node_cpu_usage_percent{N}", "node {{node}}")], unit="percent", width=12,
                  extra={"threshold": _line("node_cpu_usage_percent", unit="%")}),
            Panel("Memory usage by node", "timeseries",
                  [(f"node_memory_usage_percent{N}", "node {{node}}")], unit="percent",
                  width=12, extra={"threshold": _line("node_memory_usage_percent", unit="%")}),
        ],
    ),
    (
        "Request Metrics",
        [
            Panel("Request rate by node", "timeseries",
                  [(f"sum by (node) (rate(node_requests_total{N}[30s]))", "node {{node}}")],
                  unit="reqps", width=8),
            Panel("Latency p50 / p95 / p99", "timeseries",
                  [(f"histogram_quantile({q}, sum by (le) "
                    f"(rate(node_request_latency_seconds_bucket{N}[30s])))", f"p{round(q * 100)}")
                   for q in (0.5, 0.95, 0.99)], unit="s", width=8,
                  extra={"threshold": _line("node_request_latency_seconds_bucket", unit="s")}),
            Panel("Error rate by node", "timeseries",
                  [(f"node_error_rate{N}", "node {{node}}")], unit="percentunit", width=8,
                  extra={"threshold": _line("node_error_rate", 100, "%")}),
        ],
    ),
    (
        "SRE Metrics",
        [
            Panel("Reliability score by node", "timeseries",
                  [(f"reliability_score{N}", "node {{node}}")], unit="percentunit", width=8,
                  extra={"threshold": _line("reliability_score", 100, "%")}),
            Panel("Error budget consumed by node", "timeseries",
                  [(f"1 - error_budget_remaining{N}", "node {{node}}")], unit="percentunit",
                  width=8,
                  extra={"threshold": (_SPENT, f"{_BUDGET.name}: {_SPENT * 100:g} % spent")},
                  description="Share of the 99.9% budget spent over the last 600 s; above 1 "
                              "when overspent."),
            Panel("Active alerts", "table",
                  [('ALERTS{alertstate="firing"}', "{{alertname}} node {{node}}")], width=8,
                  extra={"format": "table", "instant": True},
                  description="Every alert firing now, SLO alerts with their severity and "
                              "windows."),
        ],
    ),
    (
        "Prometheus and Alertmanager",
        [
            Panel("Rule evaluation time by group", "timeseries",
                  [(f"label_replace(prometheus_rule_group_last_duration_seconds, {GROUP})",
                    "{{group}}")], unit="s", width=8,
                  description="How long Prometheus took to evaluate each rule group, last "
                              "time: above the 1 s interval, evaluations are skipped."),
            Panel("Missed rule evaluations", "timeseries",
                  [("sum by (group) (label_replace(increase("
                    f"prometheus_rule_group_iterations_missed_total[1m]), {GROUP}))",
                    "{{group}}")], unit="none", width=8,
                  description="Evaluations skipped over the last minute because the one "
                              "before had not finished."),
            Panel("Notifications sent", "timeseries",
                  [("sum by (integration) (increase(alertmanager_notifications_total[1m]))",
                    "sent ({{integration}})"),
                   ("sum by (integration) "
                    "(increase(alertmanager_notifications_failed_total[1m]))",
                    "failed ({{integration}})")], unit="none", width=8,
                  description="Notifications Alertmanager sent, and failed to send, over "
                              "the last minute."),
        ],
    ),
]  # fmt: skip

SEED_ROWS = 4  # the seed's rows come first; the rest are labkit's

ANNOTATIONS = [
    {
        "name": "Injected faults",
        "expr": f"labkit_fault_active{N} == 1",
        "titleFormat": "{{failure}} on node {{node}}",
        "tagKeys": "failure,node",
        "iconColor": "rgba(255, 96, 96, 1)",
    }
]


def for_nodes(expr: str, nodes: list[int] | None = None) -> str:
    """`expr` with the node selector filled: the given nodes, or every node (None)."""
    regex = "|".join(str(n) for n in sorted(nodes)) if nodes else ".+"
    return expr.replace(NODE_VAR, regex)


def panels() -> list[Panel]:
    return [p for _, row in ROWS for p in row]


def queries(nodes: list[int] | None = None) -> list[str]:
    """Every PromQL expression the dashboard runs (panels, then annotations), for `nodes`."""
    return [for_nodes(q, nodes) for p in panels() for q, _ in p.targets] + [
        for_nodes(a["expr"], nodes) for a in ANNOTATIONS
    ]


def _panel(p: Panel, pid: int, x: int, y: int) -> dict[str, Any]:
    instant = bool(p.extra.get("instant"))
    targets = [
        {
            "refId": chr(ord("A") + i),
            "datasource": DATASOURCE,
            "expr": expr,
            "legendFormat": legend,
            "range": not instant,
            "instant": instant,
            **({"format": "table"} if p.extra.get("format") == "table" else {}),
        }
        for i, (expr, legend) in enumerate(p.targets)
    ]
    defaults: dict[str, Any] = {"unit": p.unit}
    for key in ("min", "max"):
        if key in p.extra:
            defaults[key] = p.extra[key]
    if p.kind == "timeseries":
        defaults["custom"] = {"lineWidth": 1, "fillOpacity": 0, "showPoints": "never"}
    if p.extra.get("budget"):  # overspent is said, not shown as "-433 %" (a value mapping)
        defaults["mappings"] = [{"type": "range", "options": {
            "from": None, "to": 0, "result": {"text": "overspent", "color": "red"}}}]  # fmt: skip
    if "threshold" in p.extra:  # the alert's threshold as a dashed line, as the live view has it
        value, _ = p.extra["threshold"]
        defaults["custom"]["thresholdsStyle"] = {"mode": "dashed"}
        defaults["thresholds"] = {"mode": "absolute", "steps": [
            {"color": "transparent", "value": None}, {"color": "red", "value": value}]}  # fmt: skip
    return {
        "id": pid,
        "type": p.kind,
        "title": p.title,
        "description": p.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": p.height, "w": p.width, "x": x, "y": y},
        "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}}
        if p.kind == "timeseries"
        else {},
    }


def build() -> dict[str, Any]:
    """The dashboard JSON model."""
    grid: list[dict[str, Any]] = []
    y = 0
    pid = 1
    for title, row in ROWS:
        grid.append({"id": pid, "type": "row", "title": title, "collapsed": False,
                       "gridPos": {"h": 1, "w": WIDTH, "x": 0, "y": y}, "panels": []})  # fmt: skip
        pid += 1
        y += 1
        x = 0
        row_height = 0
        for p in row:
            if x + p.width > WIDTH:
                x, y = 0, y + row_height
                row_height = 0
            grid.append(_panel(p, pid, x, y))
            pid += 1
            x += p.width
            row_height = max(row_height, p.height)
        y += row_height
    annotations = [
        {"name": "Annotations & Alerts", "builtIn": 1, "type": "dashboard", "enable": True,
         "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
         "datasource": {"type": "grafana", "uid": "-- Grafana --"}},
    ] + [
        {**a, "datasource": DATASOURCE, "enable": True, "step": "5s", "useValueForTime": False}
        for a in ANNOTATIONS
    ]  # fmt: skip
    return {
        "uid": "labkit-telemetry",
        "title": "labkit: edge fleet telemetry",
        "tags": ["labkit", "sre"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "refresh": "5s",
        "time": {"from": "now-15m", "to": "now"},
        "annotations": {"list": annotations},
        "templating": {"list": [_node_variable()]},
        "panels": grid,
    }


def _node_variable() -> dict[str, Any]:
    """Grafana's `node` variable: any set of nodes, or all (the live view's node selector)."""
    query = 'label_values(up{job="edge-nodes"}, node)'
    return {
        "name": "node", "label": "node", "type": "query", "datasource": DATASOURCE,
        "definition": query, "query": {"query": query, "refId": "node"},
        "refresh": 2, "sort": 3, "multi": True, "includeAll": True, "allValue": ".+",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
    }  # fmt: skip
