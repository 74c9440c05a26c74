"""A node snapshot as Prometheus text exposition (format 0.0.4).

Written by hand rather than through prometheus_client's registry: a scrape of a 1,000-node
fleet must cost tens of microseconds, and the registry spends 6-10 us on every sample. The
output is checked against `promtool check metrics` and `prometheus_client.parser` in the tests.
"""

from __future__ import annotations

from labkit.failures import FAILURE_MODES
from labkit.model import LATENCY_BUCKETS, Snapshot

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: name -> (type, help), in exposition order: the seed's eight metrics, then the ground truth.
METRICS: dict[str, tuple[str, str]] = {
    "node_cpu_usage_percent": ("gauge", "Simulated CPU usage in percent (10-85% with drift)."),
    "node_memory_usage_percent": (
        "gauge",
        "Simulated memory usage in percent (20-75% with drift).",
    ),
    "node_request_latency_seconds": ("histogram", "Request latency (log-normal distribution)."),
    "node_requests_total": ("counter", "Total requests, labelled status=success/error."),
    "node_uptime_seconds": ("gauge", "Time since the node (re)started."),
    "node_error_rate": ("gauge", "Current error rate (0-1): the share of requests failing now."),
    "reliability_score": ("gauge", "Weighted composite of error rate, latency and saturation."),
    "error_budget_remaining": (
        "gauge",
        "Error budget remaining (99.9% SLO over a rolling window); below 0 when overspent.",
    ),
    "labkit_fault_active": (
        "gauge",
        "Ground truth: 1 while the failure mode is injected on this node, else 0.",
    ),
}


def _head(name: str) -> str:
    kind, help_text = METRICS[name]
    return f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n"


_BUCKET_PREFIXES = tuple(
    f'node_request_latency_seconds_bucket{{le="{bound}"}} '
    for bound in [*map(repr, LATENCY_BUCKETS), "+Inf"]
)
_FAULT_PREFIXES = tuple(f'labkit_fault_active{{failure="{m}"}} ' for m in FAILURE_MODES)
_H = {name: _head(name) for name in METRICS}


def render(s: Snapshot) -> bytes:
    """The snapshot as exposition text (UTF-8 bytes)."""
    parts = [
        _H["node_cpu_usage_percent"],
        f"node_cpu_usage_percent {s.cpu_percent!r}\n",
        _H["node_memory_usage_percent"],
        f"node_memory_usage_percent {s.memory_percent!r}\n",
        _H["node_request_latency_seconds"],
    ]
    parts.extend(
        f"{prefix}{count}\n"
        for prefix, count in zip(_BUCKET_PREFIXES, s.bucket_counts, strict=True)
    )
    parts += [
        f"node_request_latency_seconds_sum {s.latency_sum_seconds!r}\n",
        f"node_request_latency_seconds_count {s.latency_count}\n",
        _H["node_requests_total"],
        f'node_requests_total{{status="success"}} {s.requests_success}\n',
        f'node_requests_total{{status="error"}} {s.requests_error}\n',
        _H["node_uptime_seconds"],
        f"node_uptime_seconds {s.uptime_seconds!r}\n",
        _H["node_error_rate"],
        f"node_error_rate {s.error_rate!r}\n",
        _H["reliability_score"],
        f"reliability_score {s.reliability_score!r}\n",
        _H["error_budget_remaining"],
        f"error_budget_remaining {s.error_budget_remaining!r}\n",
        _H["labkit_fault_active"],
    ]
    parts.extend(
        f"{prefix}{1 if s.faults_active.get(mode) else 0}\n"
        for prefix, mode in zip(_FAULT_PREFIXES, FAILURE_MODES, strict=True)
    )
    return "".join(parts).encode()
