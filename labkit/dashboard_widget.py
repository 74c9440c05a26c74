"""The live dashboard for JupyterLab and Voilà: labkit.dashboard's rows and panels drawn with
plotly and ipywidgets, refreshed every second (thin wiring over labkit.dashboard_view):

    from labkit.dashboard_widget import Dashboard
    Dashboard(lab)                 # a node selector, a time range, the rows and their panels

The refresh runs on the kernel's loop, the queries in a worker thread, only while a page shows
the dashboard and only as fast as it draws (labkit.liveloop). A time series panel is a plotly
FigureWidget (WebGL lines, the legend dropped and a bold fleet median added past LEGEND_LIMIT
nodes, as labkit.plots does), with the alert's threshold dashed and the injected faults
shaded (labkit_fault_active). Stats, the gauge and the alert table are HTML. Nothing here
raises in the kernel: a problem is a
sentence at the top of the dashboard.

CSS classes (for tests and styling): labkit-dashboard (the whole), labkit-dash-status (the
last refresh, or the problem), labkit-dash-row (a row, its title in an h3), labkit-dash-panel
(each panel, with labkit-panel-<its title in kebab case>, e.g. labkit-panel-cpu-usage-by-node),
labkit-dash-stat (a stat's or gauge's value), labkit-dash-alerts (the active alerts table),
labkit-dash-empty (added to a panel while it has no data), labkit-dash-links (the page's
addresses).
"""

from __future__ import annotations

import html
import math
import re
import time
from typing import TYPE_CHECKING, Any

from labkit.colours import node_colour
from labkit.dashboard import ROWS, Panel
from labkit.dashboard_view import (
    AXES,
    RANGES_SECONDS,
    FaultSpan,
    Feed,
    PanelData,
    Snapshot,
    display,
    scale,
)
from labkit.errors import LabkitError
from labkit.liveloop import Pacer

if TYPE_CHECKING:
    from labkit.lab import Lab

LEGEND_LIMIT = 20  # past this many series: WebGL, no legend, a fleet median
LEGEND_CHARS = 16  # longer series names are shown on hover, not in a legend
PANEL_HEIGHT = 250

TICK_SECONDS = (15, 30, 60, 120, 300, 600, 900, 1800, 3600)


def clock_ticks(start_ms: float, end_ms: float, most: int = 7) -> tuple[list[float], list[str]]:
    """Round clock times within a range (epoch ms), at most `most`, labelled in UTC."""
    span = (end_ms - start_ms) / 1000
    every = next((t for t in TICK_SECONDS if span / t <= most), TICK_SECONDS[-1])
    first = math.ceil(start_ms / 1000 / every) * every
    values = [float(t * 1000) for t in range(first, int(end_ms / 1000) + 1, every)]
    pattern = "%H:%M:%S" if every < 60 else "%H:%M"
    return values, [time.strftime(pattern, time.gmtime(v / 1000)) for v in values]


def colour(name: str, index: int) -> str:
    """A series' colour: its node's (labkit.colours), else the index's."""
    return node_colour(name, index)


def choose_nodes(choice: tuple[str, ...] | list[str]) -> list[int] | None:
    """The selector's choice as node ids, None for all; an empty choice is refused."""
    from labkit.errors import InvalidInput

    if not choice:
        raise InvalidInput("nodes", [], "at least one node, or all")
    if "all" in choice:
        return None
    return sorted(int(c) for c in choice)


def _median(series: list[Any]) -> tuple[Any, Any]:
    """The fleet median at every time any series has (gaps are left out, not zeros)."""
    import warnings

    import numpy as np

    xs = np.unique(np.concatenate([s.x for s in series]))
    grid = np.full((len(series), len(xs)), np.nan)
    for row, s in enumerate(series):
        grid[row, np.searchsorted(xs, s.x)] = s.y
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a time where every node is missing
        median = np.nanmedian(grid, axis=0)
    return xs, median


