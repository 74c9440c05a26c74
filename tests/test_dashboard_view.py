"""The live dashboard: its data (labkit.dashboard_view) against a Prometheus that answers from
a table (a stand-in for the incremental-query and error logic only), then the widget against
the real embedded lab."""

from __future__ import annotations

import json
import math
import time
import urllib.parse
from typing import Any

import pytest

from labkit import dashboard
from labkit.dashboard_view import (
    Feed,
    _RangeCache,
    display,
    fault_spans,
    legend,
    step_for,
)
from labkit.lab import Lab
from tests.conftest import wait_for


class TablePrometheus:
    """Answers query_range with one series per node, value = the timestamp; records every
    request. Stands in for Prometheus only where the point is which ranges are asked."""

    def __init__(self, nodes: tuple[str, ...] = ("1", "2")) -> None:
        self.nodes = nodes
        self.asked: list[dict[str, str]] = []
        self.refuse: str | None = None
        self.down = False

    def __call__(self, url: str, timeout: float) -> Any:
        if self.down:
            raise ConnectionRefusedError("connection refused")
        params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
        self.asked.append(params)
        if self.refuse and self.refuse in params["query"]:
            return {"status": "error", "error": "parse error: unexpected }"}
        if "query_range" not in url:
            return {"status": "success", "data": {"resultType": "vector",
                    "result": [{"metric": {"node": "1"}, "value": [0, "0.5"]}]}}  # fmt: skip
        start, end, step = float(params["start"]), float(params["end"]), float(params["step"])
        points = [start + i * step for i in range(int((end - start) / step) + 1)]
        result = [
            {"metric": {"node": n, "failure": "cpu_spike"}, "values": [[t, str(t)] for t in points]}
            for n in self.nodes
        ]
        return {"status": "success", "data": {"resultType": "matrix", "result": result}}


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("range_seconds", "step"), [(300, 3), (900, 9), (3600, 36), (60, 1), (100, 1), (301, 4)]
)
def test_the_step_keeps_every_range_under_100_points(range_seconds: int, step: int) -> None:
    assert step_for(range_seconds) == step
    assert range_seconds / step <= 100


def test_a_refresh_asks_only_for_the_points_it_has_not_seen_plus_the_last_two() -> None:
    prom, clock = TablePrometheus(), Clock(1_800_000_000.4)
    feed = Feed("http://prometheus", clock=clock, get_json=prom)
    first = feed.fetch(None, 90)  # step 1 s
    cpu = next(p for p in first.panels if p.panel.title == "CPU usage by node")
    assert [len(s.x) for s in cpu.series] == [91, 91]
    assert cpu.series[0].x[-1] == 1_800_000_000 * 1000 == first.end * 1000  # on the grid, ms
    prom.asked.clear()
    clock.now += 1.0
    second = feed.fetch(None, 90)
    ranges = [a for a in prom.asked if "start" in a and "node_cpu" in a["query"]]
    assert [(float(a["start"]), float(a["end"])) for a in ranges] == [
        (1_800_000_000 - 2, 1_800_000_001)
    ]
    cpu = next(p for p in second.panels if p.panel.title == "CPU usage by node")
    xs = cpu.series[0].x
    assert len(xs) == 91 and xs[0] == (1_800_000_001 - 90) * 1000  # the oldest one dropped
    assert list(xs) == sorted(set(xs))  # no point kept twice


def test_changing_nodes_or_range_starts_afresh_with_the_node_filter_filled() -> None:
    prom, clock = TablePrometheus(), Clock(1_800_000_000.0)
    feed = Feed("http://prometheus", clock=clock, get_json=prom)
    feed.fetch(None, 300)
    prom.asked.clear()
    feed.fetch([5, 2], 900)
    cpu = [a for a in prom.asked if a["query"].startswith("node_cpu_usage_percent")]
    assert cpu == [{"query": 'node_cpu_usage_percent{node=~"2|5"}',
                    "start": str(1_800_000_000 - 900), "end": "1800000000", "step": "9"}]  # fmt: skip


