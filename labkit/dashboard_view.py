"""The live dashboard's data: the panels of `labkit.dashboard` queried from Prometheus, as
plain arrays ready to draw (labkit.dashboard_widget draws them with plotly and ipywidgets).

    feed = Feed(lab.prometheus_url)
    snap = feed.fetch(nodes=None, range_seconds=300)   # never raises
    snap.panels[4].series[0].name, .x (epoch ms), .y   # a time series panel
    snap.panels[0].value                               # a stat or gauge
    snap.panels[12].rows                               # the active alerts table
    snap.faults                                        # injected faults, for annotations

A range panel is refreshed incrementally: each fetch asks Prometheus only for the grid points
it has not seen (plus the last two, which a late scrape may still change), so a refresh every
second costs a few points per series, not the whole range. Changing the nodes or the range
starts afresh. Every failure (Prometheus not answering, a query refused) becomes a sentence
in the snapshot, never an exception.
"""

from __future__ import annotations

import http.client
import json
import math
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from labkit import auth
from labkit.alerts import alert_details  # one wording for every page: "SLO x, page"
from labkit.dashboard import ANNOTATIONS, Panel, for_nodes, panels
from labkit.errors import CredentialsError, QueryRefused
from labkit.words import natural_key

RANGES_SECONDS = {"5 min": 300, "15 min": 900, "60 min": 3600}
MAX_POINTS = 100  # per series and range: the step grows with the range (3 s over 5 min)

Clock = Callable[[], float]
GetJson = Callable[[str, float], Any]


def step_for(range_seconds: float) -> int:
    """The grid step (whole seconds) that keeps a range under MAX_POINTS points per series."""
    return max(1, math.ceil(range_seconds / MAX_POINTS))


_local = threading.local()  # one kept-alive connection per worker thread and server


def http_get_json(url: str, timeout: float) -> Any:
    """GET a JSON body over a connection kept open between refreshes (a new TCP connection
    per query every second costs more than the query). Prometheus' error bodies are JSON too."""
    parts = urllib.parse.urlsplit(url)
    pool: dict[str, http.client.HTTPConnection] = _local.__dict__.setdefault("pool", {})
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    for attempt in (0, 1):
        conn = pool.get(parts.netloc)
        if conn is None:
            conn = pool[parts.netloc] = http.client.HTTPConnection(parts.netloc, timeout=timeout)
        try:
            conn.request("GET", target, headers=auth.headers(url))  # --auth: the secret
            response = conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            del pool[parts.netloc]
            if attempt:  # a kept connection the server closed gets one fresh try
                raise
            continue
        if response.status == 401:
            raise auth.refused(f"{parts.scheme}://{parts.netloc}")
        try:
            return json.loads(body)
        except ValueError:
            raise OSError(f"HTTP {response.status} from {url}: not JSON") from None
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Series:
    name: str
    labels: dict[str, str]
    x: Any  # numpy float64 array: epoch milliseconds (plotly draws numbers on a date axis as ms)
    y: Any  # numpy float64 array


@dataclass
class PanelData:
    panel: Panel
    series: list[Series] = field(default_factory=list)  # timeseries
    value: float | None = None  # stat, gauge
    rows: list[dict[str, str]] = field(default_factory=list)  # table
    error: str | None = None

    @property
    def has_data(self) -> bool:
        if self.panel.kind == "timeseries":
            return any(len(s.x) for s in self.series)
        if self.panel.kind == "table":
            return True  # an empty alert table says "none firing": that is data
        return self.value is not None and math.isfinite(self.value)


@dataclass(frozen=True)
class FaultSpan:
    node: str
    failure: str
    start_ms: float
    end_ms: float


@dataclass
class Snapshot:
    at: float
    range_seconds: int
    step_seconds: int
    nodes: list[int] | None
    end: float = 0.0  # the last grid point (epoch seconds): the time series end there
    panels: list[PanelData] = field(default_factory=list)
    faults: list[FaultSpan] = field(default_factory=list)
    took_seconds: float = 0.0
    error: str | None = None  # the whole dashboard's problem (Prometheus not answering)