class _TimeseriesView:
    """One time series panel: a FigureWidget whose traces follow the panel's series."""

    def __init__(self, panel: Panel, label_faults: bool = False) -> None:
        import ipywidgets as w

        self.panel = panel
        self.label_faults = label_faults  # name the bands here; the other panels just shade
        self.names: list[str] | None = None
        self.shapes_key: tuple[Any, ...] = ()
        self.ticks: list[float] = []
        self.range: list[float] = []
        # x is sent as float32 seconds from here: half the bytes of float64 epoch ms, and within
        # 10 ms for days after (a float32 keeps 24 bits)
        self.origin_ms = math.floor(time.time()) * 1000.0
        self.seen: tuple[Any, ...] = ()
        self.layout: dict[str, Any] = {
            "height": PANEL_HEIGHT, "template": "plotly_white", "hovermode": "closest",
            "margin": {"l": 55, "r": 10, "t": 30, "b": 30},
            "title": {"text": panel.title, "font": {"size": 14}, "x": 0.01, "y": 0.98},
            # a linear axis (seconds from `origin_ms`) with clock-time ticks written here: a date
            # axis loses its type in the browser when its traces are restyled (plotly widget)
            "xaxis": {"type": "linear", "title": {"text": "time (UTC)", "font": {"size": 10}},
                      "tickmode": "array", "tickvals": [], "ticktext": []},
            "yaxis": {"title": {"text": AXES.get(panel.unit, panel.unit), "font": {"size": 11}},
                      "rangemode": "tozero"},
            "legend": {"font": {"size": 10}, "x": 1.0, "xanchor": "left", "y": 1,
                       "tracegroupgap": 0},
            "uirevision": "keep",  # zoom and hidden traces survive refreshes
        }  # fmt: skip
        self.figure: Any = None
        self.box = w.Box(layout={"width": "100%", "height": f"{PANEL_HEIGHT}px"})
        self._new_figure([])

    def resync(self) -> None:
        """The whole figure into the widget's state (what a new view draws), and the layout's
        moving parts re-sent with the next update."""
        from copy import deepcopy

        self.figure._widget_layout = deepcopy(self.figure._layout_obj._props)
        self.figure._widget_data = deepcopy(self.figure._data)
        self.figure.send_state(["_widget_data", "_widget_layout"])
        self.box.send_state()
        self.shapes_key, self.ticks, self.range, self.seen = (), [], [], ()

    def _legend_room(self, shown: bool, names: list[str]) -> None:
        self.layout["margin"]["r"] = (
            50 + 7 * max((len(n) for n in names), default=0) if shown else 10
        )

    def _s(self, epoch_ms: float) -> float:
        return (epoch_ms - self.origin_ms) / 1000

    def _x(self, epoch_ms: Any) -> Any:
        return ((epoch_ms - self.origin_ms) / 1000).astype("float32")

    def _new_figure(self, traces: list[Any]) -> None:
        """A figure born with its traces: its first state carries them, so a page that
        connects late (Voilà) still draws them (added traces are messages it would miss)."""
        import plotly.graph_objects as go

        old = self.figure
        self.figure = go.FigureWidget(data=traces, layout=self.layout)
        self.figure._config = {"responsive": True, "displaylogo": False}  # the panel's width
        self.box.children = [self.figure]
        if old is not None:
            old.close()

    def update(self, data: PanelData, faults: list[FaultSpan], snap: Snapshot) -> None:
        import plotly.graph_objects as go

        k = scale(self.panel.unit)
        series = [s for s in data.series if len(s.x)]
        many = len(series) > LEGEND_LIMIT
        # float32 seconds from origin_ms, float32 values: half the bytes on every update
        lines = [(s.name, self._x(s.x), (s.y * k).astype("float32")) for s in series]
        if many:
            xs, ys = _median(series)
            lines.append(("fleet median", self._x(xs), (ys * k).astype("float32")))
        names = [name for name, _, _ in lines]
        if names != self.names:  # the set of series changed: a new figure with them
            trace = go.Scattergl if many else go.Scatter
            # a legend only where it fits beside the plot: long names (rule groups) are read
            # on hover instead
            legend = not many and max((len(n) for n in names), default=0) <= LEGEND_CHARS
            self._legend_room(legend, names)
            self._new_figure([
                trace(x=x, y=y, name=name, mode="lines", showlegend=legend,
                      line={"width": 3, "color": "black"} if name == "fleet median"
                      else {"width": 1, "color": colour(name, i)},
                      opacity=1.0 if not many or name == "fleet median" else 0.5,
                      hovertemplate=f"{html.escape(name)}: %{{y:.3g}}<extra></extra>")
                for i, (name, x, y) in enumerate(lines)
            ])  # fmt: skip
            self.names = names
            self.shapes_key = ()
            self.ticks = []
            self.range = []
            fresh = True
        else:
            fresh = False
        # plotly_restyle/relayout: one message per figure, without re-validating arrays that
        # are already numbers (a trace-by-trace assignment costs ~10x more in the kernel);
        # nothing at all while no new grid point has come (a step can be longer than 1 s)
        seen = tuple((name, len(x), float(x[-1]), float(y[-1])) for name, x, y in lines if len(x))
        restyle: dict[str, Any] = {}
        if not fresh and lines and seen != self.seen:
            restyle = {"x": [x for _, x, _ in lines], "y": [y for _, _, y in lines]}
        self.seen = seen
        end_ms = snap.end * 1000
        start_ms = end_ms - snap.range_seconds * 1000
        relayout: dict[str, Any] = {}
        if [start_ms, end_ms] != self.range:
            relayout["xaxis.range"] = [self._s(start_ms), self._s(end_ms)]
            values, texts = clock_ticks(start_ms, end_ms)
            if values != self.ticks:
                relayout |= {
                    "xaxis.tickvals": [self._s(v) for v in values],
                    "xaxis.ticktext": texts,
                }
                self.ticks = values
            self.range = [start_ms, end_ms]
        if restyle or relayout:  # one message for both
            self.figure.plotly_update(restyle, relayout, trace_indexes=list(range(len(lines))))
        key = (tuple(faults), self.panel.extra.get("threshold"))
        if key != self.shapes_key:
            self.figure.layout.shapes = self._shapes(faults)
            self.shapes_key = key
        if not self.figure._view_count:
            # No browser view yet (Voilà connects after the notebook ran): the edits above
            # are messages nobody received. Put the whole figure in the widget's state, which
            # a view reads when it is created, as plotly itself does on display.
            from copy import deepcopy

            self.figure._widget_layout = deepcopy(self.figure._layout_obj._props)
            self.figure._widget_data = deepcopy(self.figure._data)

    def _shapes(self, faults: list[FaultSpan]) -> list[dict[str, Any]]:
        shapes: list[dict[str, Any]] = [
            {"type": "rect", "xref": "x", "yref": "paper",
             "x0": self._s(f.start_ms), "x1": self._s(f.end_ms),
             "y0": 0, "y1": 1, "fillcolor": "rgba(255, 96, 96, 0.15)", "line": {"width": 0},
             "layer": "below",
             **({"label": {"text": f"{f.failure} on node {f.node}",
                           "textposition": ("top left", "middle left", "bottom left")[i % 3],
                           "font": {"size": 9}}} if self.label_faults else {})}
            for i, f in enumerate(faults)
        ]  # fmt: skip
        if "threshold" in self.panel.extra:
            value, text = self.panel.extra["threshold"]
            shapes.append({
                "type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y",
                "y0": value * scale(self.panel.unit), "y1": value * scale(self.panel.unit),
                "line": {"color": "red", "dash": "dot", "width": 1},
                "label": {"text": text, "textposition": "end", "font": {"size": 9, "color": "red"}},
            })  # fmt: skip
        return shapes


