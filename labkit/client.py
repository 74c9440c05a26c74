"""Talking to running nodes over HTTP (standard library only, so the CLI starts fast).

`FleetClient` finds the nodes from the running fleet's fleet.json (or the default layout:
12 nodes on 127.0.0.1:8001-8012), checks node ids, and runs a call on many nodes at once.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from labkit import auth
from labkit.errors import InvalidInput, LabkitError, NodeUnreachable
from labkit.fleet import FleetLayout

T = TypeVar("T")
DEFAULT_NODES = 12
DEFAULT_BASE_PORT = 8001


def request_json(method: str, url: str, body: Any = None, timeout: float = 3.0) -> tuple[int, Any]:
    """(status, decoded JSON or text) of one request; NodeUnreachable when nobody answers."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data is not None else {}
    headers.update(auth.headers(url))  # a lab started with --auth (labkit.auth)
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw, ctype = resp.status, resp.read(), resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        status, raw, ctype = exc.code, exc.read(), exc.headers.get("Content-Type", "")
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise NodeUnreachable(url, str(reason)) from None
    if "json" in ctype:
        return status, json.loads(raw)
    return status, raw.decode(errors="replace")


def _check(status: int, payload: Any, url: str) -> Any:
    if status == 401:
        raise auth.refused(url)
    if status == 422:
        messages = "; ".join(item.get("msg", "") for item in payload.get("detail", []))
        raise LabkitError(f"{url} rejected the request: {messages}")
    if status >= 400:
        raise LabkitError(f"{url} answered {status}: {payload}")
    return payload


@dataclass(frozen=True)
class NodeClient:
    node_id: int
    url: str
    timeout: float = 3.0

    def inject(self, failure: str, duration_seconds: float) -> dict[str, Any]:
        url = f"{self.url}/inject"
        body = {"failure": failure, "duration_seconds": duration_seconds}
        result: dict[str, Any] = _check(*request_json("POST", url, body, self.timeout), url)
        return result

    def recover(self, failure: str | None = None) -> list[str]:
        url = f"{self.url}/recover"
        body = {"failure": failure} if failure else {}
        result = _check(*request_json("POST", url, body, self.timeout), url)
        return list(result["recovered"])

    def faults(self) -> dict[str, Any]:
        url = f"{self.url}/faults"
        result: dict[str, Any] = _check(*request_json("GET", url, None, self.timeout), url)
        return result

    def health(self) -> tuple[int, dict[str, Any]]:
        status, payload = request_json("GET", f"{self.url}/health", None, self.timeout)
        return status, payload if isinstance(payload, dict) else {"status": str(payload)}


class FleetClient:
    """The nodes of a fleet by id and base URL (loopback ports, or compose service names)."""

    def __init__(self, urls: dict[int, str], *, timeout: float = 3.0, workers: int = 32) -> None:
        if not urls:
            raise ValueError("a fleet needs at least one node")
        self.urls = dict(sorted(urls.items()))
        self.timeout = timeout
        self.workers = workers

    @classmethod
    def of(cls, layout: FleetLayout, **kw: Any) -> FleetClient:
        return cls({node_id: layout.url(node_id) for node_id in layout.ports}, **kw)

    @classmethod
    def discover(cls, state_path: Path, **kw: Any) -> FleetClient:
        """The running fleet's layout from its state file, else the default layout."""
        try:
            layout = FleetLayout.from_json(state_path.read_text())
        except (OSError, ValueError, KeyError, TypeError):
            layout = FleetLayout.contiguous(DEFAULT_NODES, DEFAULT_BASE_PORT)
        return cls.of(layout, **kw)

    def url(self, node_id: int) -> str:
        return self.urls[node_id]

    def node_ids(self, spec: str | int) -> list[int]:
        """Ids named by `spec`: a node id, or "all"."""
        ids = list(self.urls)
        if str(spec).strip().lower() == "all":
            return ids
        allowed = f"a node id from {ids[0]} to {ids[-1]}, or all"
        try:
            node = int(str(spec))
        except ValueError:
            raise InvalidInput("--node", spec, allowed) from None
        if node not in self.urls:
            raise InvalidInput("--node", spec, allowed)
        return [node]

    def node(self, node_id: int) -> NodeClient:
        return NodeClient(node_id, self.urls[node_id], self.timeout)

    def each(
        self, ids: list[int], call: Callable[[NodeClient], T]
    ) -> list[tuple[int, T | LabkitError]]:
        """`call` on each node (in parallel); a failing node gives its error, in id order."""

        def one(node_id: int) -> tuple[int, T | LabkitError]:
            try:
                return node_id, call(self.node(node_id))
            except LabkitError as exc:
                return node_id, exc

        if len(ids) == 1:
            return [one(ids[0])]
        with ThreadPoolExecutor(max_workers=min(self.workers, len(ids))) as pool:
            return list(pool.map(one, ids))