def legend(template: str, labels: dict[str, str]) -> str:
    """Grafana's legend format: {{label}} replaced by the series' label value."""
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), template)


def _number(text: str) -> float:
    return float(text)  # Prometheus writes "NaN", "+Inf": float() reads both


class _RangeCache:
    """The points of one range query seen so far, per series (labels as a sorted tuple)."""

    def __init__(self) -> None:
        self.points: dict[tuple[tuple[str, str], ...], dict[float, float]] = {}
        self.end: float | None = None

    def merge(
        self, result: list[dict[str, Any]], start: float, end: float, keep_from: float
    ) -> None:
        for series in self.points.values():  # the re-asked points are replaced, not kept twice
            for t in [t for t in series if t >= start]:
                del series[t]
        for item in result:
            key = tuple(sorted(item["metric"].items()))
            series = self.points.setdefault(key, {})
            for t, v in item["values"]:
                series[float(t)] = _number(v)
        for key in list(self.points):
            series = self.points[key]
            for t in [t for t in series if t < keep_from]:
                del series[t]
            if not series:
                del self.points[key]
        self.end = end


class Feed:
    """Fetches snapshots of the dashboard from one Prometheus; keeps what it has seen."""

    def __init__(
        self,
        prometheus_url: str,
        timeout: float = 5.0,
        clock: Clock = time.time,
        get_json: GetJson = http_get_json,
        workers: int = 4,
    ) -> None:
        self.url = prometheus_url.rstrip("/")
        self.timeout = timeout
        self.clock = clock
        self.get_json = get_json
        self.workers = workers
        self._caches: dict[str, _RangeCache] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._view: tuple[tuple[int, ...] | None, int] | None = None

    def _api(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        body = self.get_json(url, self.timeout)
        if body.get("status") != "success":
            raise QueryRefused(params["query"], str(body.get("error", body)))
        return list(body["data"]["result"])

    def _range(self, expr: str, end: float, range_seconds: int, step: int) -> _RangeCache:
        cache = self._caches.setdefault(expr, _RangeCache())
        if cache.end == end:  # no new grid point since the last ask: nothing new to fetch
            return cache
        keep_from = end - range_seconds
        start = keep_from if cache.end is None else max(keep_from, cache.end - 2 * step)
        result = self._api("query_range", {"query": expr, "start": start, "end": end,
                                           "step": step})  # fmt: skip
        cache.merge(result, start, end, keep_from)
        return cache

    def fetch(self, nodes: list[int] | None = None, range_seconds: int = 300) -> Snapshot:
        started = time.monotonic()
        view = (tuple(sorted(nodes)) if nodes else None, range_seconds)
        if view != self._view:
            self._caches.clear()
            self._view = view
        now = self.clock()
        step = step_for(range_seconds)
        end = math.floor(now / step) * step  # on the grid: every refresh asks the same points
        snap = Snapshot(now, range_seconds, step, list(view[0]) if view[0] else None, end)

        def one(panel: Panel) -> PanelData:
            data = PanelData(panel)
            try:
                if panel.kind == "timeseries":
                    for expr, template in panel.targets:
                        cache = self._range(for_nodes(expr, nodes), end, range_seconds, step)
                        data.series += _series(cache, template)
                    data.series.sort(key=lambda s: natural_key(s.name))
                else:
                    expr = for_nodes(panel.targets[0][0], nodes)
                    result = self._api("query", {"query": expr, "time": now})
                    if panel.kind == "table":
                        data.rows = _alert_rows(result)
                    elif result:
                        data.value = _number(result[0]["value"][1])
            except QueryRefused as exc:
                data.error = str(exc)
            return data

        def faults() -> list[FaultSpan]:
            expr = for_nodes(ANNOTATIONS[0]["expr"], nodes)
            return fault_spans(self._range(expr, end, range_seconds, step), step)

        try:
            if self._pool is None:  # kept: its threads keep their connections open
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="labkit-feed")
            futures = [self._pool.submit(one, p) for p in panels()]
            spans = self._pool.submit(faults)
            snap.panels = [f.result() for f in futures]
            snap.faults = spans.result()
        except CredentialsError as exc:
            self._caches.clear()
            snap.panels = [PanelData(p) for p in panels()]
            snap.error = str(exc)
        except (OSError, ValueError, KeyError, QueryRefused) as exc:
            self._caches.clear()
            snap.panels = [PanelData(p) for p in panels()]
            snap.error = (
                f"Prometheus at {self.url} does not answer ({_reason(exc)}). Is the lab "
                "running? Start it with `labkit up`; this view retries every second."
            )
        snap.took_seconds = time.monotonic() - started
        return snap


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    return str(exc) or type(exc).__name__