def test_a_refused_query_is_a_sentence_in_its_panel_and_the_rest_still_draw() -> None:
    prom = TablePrometheus()
    prom.refuse = "node_memory_usage_percent"
    snap = Feed("http://prometheus", clock=Clock(1_800_000_000.0), get_json=prom).fetch()
    by_title = {p.panel.title: p for p in snap.panels}
    assert snap.error is None
    assert "Prometheus refused 'node_memory_usage_percent" in by_title["Memory usage by node"].error
    assert "parse error" in by_title["Memory usage by node"].error
    assert by_title["CPU usage by node"].has_data


def test_prometheus_not_answering_is_one_sentence_for_the_whole_dashboard() -> None:
    prom = TablePrometheus()
    prom.down = True
    snap = Feed("http://127.0.0.1:1", clock=Clock(1_800_000_000.0), get_json=prom).fetch()
    assert snap.error is not None
    assert "Prometheus at http://127.0.0.1:1 does not answer (connection refused)" in snap.error
    assert "labkit up" in snap.error
    assert not any(p.has_data for p in snap.panels if p.panel.kind != "table")


def test_fault_spans_split_where_the_ground_truth_has_a_gap() -> None:
    cache = _RangeCache()
    values = [[t, "1"] for t in (100, 101, 102, 110, 111)]
    cache.merge([{"metric": {"node": "3", "failure": "cpu_spike"}, "values": values}], 0, 111, 0)
    spans = fault_spans(cache, step=1)
    assert [(s.node, s.failure, s.start_ms, s.end_ms) for s in spans] == [
        ("3", "cpu_spike", 100_000, 103_000),
        ("3", "cpu_spike", 110_000, 112_000),
    ]


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [(None, "percent", "no data"), (math.nan, "s", "n/a"), (0.9253, "percentunit", "92.5 %"),
     (12.0, "none", "12"), (0.25, "s", "0.25 s"), (45.04, "percent", "45.0 %"),
     (3.5, "reqps", "3.5 req/s")],
)  # fmt: skip
def test_stat_values_are_shown_with_their_unit_and_no_data_is_said(
    value: float | None, unit: str, text: str
) -> None:
    assert display(value, unit) == text


def test_legends_fill_labels_as_grafana_does() -> None:
    assert legend("node {{node}}", {"node": "7"}) == "node 7"
    assert legend("sent ({{ integration }})", {"integration": "webhook"}) == "sent (webhook)"


# -- the widget, against the real lab -----------------------------------------------------------


def test_the_node_selector_gives_ids_all_or_a_sentence_when_empty() -> None:
    from labkit.dashboard_widget import choose_nodes
    from labkit.errors import InvalidInput

    with pytest.raises(InvalidInput, match=r"nodes.*at least one node, or all"):
        choose_nodes(())
    assert choose_nodes(("all", "3")) is None
    assert choose_nodes(("11", "3")) == [3, 11]


@pytest.mark.live
@pytest.mark.timeout(120)
def test_the_widget_draws_every_panel_from_the_live_lab_with_faults_shaded(
    shared_lab: Lab,
) -> None:
    from labkit.dashboard_widget import Dashboard, _TimeseriesView

    shared_lab.inject(4, "error_burst", 20)
    wait_for("the fault in Prometheus", lambda: shared_lab.query(
        'labkit_fault_active{node="4", failure="error_burst"} == 1'))  # fmt: skip
    time.sleep(2)  # a second scrape: every panel's rate() has two samples with the fault
    board = Dashboard(shared_lab, auto_refresh=False)
    snap = board.refresh()
    assert not isinstance(snap, str) and snap.error is None
    empty = [p.panel.title for p in snap.panels if not p.has_data]
    assert empty == [], f"panels without data: {empty}"
    assert any(f.node == "4" and f.failure == "error_burst" for f in snap.faults)
    views = {p.title: v for p, v in board.views}
    errors = views["Error rate by node"]
    assert isinstance(errors, _TimeseriesView)
    names = [t.name for t in errors.figure.data]
    assert names == [f"node {i}" for i in range(1, 7)]  # natural node order
    shapes = errors.figure.layout.shapes
    assert any(s.type == "rect" for s in shapes)  # the band, unnamed: the CPU panel names it
    assert any(s.type == "line" and s.y0 == 5.0 for s in shapes)  # 5 %, in percent
    cpu = views["CPU usage by node"]
    assert isinstance(cpu, _TimeseriesView)
    assert any(s.type == "rect" and "error_burst on node 4" in (s.label.text or "")
               for s in cpu.figure.layout.shapes)  # fmt: skip
    assert "labkit-dash-alerts" in views["Active alerts"].value
    assert "Active nodes" in views["Active nodes"].value and ">6<" in views["Active nodes"].value

    board.nodes.value = ("4",)  # no loop running: the change redraws at once
    assert [t.name for t in errors.figure.data] == ["node 4"]
    board.nodes.value = ()
    assert "at least one node, or all" in board.status.value
    shared_lab.recover(4)


