"""The alert receiver: a webhook sink that Alertmanager notifies.

Each alert of each notification is appended, with the time it arrived, to
`.lab/journal/notifications.jsonl`, and the most recent ones are served over HTTP:

  POST /notify/{route}     Alertmanager's webhook payload (route: the receiver's name)
  GET  /notifications      recent alerts, oldest first: the last `limit` (1-10000, default
                           1000) received at or after `since` (epoch seconds), of this run
  GET  /health

A bad query value gets HTTP 422 naming the field, the value and what is allowed:
{"detail": [{"loc": ["query", "limit"], "field": "limit", "msg": "limit must be a whole
number from 1 to 10000; got '0'"}]}. `labkit notifications` reads the journal itself
(newest first, across restarts).
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from labkit.auth import Credentials
from labkit.journal import iso

Clock = Callable[[], float]
MAX_LIMIT = 10_000
ALLOWED = {
    "limit": f"a whole number from 1 to {MAX_LIMIT}",
    "since": "epoch seconds, a number such as 1795769593.6",
}


class Receiver:
    """Records notifications; pure apart from the journal file it appends to."""

    def __init__(self, journal_path: Path | None, clock: Clock = time.time, keep: int = 10_000):
        self.journal_path = journal_path
        self.clock = clock
        self.recent: deque[dict[str, Any]] = deque(maxlen=keep)
        if journal_path is not None:
            journal_path.parent.mkdir(parents=True, exist_ok=True)

    def record(self, route: str, payload: dict[str, Any]) -> list[dict[str, Any]]:
        now = self.clock()
        records = [
            {
                "received_at": iso(now),
                "ts": round(now, 3),
                "route": route,
                "status": alert.get("status"),
                "alertname": alert.get("labels", {}).get("alertname"),
                "node": alert.get("labels", {}).get("node"),
                "severity": alert.get("labels", {}).get("severity"),
                "labels": alert.get("labels", {}),
                "annotations": alert.get("annotations", {}),
                "starts_at": alert.get("startsAt"),
                "ends_at": alert.get("endsAt"),
                "fingerprint": alert.get("fingerprint"),
            }
            for alert in payload.get("alerts", [])
            if isinstance(alert, dict)
        ]
        self.recent.extend(records)
        if self.journal_path is not None and records:
            with self.journal_path.open("a", encoding="utf-8") as f:
                f.writelines(json.dumps(r, separators=(",", ":")) + "\n" for r in records)
        return records

    def since(self, ts: float | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        items = [r for r in self.recent if ts is None or r["ts"] >= ts]
        return items[-limit:]


def _bad_query(request: Request, exc: Exception) -> Response:
    """FastAPI's 422, said in a sentence per field: its name, the value, what is allowed."""
    assert isinstance(exc, RequestValidationError)
    detail = []
    for error in exc.errors():
        loc = list(error.get("loc", ()))
        field = str(loc[-1]) if loc else "query"
        allowed = ALLOWED.get(field, error.get("msg", "a valid value"))
        msg = f"{field} must be {allowed}; got {error.get('input')!r}"
        detail.append({"loc": loc, "field": field, "msg": msg, "allowed": allowed})
    return JSONResponse({"detail": detail}, status_code=422)


def build_app(receiver: Receiver) -> FastAPI:
    app = FastAPI(title="labkit alert receiver", docs_url=None, redoc_url=None)
    app.add_exception_handler(RequestValidationError, _bad_query)

    @app.post("/notify/{route}")
    async def notify(route: str, request: Request) -> JSONResponse:
        try:
            payload = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            payload = None
        if not isinstance(payload, dict) or not isinstance(payload.get("alerts"), list):
            msg = "body must be Alertmanager's webhook JSON: an object with an alerts list"
            return JSONResponse({"detail": [{"loc": ["body"], "msg": msg}]}, status_code=422)
        return JSONResponse({"recorded": len(receiver.record(route, payload))})

    @app.get("/notifications")
    def notifications(
        since: float | None = Query(None, description="epoch seconds"),
        limit: int = Query(1000, ge=1, le=MAX_LIMIT, description="the newest N at most"),
    ) -> list[dict[str, Any]]:
        return receiver.since(since, limit)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def serve(
    host: str, port: int, journal_path: Path | None, credentials: Credentials | None = None
) -> None:
    import uvicorn

    from labkit.auth import guard
    from labkit.fleet import bind

    sock = bind(host, {0: port}, what="the alert receiver")[port]
    app = guard(build_app(Receiver(journal_path)), credentials)  # 401 without the secret
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])
