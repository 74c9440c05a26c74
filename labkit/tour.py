"""What lesson 1 (notebooks/01_fleet_tour.ipynb) looks at, as plain functions over a Prom.

snapshot(prom)          one row per node: the seed's metrics now
recent(prom, minutes)   the frames the lesson's figures need, over the last minutes
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

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
