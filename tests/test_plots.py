"""Figures from DataFrames: axis titles with units, and readable with 12 and 100 nodes."""

from __future__ import annotations

import pandas as pd
import pytest

from labkit import plots
from labkit.colours import NODE_COLOURS, node_colour
from labkit.dashboard_widget import colour as dashboard_colour
from labkit.errors import InvalidInput
from labkit.query import to_frame


def fleet(metric: str, nodes: int, seconds: int = 60, value: float = 50.0) -> pd.DataFrame:
    return to_frame([
        {"metric": {"__name__": metric, "node": str(n)},
         "values": [[1_795_000_000 + t, repr(value + n % 7)] for t in range(seconds)]}
        for n in range(1, nodes + 1)
    ])  # fmt: skip


@pytest.mark.parametrize("nodes", [12, 100])
def test_fleet_resources_has_a_line_per_node_and_units(nodes: int) -> None:
    fig = plots.fleet_resources(
        fleet("node_cpu_usage_percent", nodes), fleet("node_memory_usage_percent", nodes)
    )
    axes = plots.figure_axes(fig)
    assert axes["yaxis"] == "CPU usage (%)" and axes["yaxis2"] == "memory usage (%)"
    assert axes["xaxis2"] == "time (UTC)"
    node_traces = [t for t in fig.data if t.name.startswith("node ")]
    assert len(node_traces) == 2 * nodes
    if nodes > plots.LEGEND_LIMIT:  # a big fleet: WebGL, no legend, a median to read
        assert all(t.type == "scattergl" and not t.showlegend for t in node_traces)
        assert [t.name for t in fig.data].count("fleet median") == 2
    else:
        assert sum(t.showlegend for t in node_traces) == nodes


def test_error_ratio_is_shown_in_percent() -> None:
    errors = fleet("node_error_rate", 3, value=0.25)
    fig = plots.error_ratio(errors)
    assert plots.figure_axes(fig)["yaxis"] == "error ratio (% of requests)"
    assert max(max(t.y) for t in fig.data) == pytest.approx(100 * (0.25 + 3))


def test_latency_quantiles_needs_a_quantile_column() -> None:
    q = pd.concat([fleet("x", 1).assign(quantile=str(p)) for p in (0.5, 0.95, 0.99)])
    fig = plots.latency_quantiles(q)
    assert [t.name for t in fig.data] == ["p50", "p95", "p99"]
    assert plots.figure_axes(fig)["yaxis"] == "request latency (s)"
    with pytest.raises(InvalidInput, match="quantile"):
        plots.latency_quantiles(fleet("x", 1))


def test_intervals_split_on_gaps() -> None:
    stamps = [0, 1, 2, 3, 10, 11]
    frame = to_frame([{"metric": {"node": "2", "alertname": "HighCPUUsage"},
                       "values": [[1_795_000_000 + t, "1"] for t in stamps]}])  # fmt: skip
    spans = plots.intervals(frame, ["node", "alertname"], step_seconds=1)
    seconds = [((s - spans["start"][0]).total_seconds(), (e - spans["start"][0]).total_seconds())
               for s, e in zip(spans["start"], spans["end"], strict=True)]  # fmt: skip
    assert seconds == [(0, 4), (10, 12)]
    assert plots.intervals(to_frame([]), ["node"], 1).empty


def test_alert_timeline_draws_faults_under_alerts() -> None:
    def series(labels: dict[str, str], start: int, n: int) -> dict[str, object]:
        return {"metric": labels, "values": [[1_795_000_000 + start + t, "1"] for t in range(n)]}

    faults = to_frame([series({"node": "2", "failure": "cpu_spike"}, 0, 15)])
    alerts = to_frame(
        [
            series({"node": "2", "alertname": "HighCPUUsage"}, 1, 14),
            series({"node": "2", "alertname": "LowReliabilityScore"}, 1, 20),
        ]
    )
    fig = plots.alert_timeline(alerts, faults)
    assert [t.name for t in fig.data] == [
        "fault: cpu_spike",
        "alert: HighCPUUsage",
        "alert: LowReliabilityScore",
    ]
    assert list(fig.data[0].y) == ["node 2 · cpu_spike"]
    # every alert has a row of its own, under its node's fault
    assert list(fig.layout.yaxis.categoryarray)[::-1] == [
        "node 2 · cpu_spike",
        "node 2 · HighCPUUsage",
        "node 2 · LowReliabilityScore",
    ]
    assert plots.figure_axes(fig) == {"xaxis": "time (UTC)", "yaxis": "node · fault or alert"}


def test_24_nodes_get_24_distinct_colours_the_same_in_every_figure() -> None:
    assert len(set(NODE_COLOURS)) == len(NODE_COLOURS) >= 24
    fig = plots.error_ratio(fleet("node_error_rate", 24, value=0.01))
    colours = {t.name: t.line.color for t in fig.data if t.name.startswith("node ")}
    assert len(set(colours.values())) == 24
    assert colours["node 11"] != colours["node 1"]
    assert colours["node 11"] == node_colour(11) == node_colour("11") == node_colour("node 11")
    # the live dashboard draws node 11 in the same colour
    assert dashboard_colour("node 11", 0) == node_colour(11)


def _figures() -> dict[str, object]:
    q = pd.concat([fleet("x", 1).assign(quantile=str(p)) for p in (0.5, 0.95, 0.99)])
    faults = to_frame([{"metric": {"node": "2", "failure": "cpu_spike"},
                        "values": [[1_795_000_000 + t, "1"] for t in range(5)]}])  # fmt: skip
    alerts = to_frame([{"metric": {"node": "2", "alertname": "HighCPUUsage"},
                        "values": [[1_795_000_001 + t, "1"] for t in range(4)]}])  # fmt: skip
    return {
        "fleet_resources": plots.fleet_resources(fleet("c", 12), fleet("m", 12)),
        "latency_quantiles": plots.latency_quantiles(q),
        "error_ratio": plots.error_ratio(fleet("node_error_rate", 12, value=0.01)),
        "alert_timeline": plots.alert_timeline(alerts, faults),
    }


@pytest.mark.parametrize("name", list(_figures()))
def test_no_legend_under_a_title_every_legend_right_of_the_plot(name: str) -> None:
    """The legend used to sit under the plot (y=-0.18), over the "time (UTC)" axis title."""
    legend = _figures()[name].layout.legend  # type: ignore[attr-defined]
    assert legend.orientation == "v" and legend.x >= 1 and legend.xanchor == "left"
    assert legend.y == 1 and legend.yanchor == "top"


def test_a_20_node_legend_shows_every_entry_without_scrolling() -> None:
    fig = plots.error_ratio(fleet("node_error_rate", plots.LEGEND_LIMIT, value=0.01))
    shown = sum(1 for t in fig.data if t.showlegend is not False)
    assert shown == plots.LEGEND_LIMIT
    assert fig.layout.height >= 140 + plots.LEGEND_ROW_PX * shown
