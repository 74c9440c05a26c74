"""The node's HTTP API in process (ASGI): metrics, health, control endpoints, bad input."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from labkit.exposition import METRICS
from labkit.journal import Journal, read_journal
from labkit.node import Node
from tests.conftest import FakeClock, make_app

SEED_METRICS = {
    "node_cpu_usage_percent": "gauge",
    "node_memory_usage_percent": "gauge",
    "node_request_latency_seconds": "histogram",
    "node_requests": "counter",  # the parser names a counter family without _total
    "node_uptime_seconds": "gauge",
    "node_error_rate": "gauge",
    "reliability_score": "gauge",
    "error_budget_remaining": "gauge",
}


@pytest.fixture
def node(tmp_path: Path, clock: FakeClock) -> Node:
    return Node(7, seed=3, journal=Journal(tmp_path / "journal.jsonl"), clock=clock)


@pytest.fixture
def http(node: Node) -> TestClient:
    return TestClient(make_app(node))


def test_metrics_round_trip_through_the_prometheus_parser(http: TestClient, clock: Any) -> None:
    clock.advance(120)
    response = http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    assert {name: families[name].type for name in SEED_METRICS} == SEED_METRICS
    assert families["labkit_fault_active"].type == "gauge"
    statuses = {s.labels["status"] for s in families["node_requests"].samples}
    assert statuses == {"success", "error"}
    buckets = [s for s in families["node_request_latency_seconds"].samples if "le" in s.labels]
    assert {"0.75", "1.0", "1.5", "+Inf"} <= {s.labels["le"] for s in buckets}
    uptime = families["node_uptime_seconds"].samples[0].value
    assert uptime == pytest.approx(120)


def test_metrics_pass_promtool_check_metrics(http: TestClient, node: Node, clock: Any) -> None:
    assert shutil.which("promtool"), "promtool is missing: `make test` installs it (prometheus)"
    clock.advance(30)
    node.inject("latency_spike", 60)
    clock.advance(30)
    body = http.get("/metrics").content
    check = subprocess.run(
        ["promtool", "check", "metrics"], input=body, capture_output=True, timeout=30
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_the_schema_documents_every_metric_family_help(http: TestClient) -> None:
    text = http.get("/metrics").text
    for name in METRICS:
        assert f"# HELP {name} " in text and f"# TYPE {name} " in text


def test_inject_faults_recover_over_http(http: TestClient, node: Node, clock: Any) -> None:
    r = http.post("/inject", json={"failure": "error_burst", "duration_seconds": 20})
    assert r.status_code == 200 and r.json()["failure"] == "error_burst"
    clock.advance(5)
    faults = http.get("/faults").json()
    assert faults["node"] == 7
    assert [(a["failure"], a["seconds_left"]) for a in faults["active"]] == [("error_burst", 15)]
    families = text_string_to_metric_families(http.get("/metrics").text)
    error_rate = next(f for f in families if f.name == "node_error_rate").samples[0].value
    assert 0.2 <= error_rate <= 0.5
    r = http.post("/recover", json={"failure": "error_burst"})
    assert r.json() == {"node": 7, "recovered": ["error_burst"]}
    assert http.get("/faults").json()["active"] == []
    assert http.post("/recover").json() == {"node": 7, "recovered": []}


def test_inject_without_duration_uses_30_seconds(http: TestClient) -> None:
    r = http.post("/inject", json={"failure": "cpu_spike"})
    assert r.status_code == 200 and r.json()["duration_seconds"] == 30


def test_control_endpoints_stay_up_during_a_crash(http: TestClient, clock: Any) -> None:
    assert http.post("/inject", json={"failure": "node_crash", "duration_seconds": 60}).is_success
    metrics = http.get("/metrics")
    assert metrics.status_code == 503 and "node_crash" in metrics.text
    health = http.get("/health")
    assert health.status_code == 503
    assert health.json()["status"] == "down" and health.json()["failure"] == "node_crash"
    assert http.get("/faults").status_code == 200
    assert http.post("/inject", json={"failure": "cpu_spike", "duration_seconds": 5}).is_success
    assert http.post("/recover", json={"failure": "node_crash"}).json()["recovered"] == [
        "node_crash"
    ]
    assert http.get("/metrics").status_code == 200
    assert http.get("/health").json()["status"] == "ok"


BAD_REQUESTS = [
    # (description, request kwargs, field named, words the message must contain)
    ("unknown mode", {"json": {"failure": "cpu"}}, "failure", ["cpu_spike", "node_crash", "'cpu'"]),
    ("duration too short", {"json": {"failure": "cpu_spike", "duration_seconds": 0}},
     "duration_seconds", ["1 to 3600", "got 0"]),
    ("duration too long", {"json": {"failure": "cpu_spike", "duration_seconds": 3601}},
     "duration_seconds", ["1 to 3600", "3601"]),
    ("duration not a number", {"json": {"failure": "cpu_spike", "duration_seconds": "ten"}},
     "duration_seconds", ["number of seconds", "'ten'"]),
    ("duration a boolean", {"json": {"failure": "cpu_spike", "duration_seconds": True}},
     "duration_seconds", ["number of seconds", "True"]),
    ("duration NaN", {"content": b'{"failure": "cpu_spike", "duration_seconds": NaN}',
                      "headers": {"content-type": "application/json"}},
     "duration_seconds", ["1 to 3600", "nan"]),
    ("missing failure", {"json": {"duration_seconds": 10}}, "failure", ["required", "cpu_spike"]),
    ("missing body", {}, "body", ["JSON object", "cpu_spike"]),
    ("unknown field", {"json": {"failure": "cpu_spike", "durationn": 5}}, "durationn",
     ["not a known field", "duration_seconds"]),
    ("not JSON", {"content": b"{failure: cpu_spike", "headers": {"content-type": "application/json"}},
     "body", ["valid JSON"]),
    ("not UTF-8", {"content": b"\xff\xfe\x00", "headers": {"content-type": "application/json"}},
     "body", ["JSON"]),
    ("JSON but not an object", {"json": ["cpu_spike"]}, "body", ["JSON object", "['cpu_spike']"]),
    ("wrong content type", {"content": b'{"failure": "cpu_spike"}',
                            "headers": {"content-type": "text/plain"}},
     "body", ["application/json", "text/plain"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [case[1:] for case in BAD_REQUESTS],
    ids=[case[0] for case in BAD_REQUESTS],
)
def test_bad_inject_gets_422_naming_field_value_and_allowed_and_changes_nothing(
    http: TestClient, node: Node, kwargs: dict[str, Any], field: str, words: list[str]
) -> None:
    r = http.post("/inject", **kwargs)
    assert r.status_code == 422
    detail = r.json()["detail"]
    item = next(d for d in detail if d["field"] == field)
    for word in words:
        assert word in item["msg"], item["msg"]
    assert http.get("/faults").json()["history"] == []
    assert node.journal.path is not None and list(read_journal(node.journal.path)) == []


def test_bad_recover_gets_422_and_ends_nothing(http: TestClient) -> None:
    http.post("/inject", json={"failure": "cpu_spike", "duration_seconds": 60})
    r = http.post("/recover", json={"failure": "everything"})
    assert r.status_code == 422
    assert "failure must be one of cpu_spike" in r.json()["detail"][0]["msg"]
    assert [a["failure"] for a in http.get("/faults").json()["active"]] == ["cpu_spike"]


def test_openapi_documents_metrics_as_plain_text_and_the_errors(http: TestClient) -> None:
    schema = http.get("/openapi.json").json()
    metrics = schema["paths"]["/metrics"]["get"]["responses"]
    assert "text/plain" in metrics["200"]["content"] and "503" in metrics
    assert "422" in schema["paths"]["/inject"]["post"]["responses"]
    inject = schema["components"]["schemas"]["InjectRequest"]["properties"]
    assert inject["duration_seconds"]["minimum"] == 1
    assert inject["duration_seconds"]["maximum"] == 3600


def test_unknown_paths_and_methods_are_4xx(http: TestClient) -> None:
    assert http.get("/nope").status_code == 404
    assert http.delete("/metrics").status_code == 405
