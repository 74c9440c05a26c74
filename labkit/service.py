"""The node HTTP service: one ASGI app serving any number of nodes, one port each.

The node a request is for is the one listening on the port the request came in on (the
connection's local address), so one server can listen on 1,000 sockets. `GET /metrics` and
`GET /health` are answered on a fast path in plain ASGI; everything else (the control API,
the OpenAPI schema) goes through FastAPI. Both paths share the functions below, and the
FastAPI routes for /metrics and /health exist so the schema documents them.

Endpoints (also in docs/nodes.md#http-api-of-a-node):
  GET  /metrics   exposition text; 503 during node_crash
  GET  /health    {"status": "ok", ...}; 503 {"status": "down", ...} during node_crash
  GET  /faults    active faults with time left, and the node's history
  POST /inject    {"failure": MODE, "duration_seconds": 1-3600 (default 30)}
  POST /recover   {"failure": MODE} ends one mode, no body or {} ends all
The control endpoints (/faults, /inject, /recover) stay up during node_crash, so a crash can
be ended early with POST /recover.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Annotated, Any, Literal

from fastapi import Body, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from labkit.errors import InvalidInput
from labkit.exposition import CONTENT_TYPE, render
from labkit.failures import (
    DEFAULT_DURATION_SECONDS,
    DURATION_RULE,
    FAILURE_MODES,
    MAX_DURATION_SECONDS,
    MIN_DURATION_SECONDS,
)
from labkit.node import Node

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

FailureName = Literal["cpu_spike", "memory_leak", "latency_spike", "error_burst", "node_crash"]
assert FailureName.__args__ == FAILURE_MODES  # type: ignore[attr-defined]

Duration = Annotated[
    float,
    Field(
        ge=MIN_DURATION_SECONDS,
        le=MAX_DURATION_SECONDS,
        strict=True,
        allow_inf_nan=False,
        description="How long the fault lasts, in seconds; it then ends by itself.",
    ),
]

_EXAMPLE = '{"failure": "cpu_spike", "duration_seconds": 30}'
#: What each request field allows, in the words of the error messages.
_ALLOWED = {
    "failure": "one of " + ", ".join(FAILURE_MODES),
    "duration_seconds": DURATION_RULE,
}


class InjectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": json.loads(_EXAMPLE)})
    failure: FailureName
    duration_seconds: Duration = DEFAULT_DURATION_SECONDS


class RecoverRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    failure: FailureName | None = Field(None, description="The mode to end; omit to end all.")


class InjectResponse(BaseModel):
    node: int
    failure: FailureName
    duration_seconds: float
    started_at: str
    ends_at: str
    restarted: bool


class RecoverResponse(BaseModel):
    node: int
    recovered: list[FailureName]


class ActiveFault(BaseModel):
    failure: FailureName
    started_at: str
    ends_at: str
    seconds_left: float


class FaultHistoryItem(BaseModel):
    failure: FailureName
    started_at: str
    ends_at: str
    duration_seconds: float
    ended_by: Literal["expired", "recovered"] | None


class FaultsResponse(BaseModel):
    node: int
    now: str
    active: list[ActiveFault]
    history: list[FaultHistoryItem]


class Health(BaseModel):
    status: Literal["ok", "down"]
    node: int
    uptime_seconds: float | None = None
    failure: FailureName | None = None
    seconds_left: float | None = None


class ErrorItem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str
    field: str
    allowed: str | None = None


class ErrorResponse(BaseModel):
    detail: list[ErrorItem]


# -- shared answers (fast path and FastAPI) ---------------------------------------------------


def metrics_answer(node: Node) -> tuple[int, bytes, bytes]:
    """(status, content type, body) of GET /metrics."""
    left = node.crash_seconds_left()
    if left is not None:
        text = f"node {node.node_id} is down: node_crash injected, {left:.1f} s left\n"
        return 503, b"text/plain; charset=utf-8", text.encode()
    return 200, CONTENT_TYPE.encode(), render(node.snapshot())


def health_answer(node: Node) -> tuple[int, dict[str, Any]]:
    left = node.crash_seconds_left()
    if left is not None:
        return 503, {
            "status": "down",
            "node": node.node_id,
            "failure": "node_crash",
            "seconds_left": round(left, 3),
        }
    return 200, {
        "status": "ok",
        "node": node.node_id,
        "uptime_seconds": round(node.snapshot().uptime_seconds, 3),
    }


# -- errors ----------------------------------------------------------------------------------


def _describe(error: dict[str, Any], content_type: str | None) -> dict[str, Any]:
    """One pydantic error as {loc, msg, type, field, allowed} with a message a person reads."""
    loc = [part for part in error.get("loc", ()) if part != "body"]
    field = ".".join(str(p) for p in loc) or "body"
    kind = error.get("type", "value_error")
    value = error.get("input")
    if kind == "json_invalid":
        msg = f"body must be valid JSON like {_EXAMPLE}; {error.get('ctx', {}).get('error', '')}"
        return {"loc": ["body"], "msg": msg.rstrip("; "), "type": kind, "field": "body"}
    if field == "body" or kind in ("model_attributes_type", "dict_type", "model_type"):
        sent = f"Content-Type {content_type}" if content_type else "no Content-Type"
        if isinstance(value, bytes | str):
            got = f"{sent} and a body of {len(value)} bytes"
        else:
            got = f"{sent} and the JSON value {value!r}"
        msg = f"body must be a JSON object sent as application/json, like {_EXAMPLE}; got {got}"
        return {"loc": ["body"], "msg": msg, "type": kind, "field": "body"}
    if kind == "missing":
        allowed = _ALLOWED.get(field, "a value")
        msg = f"{field} is required: {allowed}, as in {_EXAMPLE}"
        return {"loc": loc, "msg": msg, "type": kind, "field": field, "allowed": allowed}
    if kind == "extra_forbidden":
        msg = f"{field} is not a known field; allowed fields: failure, duration_seconds"
        return {"loc": loc, "msg": msg, "type": kind, "field": field}
    allowed = _ALLOWED.get(field, error.get("msg", "a valid value"))
    msg = f"{field} must be {allowed}; got {value!r}"
    return {"loc": loc, "msg": msg, "type": kind, "field": field, "allowed": allowed}


def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    content_type = request.headers.get("content-type")
    detail = [_describe(dict(e), content_type) for e in exc.errors()]
    return JSONResponse({"detail": detail}, status_code=422)


async def _http_error(request: Request, exc: Exception) -> Response:
    """FastAPI answers 400 to a body it cannot decode at all (not UTF-8): make it our 422."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and request.method == "POST":
        msg = f"body must be UTF-8 JSON like {_EXAMPLE}; it could not be decoded"
        item = {"loc": ["body"], "msg": msg, "type": "body_undecodable", "field": "body"}
        return JSONResponse({"detail": [item]}, status_code=422)
    return await http_exception_handler(request, exc)


