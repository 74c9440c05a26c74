"""The alert receiver in process: what it journals and serves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from labkit.receiver import Receiver, build_app
from tests.conftest import FakeClock

PAYLOAD = {
    "receiver": "critical",
    "status": "firing",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "NodeDown", "node": "4", "severity": "critical"},
            "annotations": {"summary": "Node 4 is down"},
            "startsAt": "2026-11-26T10:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": "abc",
        }
    ],
}


def test_a_notification_is_journalled_with_its_receive_time(
    tmp_path: Path, clock: FakeClock
) -> None:
    journal = tmp_path / "n.jsonl"
    http = TestClient(build_app(Receiver(journal, clock=clock)))
    assert http.post("/notify/critical", json=PAYLOAD).json() == {"recorded": 1}
    line = json.loads(journal.read_text())
    assert line["ts"] == clock.now and line["route"] == "critical"
    assert (line["alertname"], line["node"], line["status"]) == ("NodeDown", "4", "firing")
    clock.advance(10)
    resolved = {**PAYLOAD, "alerts": [{**PAYLOAD["alerts"][0], "status": "resolved"}]}  # type: ignore[dict-item]
    http.post("/notify/critical", json=resolved)
    served = http.get("/notifications").json()
    assert [n["status"] for n in served] == ["firing", "resolved"]
    assert [n["status"] for n in http.get(f"/notifications?since={clock.now}").json()] == [
        "resolved"
    ]


def test_a_body_that_is_not_a_webhook_payload_gets_422(tmp_path: Path) -> None:
    http = TestClient(build_app(Receiver(tmp_path / "n.jsonl")))
    for body in (b"nope", b"[]", b'{"alerts": 3}'):
        r = http.post("/notify/x", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 422 and "alerts" in r.json()["detail"][0]["msg"]
    assert not (tmp_path / "n.jsonl").exists()
    assert http.get("/notifications?limit=0").status_code == 422


def _alert(n: int) -> dict[str, object]:
    return {**PAYLOAD["alerts"][0], "labels": {"alertname": f"A{n}", "node": str(n)}}  # type: ignore[dict-item]


def test_limit_gives_the_newest_n_oldest_first(tmp_path: Path, clock: FakeClock) -> None:
    http = TestClient(build_app(Receiver(None, clock=clock)))
    for n in range(1, 6):
        http.post("/notify/x", json={"alerts": [_alert(n)]})
        clock.advance(1)
    assert [a["alertname"] for a in http.get("/notifications?limit=2").json()] == ["A4", "A5"]
    assert len(http.get("/notifications").json()) == 5


@pytest.mark.parametrize(
    ("query", "field", "value"),
    [("limit=0", "limit", "'0'"), ("limit=ten", "limit", "'ten'"),
     ("limit=10001", "limit", "'10001'"), ("since=yesterday", "since", "'yesterday'")],
)  # fmt: skip
def test_a_bad_query_value_gets_422_naming_the_field_value_and_allowed(
    query: str, field: str, value: str
) -> None:
    http = TestClient(build_app(Receiver(None)))
    r = http.get(f"/notifications?{query}")
    assert r.status_code == 422
    (item,) = r.json()["detail"]
    assert item["field"] == field and item["loc"] == ["query", field]
    assert item["msg"].startswith(f"{field} must be ") and item["msg"].endswith(f"got {value}")
    if field == "limit":
        assert "from 1 to 10000" in item["msg"]
