"""Figures (plotly), one function per figure, each taking tidy DataFrames (labkit.query).

Every axis has a title with its unit. Each node keeps one colour (labkit.colours: 24 distinct
ones) in every figure. The legend stands to the right of the plot, top-aligned, where no axis
title or figure title can overlap it. With more than LEGEND_LIMIT nodes the per-node lines
switch to WebGL, drop the legend (hover names the node) and gain a bold fleet median, so a
figure of 100 nodes stays readable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labkit.alerts import watching
from labkit.colours import node_colour
from labkit.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

LEGEND_LIMIT = 20
TIME_AXIS = "time (UTC)"
# right of the plot, from its top: clear of the time axis' title below and the title above
LEGEND = {"orientation": "v", "x": 1.02, "xanchor": "left", "y": 1, "yanchor": "top",
          "tracegroupgap": 2}  # fmt: skip
LEGEND_ROW_PX = 22  # a legend entry's height, with the gap between groups


def _need(frame: pd.DataFrame, columns: list[str], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidInput(name, list(frame.columns), f"a frame with the columns {columns}")


def _node_lines(
    fig: go.Figure, frame: pd.DataFrame, row: int | None = None, scale: float = 1.0
) -> None:
    import plotly.graph_objects as go

    _need(frame, ["timestamp", "value", "node"], "frame")
    nodes = (
        [n for n in frame["node"].cat.categories if (frame["node"] == n).any()]
        if len(frame)
        else []
    )
    many = len(nodes) > LEGEND_LIMIT
    trace = go.Scattergl if many else go.Scatter
    where = {"row": row, "col": 1} if row else {}
    for node in nodes:
        part = frame[frame["node"] == node]
        fig.add_trace(
            trace(x=part["timestamp"], y=part["value"] * scale, mode="lines", name=f"node {node}",
                  legendgroup=f"node {node}", showlegend=not many and row in (None, 1),
                  line={"width": 1, "color": node_colour(node)},
                  hovertemplate=f"node {node}: %{{y:.3g}}<extra></extra>"),
            **where,
        )  # fmt: skip
    if many:
        median = frame.groupby("timestamp", observed=True)["value"].median() * scale
        fig.add_trace(
            go.Scattergl(x=median.index, y=median.values, mode="lines", name="fleet median",
                         line={"width": 3, "color": "black"}),
            **where,
        )  # fmt: skip


def layout(fig: go.Figure, title: str, height: int = 420) -> go.Figure:
    """Title, size, template and the legend (right of the plot, clear of every title); tall
    enough that every legend entry shows without a scroll bar (12 nodes: node 11 and 12 too).
    Every figure of labkit's goes through it (labkit.lessons.burn's too, ideally)."""
    entries = sum(1 for t in fig.data if t.showlegend is not False)
    fig.update_layout(
        title=title, height=max(height, 140 + LEGEND_ROW_PX * entries), template="plotly_white",
        hovermode="x unified", legend=LEGEND, margin={"l": 70, "r": 20, "t": 60, "b": 60},
    )  # fmt: skip
    return fig


def fleet_resources(cpu: pd.DataFrame, memory: pd.DataFrame) -> go.Figure:
    """CPU and memory of every node over time, with their alerts' thresholds."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=("CPU", "Memory"))  # fmt: skip
    _node_lines(fig, cpu, row=1)
    _node_lines(fig, memory, row=2)
    for row, metric in enumerate(("node_cpu_usage_percent", "node_memory_usage_percent"), 1):
        alert = watching(metric)
        fig.add_hline(y=alert.threshold, line_dash="dot", line_color="red",
                      annotation_text=alert.label(unit="%"), row=row, col=1)  # fmt: skip
    fig.update_yaxes(title_text="CPU usage (%)", range=[0, 100], row=1, col=1)
    fig.update_yaxes(title_text="memory usage (%)", range=[0, 100], row=2, col=1)
    fig.update_xaxes(title_text=TIME_AXIS, row=2, col=1)
    return layout(fig, "Fleet CPU and memory", height=620)


def latency_quantiles(quantiles: pd.DataFrame) -> go.Figure:
    """Fleet latency p50/p95/p99 over time; `quantiles` has a `quantile` column (0.5, ...)."""
    import plotly.graph_objects as go

    _need(quantiles, ["timestamp", "value", "quantile"], "quantiles")
    fig = go.Figure()
    for q in sorted(quantiles["quantile"].unique(), key=float):
        part = quantiles[quantiles["quantile"] == q]
        fig.add_trace(go.Scatter(x=part["timestamp"], y=part["value"], mode="lines",
                                 name=f"p{round(float(q) * 100)}"))  # fmt: skip
    alert = watching("node_request_latency_seconds_bucket")
    fig.add_hline(y=alert.threshold, line_dash="dot", line_color="red",
                  annotation_text=alert.label(unit="s"))  # fmt: skip
    fig.update_yaxes(title_text="request latency (s)", rangemode="tozero")
    fig.update_xaxes(title_text=TIME_AXIS)
    return layout(fig, "Request latency quantiles (from the histogram)")