def _stat_html(data: PanelData) -> str:
    p = data.panel
    e = html.escape
    if data.error:
        body = f"<div style='color:#b00020'>{e(data.error)}</div>"
    elif p.kind == "gauge":
        share = 0.0 if data.value is None or data.value != data.value else data.value
        share = min(1.0, max(0.0, share))
        colour_ = "#1b873f" if share >= 0.95 else "#d98200" if share >= 0.8 else "#c62828"
        body = (
            f"<div class='labkit-dash-stat' style='font-size:28px;font-weight:600'>"
            f"{e(display(data.value, p.unit))}</div>"
            "<div style='background:#eee;border-radius:4px;height:10px;width:100%'>"
            f"<div style='background:{colour_};height:10px;border-radius:4px;"
            f"width:{share * 100:.1f}%'></div></div>"
        )
    else:
        body = (
            f"<div class='labkit-dash-stat' style='font-size:28px;font-weight:600'>"
            f"{e(display(data.value, p.unit, budget=bool(p.extra.get('budget'))))}</div>"
        )
    legend = e(p.targets[0][1])
    return (
        f"<div style='font-size:13px;color:#444'>{e(p.title)}</div>{body}"
        f"<div style='font-size:11px;color:#777'>{legend}</div>"
    )


def _alerts_html(data: PanelData) -> str:
    e = html.escape
    title = f"<div style='font-size:13px;color:#444'>{e(data.panel.title)}</div>"
    if data.error:
        return title + f"<div style='color:#b00020'>{e(data.error)}</div>"
    if not data.rows:
        return (
            title + "<table class='labkit-dash-alerts'><tr><td><i>none firing</i></td></tr></table>"
        )
    head = "".join(f"<th style='text-align:left;padding:1px 6px'>{h}</th>"
                   for h in ("alert", "node", "severity", "which"))  # fmt: skip
    body = "".join(
        "<tr>" + "".join(f"<td style='padding:1px 6px'>{e(r[c])}</td>"
                         for c in ("alert", "node", "severity", "labels")) + "</tr>"
        for r in data.rows
    )  # fmt: skip
    return (
        title + "<div style='max-height:230px;overflow-y:auto'><table class='labkit-dash-alerts' "
        f"style='font-size:12px'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


class Dashboard:
    def __init__(
        self,
        lab: Lab | None = None,
        refresh_seconds: float = 1.0,
        auto_refresh: bool = True,
        range_label: str = "5 min",
    ) -> None:
        import ipywidgets as w

        if lab is None:
            from labkit.lab import Lab

            lab = Lab.connect_or_none()
        self.lab = lab
        self.refresh_seconds = refresh_seconds
        self.feed = Feed(lab.prometheus_url) if lab is not None else None
        ids = [str(i) for i in (lab.fleet.urls if lab is not None and lab._fleet else [])]
        self.nodes = w.SelectMultiple(options=["all", *ids], value=["all"], rows=5,
                                      description="nodes", layout={"width": "220px"})  # fmt: skip
        self.range = w.ToggleButtons(options=list(RANGES_SECONDS), value=range_label,
                                     description="range",
                                     style={"button_width": "70px"})  # fmt: skip
        self.status = w.HTML(layout={"margin": "0 0 0 16px"})
        self.status.add_class("labkit-dash-status")
        self.views: list[tuple[Panel, Any]] = []
        self.boxes: list[Any] = []
        rows = []
        for title, row_panels in ROWS:
            cells = []
            for p in row_panels:
                if p.kind == "timeseries":
                    first = not any(isinstance(v, _TimeseriesView) for _, v in self.views)
                    view: Any = _TimeseriesView(p, label_faults=first)
                    inner = view.box
                else:
                    view = w.HTML()
                    inner = view
                box = w.Box([inner], layout={"width": f"{p.width / 24 * 100:.2f}%",
                                             "padding": "2px", "min_height": "90px"})  # fmt: skip
                box.add_class("labkit-dash-panel")
                box.add_class(
                    "labkit-panel-" + re.sub(r"[^a-z0-9]+", "-", p.title.lower()).strip("-")
                )
                cells.append(box)
                self.boxes.append(box)
                self.views.append((p, view))
            header = w.HTML(f"<h3 style='margin:8px 0 2px'>{html.escape(title)}</h3>")
            row = w.VBox([header, w.HBox(cells, layout={"width": "100%"})])
            row.add_class("labkit-dash-row")
            rows.append(row)
        top = w.HBox([self.nodes, self.range, self.status],
                     layout={"align_items": "center"})  # fmt: skip
        self.pacer: Pacer[Snapshot | str] = Pacer(
            self.fetch, self.apply, refresh_seconds,
            failed=lambda exc: f"the dashboard could not refresh: {exc!r}",
            connected=self._redraw,
        )  # fmt: skip
        # the heartbeat first: it ticks as soon as the page shows, before the figures are drawn
        self.widget = w.VBox([self.pacer.widget, top, *rows], layout={"width": "100%"})
        self.widget.add_class("labkit-dashboard")
        self.nodes.observe(lambda _: self._changed(), names="value")
        self.range.observe(lambda _: self._changed(), names="value")
        self.last: Snapshot | None = None
        if auto_refresh:
            self.start()
        else:
            self.refresh()

    # -- data -----------------------------------------------------------------------------------

    def _want(self) -> tuple[list[int] | None, int] | str:
        try:
            return choose_nodes(self.nodes.value), RANGES_SECONDS[self.range.value]
        except (LabkitError, ValueError) as exc:
            return str(exc)

    def fetch(self) -> Snapshot | str:
        """The next snapshot, or the sentence that says why there is none (off the loop)."""
        if self.feed is None:
            return "No lab is running. Start it with `make lab` (or `labkit up`), then rerun."
        want = self._want()
        if isinstance(want, str):
            return want
        return self.feed.fetch(*want)

    def apply(self, snap: Snapshot | str) -> None:
        """Draw a snapshot (on the kernel's loop); never raises."""
        try:
            self._apply(snap)
        except Exception as exc:
            self._say(f"the dashboard could not draw this refresh: {exc!r}", problem=True)

    def _say(self, text: str, problem: bool = False) -> None:
        colour_ = "#b00020" if problem else "#555"
        self.status.value = f"<span style='color:{colour_}'>{html.escape(text)}</span>"

    def _apply(self, snap: Snapshot | str) -> None:
        if isinstance(snap, str):
            self._say(snap, problem=True)
            return
        self.last = snap
        if snap.error:
            self._say(snap.error, problem=True)
        else:
            when = time.strftime("%H:%M:%S", time.gmtime(snap.at))
            wait = " · charts wait: this page is still drawing" if self.pacer.behind else ""
            self._say(f"updated {when} UTC · step {snap.step_seconds} s · "
                      f"refresh took {snap.took_seconds * 1000:.0f} ms{wait}")  # fmt: skip
        for box, data in zip(self.boxes, snap.panels, strict=True):
            if data.has_data and not data.error:
                box.remove_class("labkit-dash-empty")
            else:
                box.add_class("labkit-dash-empty")
        busy = self.pacer.behind  # the page is still drawing: figures wait, the rest goes
        for (p, view), data in zip(self.views, snap.panels, strict=True):
            if isinstance(view, _TimeseriesView):
                if not busy:
                    view.update(data, snap.faults, snap)
            elif p.kind == "table":
                view.value = _alerts_html(data)
            else:
                view.value = _stat_html(data)

    def refresh(self) -> Snapshot | str:
        snap = self.fetch()
        self.apply(snap)
        return snap

    def _redraw(self) -> None:
        """A page (re)attached, and may have missed changes sent meanwhile: send every part's
        state again, and the figures' ranges, ticks and bands with the next update (their
        data goes with every update anyway). Nothing is drawn twice."""
        for _, view in self.views:
            if isinstance(view, _TimeseriesView):
                view.resync()
            else:
                view.send_state()
        for box in self.boxes:
            box.send_state()
        self.status.send_state()

    def _changed(self) -> None:
        if not self.pacer.running:  # no loop: draw now
            self.refresh()

    def start(self) -> None:
        """Refresh every `refresh_seconds` while a page shows the dashboard (labkit.liveloop);
        outside Jupyter's loop, refresh once."""
        if not self.pacer.start():
            self.refresh()

    def stop(self) -> None:
        self.pacer.stop()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


def header(which: str = "dashboard") -> Any:
    """The page's top line: what it is and the lab's other addresses (or why there is none)."""
    import ipywidgets as w

    from labkit.lab import Lab

    try:
        lab = Lab.connect()
    except LabkitError as exc:
        return w.HTML(f"<div style='color:#b00020'>{html.escape(str(exc))}</div>")
    links = [(name, url) for name, url in lab.links().items() if name != which]
    items = " · ".join(
        f"<a href='{html.escape(url)}' target='_blank'>{html.escape(name)}</a>"
        for name, url in links
    )
    return w.HTML(f"<div class='labkit-dash-links' style='color:#555'>The lab: {items}</div>")