def _invalid_input(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, InvalidInput)
    item = {
        "loc": [exc.field],
        "msg": str(exc),
        "type": "invalid_input",
        "field": exc.field,
        "allowed": exc.allowed,
    }
    return JSONResponse({"detail": [item]}, status_code=422)


# -- the apps --------------------------------------------------------------------------------

_E422: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorResponse, "description": "The input names an unknown field or value."}
}


def build_api(pick: Callable[[Scope], Node]) -> FastAPI:
    """The FastAPI app for the control endpoints; `pick` finds the node of a request."""
    api = FastAPI(
        title="labkit edge node",
        version="1",
        summary="A simulated edge node: Prometheus metrics and failure injection.",
        docs_url=None,  # Swagger UI would load from a CDN; the lab works offline
        redoc_url=None,
    )
    api.add_exception_handler(RequestValidationError, _validation_error)
    api.add_exception_handler(InvalidInput, _invalid_input)
    api.add_exception_handler(StarletteHTTPException, _http_error)

    def node_of(request: Request) -> Node:
        return pick(request.scope)

    text = {"text/plain": {"schema": {"type": "string"}}}

    @api.get(
        "/metrics",
        response_class=Response,
        responses={
            200: {"content": text, "description": "Prometheus text exposition (0.0.4)."},
            503: {"content": text, "description": "The node is crashed (node_crash)."},
        },
    )
    def metrics(request: Request) -> Response:
        """The node's metrics in Prometheus text format."""
        status, ctype, body = metrics_answer(node_of(request))
        return Response(body, status_code=status, media_type=ctype.decode())

    @api.get(
        "/health",
        response_model=Health,
        responses={503: {"model": Health, "description": "The node is crashed (node_crash)."}},
    )
    def health(request: Request) -> Response:
        """ok while the node serves; down (503) during node_crash."""
        status, payload = health_answer(node_of(request))
        return JSONResponse(payload, status_code=status)

    @api.get("/faults", response_model=FaultsResponse)
    def faults(request: Request) -> dict[str, Any]:
        """Active faults with the time they have left, and every fault so far."""
        return node_of(request).faults()

    @api.post("/inject", response_model=InjectResponse, responses=_E422)
    def inject(request: Request, body: InjectRequest) -> dict[str, Any]:
        """Start a failure mode now; injecting an active mode again restarts its timer."""
        return node_of(request).inject(body.failure, body.duration_seconds)

    @api.post("/recover", response_model=RecoverResponse, responses=_E422)
    def recover(
        request: Request, body: Annotated[RecoverRequest | None, Body()] = None
    ) -> dict[str, Any]:
        """End one failure mode, or all of them when no failure is given."""
        node = node_of(request)
        return {"node": node.node_id, "recovered": node.recover(body.failure if body else None)}

    return api


class NodeApp:
    """ASGI app for a set of nodes keyed by local port; with one node, any port is it."""

    def __init__(self, nodes_by_port: dict[int, Node]) -> None:
        if not nodes_by_port:
            raise ValueError("NodeApp needs at least one node")
        self.nodes_by_port = nodes_by_port
        self._only = next(iter(nodes_by_port.values())) if len(nodes_by_port) == 1 else None
        self.api = build_api(self.pick)

    def pick(self, scope: Scope) -> Node:
        if self._only is not None:
            return self._only
        server = scope.get("server")
        node = self.nodes_by_port.get(server[1]) if server else None
        if node is None:
            raise LookupError(f"no node listens on {server}")
        return node

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path = scope["path"]
            if path == "/metrics":
                status, ctype, body = metrics_answer(self.pick(scope))
                await _send(send, status, ctype, body)
                return
            if path == "/health":
                status, payload = health_answer(self.pick(scope))
                await _send(send, status, b"application/json", json.dumps(payload).encode())
                return
        await self.api(scope, receive, send)


async def _send(send: Send, status: int, content_type: bytes, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