def error_ratio(errors: pd.DataFrame) -> go.Figure:
    """The share of failing requests per node over time (values 0-1, shown in %)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    _node_lines(fig, errors, scale=100.0)
    alert = watching("node_error_rate")
    fig.add_hline(y=alert.threshold * 100, line_dash="dot", line_color="red",
                  annotation_text=alert.label(scale=100, unit="%"))  # fmt: skip
    fig.update_yaxes(title_text="error ratio (% of requests)", rangemode="tozero")
    fig.update_xaxes(title_text=TIME_AXIS)
    return layout(fig, "Error ratio by node")


def intervals(frame: pd.DataFrame, by: list[str], step_seconds: float) -> pd.DataFrame:
    """Runs of consecutive samples (no gap longer than 1.5 steps) per group, as
    start/end rows: how a range query of ALERTS or labkit_fault_active == 1 becomes spans."""
    import pandas as pd

    columns = [*by, "start", "end"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    _need(frame, ["timestamp", *by], "frame")
    rows = []
    gap = pd.Timedelta(seconds=1.5 * step_seconds)
    step = pd.Timedelta(seconds=step_seconds)
    for key, part in frame.sort_values("timestamp").groupby(by, observed=True):
        stamps = part["timestamp"]
        breaks = stamps.diff() > gap
        for _, run in stamps.groupby(breaks.cumsum()):
            keys = key if isinstance(key, tuple) else (key,)
            rows.append((*keys, run.iloc[0], run.iloc[-1] + step))
    return pd.DataFrame(rows, columns=columns)


def alert_timeline(
    alerts: pd.DataFrame, faults: pd.DataFrame, step_seconds: float = 1.0
) -> go.Figure:
    """Injected faults (labkit_fault_active == 1) and firing alerts (ALERTS), one row each per
    node: "node 3 · cpu_spike" (pale) above the alerts it set off, "node 3 · <its alert>"."""
    fired = intervals(alerts, ["node", "alertname"], step_seconds)
    injected = intervals(faults, ["node", "failure"], step_seconds)
    return span_timeline(fired, injected)


def span_timeline(
    fired: pd.DataFrame,
    injected: pd.DataFrame,
    title: str = "Injected faults and the alerts they set off",
) -> go.Figure:
    """The same from spans: `fired` has node, alertname, start, end; `injected` has node,
    failure, start, end (datetimes, as `intervals` makes them; a fleet-wide alert's node is
    "fleet")."""
    import plotly.graph_objects as go

    fig = go.Figure()
    rows: set[tuple[int, int, str]] = set()  # (node, 0 fault / 1 alert, name) -> row order

    def bars(spans: pd.DataFrame, name_col: str, kind: int, opacity: float, prefix: str) -> None:
        for name, part in spans.groupby(name_col, observed=True):
            labels = [f"node {n} · {name}" for n in part["node"]]
            rows.update((_node_number(n), kind, str(name)) for n in part["node"])
            duration_ms = (part["end"] - part["start"]).dt.total_seconds() * 1000
            fig.add_trace(go.Bar(
                base=part["start"], x=duration_ms, y=labels, orientation="h", width=0.7,
                opacity=opacity, name=f"{prefix}{name}",
                hovertemplate=f"{prefix}{name}<br>%{{base|%H:%M:%S}} for %{{x:.0f}} ms"
                "<extra></extra>",
            ))  # fmt: skip

    bars(injected, "failure", 0, 0.35, "fault: ")
    bars(fired, "alertname", 1, 0.95, "alert: ")
    order = [f"node {n} · {name}" for n, _, name in sorted(rows)]
    fig.update_layout(barmode="overlay")
    fig.update_xaxes(type="date", title_text=TIME_AXIS)
    fig.update_yaxes(title_text="node · fault or alert", categoryorder="array",
                     categoryarray=order[::-1], automargin=True)  # fmt: skip
    return layout(fig, title, height=max(300, 120 + 26 * len(order)))


def _node_number(node: object) -> int:
    return int(str(node)) if str(node).isdigit() else 0


def figure_axes(fig: go.Figure) -> dict[str, str]:
    """Every axis title of a figure (for tests and checks): axis name -> title."""
    layout: dict[str, Any] = fig.layout.to_plotly_json()
    return {
        key: value["title"]["text"]
        for key, value in layout.items()
        if key.startswith(("xaxis", "yaxis")) and value.get("title", {}).get("text")
    }