@pytest.mark.live
def test_the_widget_says_when_prometheus_does_not_answer(shared_lab: Lab) -> None:
    from labkit.dashboard_widget import Dashboard
    from labkit.lab import Endpoints

    gone = Lab(None, shared_lab.settings,
               endpoints=Endpoints("http://127.0.0.1:1", "", "", {1: "http://127.0.0.1:1"}))  # fmt: skip
    board = Dashboard(gone, auto_refresh=False)
    assert "does not answer" in board.status.value and "labkit up" in board.status.value


def test_the_pages_are_notebooks_of_two_cells_that_call_labkit() -> None:
    from labkit.pages import FOLDER, PAGES

    for name, file in PAGES.items():
        cells = json.loads((FOLDER / file).read_text())["cells"]
        code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
        assert code == [f'from labkit.pages.view import page\n\npage("{name}")']
    assert dashboard.SEED_ROWS == 4


@pytest.mark.live
@pytest.mark.timeout(120)
def test_labkit_dashboard_brings_the_page_back_and_says_where_it_is(
    shared_lab: Lab, tmp_path: Any
) -> None:
    import os
    import subprocess
    import urllib.request

    from labkit.stack import LabPaths, stop_component
    from tests.conftest import LABKIT

    assert shared_lab.config is not None
    assert stop_component("dashboard", LabPaths(shared_lab.settings.state_dir))
    env = {**os.environ, "LABKIT_STATE_DIR": str(shared_lab.settings.state_dir)}
    run = subprocess.run([*LABKIT, "dashboard"], env=env, capture_output=True, text=True,
                         timeout=90)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "starting the dashboard page" in run.stdout
    assert f"  dashboard      {shared_lab.config.dashboard_page}" in run.stdout
    with urllib.request.urlopen(shared_lab.config.dashboard_url + "/", timeout=10) as r:
        assert r.status == 200
    page = shared_lab.config.dashboard_page
    with urllib.request.urlopen(page, timeout=60) as r:  # the page, rendered with its kernel
        html = r.read().decode()
    assert "jp-OutputArea" in html  # rendered by Voilà's lab template, as labkit's extends it
    assert "cdn.jsdelivr.net" not in html  # nothing from the internet: the lab works offline
    again = subprocess.run([*LABKIT, "dashboard"], env=env, capture_output=True, text=True,
                           timeout=90)  # fmt: skip
    assert again.returncode == 0 and "starting" not in again.stdout
    nolab = subprocess.run([*LABKIT, "dashboard"], capture_output=True, text=True, timeout=30,
                           env={**os.environ, "LABKIT_STATE_DIR": str(tmp_path)})  # fmt: skip
    assert nolab.returncode == 1 and "no lab is running" in nolab.stderr
    assert "Traceback" not in nolab.stderr


def test_the_error_budget_stat_says_overspent_not_a_negative_share_left() -> None:
    panel = next(p for _, panels in dashboard.ROWS for p in panels
                 if p.title == "Error budget remaining")  # fmt: skip
    shown = display(-28.819, panel.unit, budget=bool(panel.extra.get("budget")))
    assert shown == "spent 29.8x its budget"
    assert display(0.62, panel.unit, budget=True) == "62.0 % left"
    assert display(None, panel.unit, budget=True) == "no data"
