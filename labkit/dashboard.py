"""The Grafana dashboard: the seed's four rows, built here so its layout and queries are
checked, not hand-edited. `labkit compose-files` writes it to
grafana/provisioning/dashboards/telemetry.json.

Rows: Overview (active nodes, reliability score, error budget, platform health gauge),
Resource Utilization (CPU and memory of every node), Request Metrics (request rate,
p50/p95/p99 latency, error rate per node), SRE Metrics (reliability score, error budget
consumption, active alerts). An annotation layer marks the injected faults from the ground
truth, labkit_fault_active.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DATASOURCE_UID = "labkit-prometheus"
DATASOURCE = {"type": "prometheus", "uid": DATASOURCE_UID}
WIDTH = 24  # Grafana's grid


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


ROWS: list[tuple[str, list[Panel]]] = [
    (
        "Overview",
        [
            Panel("Active nodes", "stat", [('count(up{job="edge-nodes"} == 1)', "up")],
                  height=5, description="Nodes Prometheus scrapes successfully."),
            Panel("Reliability score", "stat",
                  [('avg(reliability_score)', "fleet average")], unit="percentunit", height=5),
            Panel("Error budget remaining", "stat",
                  [("min(error_budget_remaining)", "worst node")], unit="percentunit", height=5,
                  description="The node with the least budget left (99.9% SLO, 600 s window)."),
            Panel("Platform health", "gauge",
                  [('count(up{job="edge-nodes"} == 1 and on(instance) reliability_score >= 0.95)'
                    ' / count(up{job="edge-nodes"})', "healthy share")],
                  unit="percentunit", height=5,
                  extra={"min": 0, "max": 1},
                  description="Share of nodes up with a reliability score of 0.95 or more."),
        ],
    ),
    (
        "Resource Utilization",
        [
            Panel("CPU usage by node", "timeseries",
                  [("node_cpu_usage_percent", "node {{node}}")], unit="percent", width=12),
            Panel("Memory usage by node", "timeseries",
                  [("node_memory_usage_percent", "node {{node}}")], unit="percent", width=12),
        ],
    ),
    (
        "Request Metrics",
        [
            Panel("Request rate by node", "timeseries",
                  [("sum by (node) (rate(node_requests_total[30s]))", "node {{node}}")],
                  unit="reqps", width=8),
            Panel("Latency p50 / p95 / p99", "timeseries",
                  [(f"histogram_quantile({q}, sum by (le) "
                    "(rate(node_request_latency_seconds_bucket[30s])))", f"p{round(q * 100)}")
                   for q in (0.5, 0.95, 0.99)], unit="s", width=8),
            Panel("Error rate by node", "timeseries",
                  [("node_error_rate", "node {{node}}")], unit="percentunit", width=8),
        ],
    ),
    (
        "SRE Metrics",
        [
            Panel("Reliability score by node", "timeseries",
                  [("reliability_score", "node {{node}}")], unit="percentunit", width=8),
            Panel("Error budget consumed by node", "timeseries",
                  [("1 - error_budget_remaining", "node {{node}}")], unit="percentunit", width=8,
                  description="Share of the 99.9% budget spent over the last 600 s; above 1 "
                              "when overspent."),
            Panel("Active alerts", "table",
                  [('ALERTS{alertstate="firing"}', "{{alertname}} node {{node}}")], width=8,
                  extra={"format": "table", "instant": True}),
        ],
    ),
]  # fmt: skip

ANNOTATIONS = [
    {
        "name": "Injected faults",
        "expr": "labkit_fault_active == 1",
        "titleFormat": "{{failure}} on node {{node}}",
        "tagKeys": "failure,node",
        "iconColor": "rgba(255, 96, 96, 1)",
    }
]


def queries() -> list[str]:
    """Every PromQL expression the dashboard runs (panels, then annotations)."""
    return [q for _, panels in ROWS for p in panels for q, _ in p.targets] + [
        a["expr"] for a in ANNOTATIONS
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
    panels: list[dict[str, Any]] = []
    y = 0
    pid = 1
    for title, row in ROWS:
        panels.append({"id": pid, "type": "row", "title": title, "collapsed": False,
                       "gridPos": {"h": 1, "w": WIDTH, "x": 0, "y": y}, "panels": []})  # fmt: skip
        pid += 1
        y += 1
        x = 0
        row_height = 0
        for p in row:
            if x + p.width > WIDTH:
                x, y = 0, y + row_height
                row_height = 0
            panels.append(_panel(p, pid, x, y))
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
        "panels": panels,
    }
