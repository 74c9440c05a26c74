"""The Grafana dashboard and its provisioning: structure checked statically, and every
panel's and annotation's PromQL run against the live embedded Prometheus with a fault
injected (Grafana itself cannot run here without Docker)."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from typing import Any

import pytest
import yaml

from labkit import dashboard
from labkit.lab import Lab
from tests.conftest import REPO

PROVISIONING = REPO / "grafana/provisioning"
SEED_ROWS = {
    "Overview": ["Active nodes", "Reliability score", "Error budget remaining", "Platform health"],
    "Resource Utilization": ["CPU usage by node", "Memory usage by node"],
    "Request Metrics": ["Request rate by node", "Latency p50 / p95 / p99", "Error rate by node"],
    "SRE Metrics": ["Reliability score by node", "Error budget consumed by node", "Active alerts"],
}


@pytest.fixture(scope="module")
def board() -> dict[str, Any]:
    return json.loads((PROVISIONING / "dashboards/telemetry.json").read_text())


def rows(board: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    current = None
    for panel in board["panels"]:
        if panel["type"] == "row":
            current = panel["title"]
            out[current] = []
        else:
            assert current is not None, "a panel before the first row"
            out[current].append(panel)
    return out


META_ROW = {
    "Prometheus and Alertmanager": [
        "Rule evaluation time by group",
        "Missed rule evaluations",
        "Notifications sent",
    ]
}


def test_the_seeds_four_rows_in_order_then_the_row_that_watches_the_watchers(
    board: dict[str, Any],
) -> None:
    found = rows(board)
    assert list(found) == [*SEED_ROWS, *META_ROW]
    assert {r: [p["title"] for p in ps] for r, ps in found.items()} == {**SEED_ROWS, **META_ROW}
    assert next(p for p in found["Overview"] if p["title"] == "Platform health")["type"] == "gauge"


def test_grid_positions_do_not_overlap(board: dict[str, Any]) -> None:
    cells: set[tuple[int, int]] = set()
    for panel in board["panels"]:
        g = panel["gridPos"]
        assert g["x"] >= 0 and g["x"] + g["w"] <= 24 and g["h"] > 0, panel["title"]
        area = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not cells & area, f"{panel['title']} overlaps another panel"
        cells |= area


def test_every_panel_uses_the_provisioned_datasource(board: dict[str, Any]) -> None:
    ds = yaml.safe_load((PROVISIONING / "datasources/datasource.yml").read_text())["datasources"]
    assert len(ds) == 1 and ds[0]["editable"] is False and ds[0]["url"] == "http://prometheus:9090"
    uid = ds[0]["uid"]
    for panel in board["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == uid, panel["title"]
        assert panel["targets"] and all(t["datasource"]["uid"] == uid for t in panel["targets"])
        assert panel["fieldConfig"]["defaults"]["unit"], panel["title"]
    layers = [a for a in board["annotations"]["list"] if not a.get("builtIn")]
    assert layers and all(a["datasource"]["uid"] == uid for a in layers)
    assert any("labkit_fault_active" in a["expr"] for a in layers)


def test_dashboards_are_provisioned_read_only() -> None:
    providers = yaml.safe_load((PROVISIONING / "dashboards/dashboards.yml").read_text())[
        "providers"
    ]
    assert [(p["allowUiUpdates"], p["disableDeletion"]) for p in providers] == [(False, True)]
    assert providers[0]["options"]["path"] == "/etc/grafana/provisioning/dashboards"


# -- live: every query returns data ------------------------------------------------------------


@pytest.fixture(scope="module")
def faulted_lab(shared_lab: Lab) -> Lab:
    shared_lab.inject(2, "cpu_spike", 60)
    deadline = time.monotonic() + 30
    while not any(
        a["labels"]["alertname"] == "HighCPUUsage" for a in shared_lab.prometheus_alerts()
    ):
        assert time.monotonic() < deadline, "HighCPUUsage never fired"
        time.sleep(0.2)
    time.sleep(3)  # a few samples for the 30 s rate() windows
    return shared_lab


def test_the_node_variable_filters_every_node_query_in_grafana_and_in_the_live_view(
    board: dict[str, Any],
) -> None:
    variable = board["templating"]["list"][0]
    assert (variable["name"], variable["multi"], variable["includeAll"]) == ("node", True, True)
    node_queries = [t["expr"] for p in board["panels"] for t in p.get("targets", [])
                    if "node_" in t["expr"] or "reliability" in t["expr"] or "up{" in t["expr"]]  # fmt: skip
    assert node_queries and all('node=~"$node"' in q for q in node_queries)
    assert all("$node" not in q for q in dashboard.queries([3, 11]))
    assert 'node_cpu_usage_percent{node=~"3|11"}' in dashboard.queries([11, 3])
    assert 'node_cpu_usage_percent{node=~".+"}' in dashboard.queries()


def test_each_threshold_drawn_is_the_threshold_of_its_alert_rule() -> None:
    rules = {r["alert"]: r["expr"] for g in yaml.safe_load(
        (REPO / "prometheus/rules/alerts.yml").read_text())["groups"] for r in g["rules"]}  # fmt: skip
    drawn = {p.title: p.extra["threshold"] for p in dashboard.panels() if "threshold" in p.extra}
    assert len(drawn) >= 6
    for title, (value, text) in drawn.items():
        alert = text.split()[0].rstrip(":")
        assert alert in rules, (title, text)
        if alert == "ErrorBudgetBurn":  # drawn as budget consumed: 1 - remaining
            assert "< 0.5" in rules[alert] and value == 0.5
        else:
            assert f" {value:g}" in rules[alert].replace("\n", " "), (title, value, rules[alert])


@pytest.mark.live
@pytest.mark.timeout(180)
@pytest.mark.parametrize("expr", dashboard.queries())
def test_every_query_returns_data_from_the_live_prometheus(faulted_lab: Lab, expr: str) -> None:
    end = time.time()
    params = urllib.parse.urlencode({"query": expr, "start": end - 60, "end": end, "step": "1"})
    url = f"{faulted_lab.prometheus_url}/api/v1/query_range?{params}"
    with urllib.request.urlopen(url, timeout=10) as r:
        body = json.loads(r.read())
    assert body["status"] == "success"
    series = body["data"]["result"]
    assert series, f"no data for {expr}"
    assert any(v[1] not in ("NaN", "+Inf", "-Inf") for s in series for v in s["values"]), expr


def test_grafana_says_an_overspent_budget_instead_of_a_negative_share() -> None:
    panels = [p for p in dashboard.build()["panels"] if p.get("title") == "Error budget remaining"]
    mapping = panels[0]["fieldConfig"]["defaults"]["mappings"][0]
    assert mapping["options"]["to"] == 0 and mapping["options"]["result"]["text"] == "overspent"
