"""The alert receiver in process: what it journals and serves."""

from __future__ import annotations

import json
from pathlib import Path

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