def _series(cache: _RangeCache, template: str) -> list[Series]:
    import numpy as np  # arrays: plotly validates and sends them whole, not value by value

    out = []
    for key, points in cache.points.items():
        labels = dict(key)
        times = sorted(points)
        x = np.fromiter(times, float, len(times)) * 1000
        y = np.fromiter((points[t] for t in times), float, len(times))
        out.append(Series(legend(template, labels), labels, x, y))
    return out


def _alert_rows(result: list[dict[str, Any]]) -> list[dict[str, str]]:
    """ALERTS series as table rows: alert, node, severity, and the labels that tell alerts of
    one name apart (an SLO's windows, its sloth severity)."""
    rows = []
    for item in result:
        m = item["metric"]
        rows.append({"alert": m.get("alertname", ""), "node": m.get("node", ""),
                     "severity": m.get("severity", ""), "labels": alert_details(m)})  # fmt: skip
    rows.sort(key=lambda r: (r["alert"], natural_key(r["node"]), r["labels"]))
    return rows


def fault_spans(cache: _RangeCache, step: int) -> list[FaultSpan]:
    """Runs of labkit_fault_active == 1 per node and failure (no gap over 1.5 steps)."""
    spans = []
    for key, points in cache.points.items():
        labels = dict(key)
        times = sorted(points)
        start = prev = times[0]
        for t in [*times[1:], math.inf]:
            if t - prev > 1.5 * step:
                spans.append(FaultSpan(labels.get("node", ""), labels.get("failure", ""),
                                       start * 1000, (prev + step) * 1000))  # fmt: skip
                start = t
            prev = t
    spans.sort(key=lambda s: (s.start_ms, natural_key(s.node)))
    return spans


UNITS = {"percent": "%", "percentunit": "%", "s": "s", "reqps": "req/s", "none": ""}
AXES = {"percent": "percent (%)", "percentunit": "percent (%)", "s": "seconds (s)",
        "reqps": "requests per second", "none": "count"}  # fmt: skip


def scale(unit: str) -> float:
    """Shares (0-1) are shown in percent, as Grafana's percentunit does."""
    return 100.0 if unit == "percentunit" else 1.0


def display(value: float | None, unit: str, budget: bool = False) -> str:
    """A stat's value as text with its unit; no data is said, never shown as a number. An
    error budget (`budget`, a share left) says "spent 5.3x its budget" once overspent."""
    if value is None:
        return "no data"
    if math.isnan(value):
        return "n/a"
    if budget and not math.isinf(value):
        from labkit.slo import budget_words

        return budget_words(value)
    v = value * scale(unit)
    if unit in ("percent", "percentunit"):
        return f"{v:.1f} %"
    if unit == "s":
        return f"{v:.3g} s"
    if unit == "reqps":
        return f"{v:.3g} req/s"
    return f"{v:.0f}" if float(v).is_integer() else f"{v:.3g}"
