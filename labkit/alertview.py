"""The Alertmanager view's logic and I/O, as plain functions (labkit.alertview_widget wires
them to ipywidgets; labkit.alertview_html renders them). Debian's Alertmanager has no web UI:
this is labkit's, over Alertmanager's v2 API.

groups(am_url)                        -> [Group]    alerts as Alertmanager groups them, with
                                                    state (active / suppressed) and silencedBy
silences(am_url)                      -> [Silence]  active, then pending, then expired
create_silence(am_url, 'alertname=NodeLatencyBudgetBurn node=6', 600, "me", "why")  -> its id
expire_silence(am_url, silence_id)    -> Silence    (now expired)
routes(am_url)                        -> Route      the routing tree (labkit.routing)
notifications(receiver_url)           -> [dict]     what the receiver got, newest first
collect(am_url, receiver_url)         -> ViewState  (never raises: errors are sentences)

labkit.amtool gives each action as an amtool command line.

Input is checked before anything is sent (`silence_request`): a bad matcher, regex, duration,
creator or comment raises InvalidInput naming the field and the value, and no silence is
created. Alertmanager's own refusal (HTTP 400) is reported the same way, with its message. A
service that does not answer raises ServiceUnreachable, a sentence that says how to fix it.
"""

from __future__ import annotations

import functools
import math
import re
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from labkit import auth
from labkit.alerts import INTENDED
from labkit.client import request_json
from labkit.errors import (
    InvalidInput,
    LabkitError,
    NodeUnreachable,
    ServiceRefused,
    ServiceUnreachable,
)
from labkit.journal import iso
from labkit.matchers import Matcher, labels_text, matchers_text, parse_matchers
from labkit.routing import Route, parse_routes
from labkit.words import epoch

MAX_SILENCE_SECONDS = 7 * 24 * 3600.0
STATE_ORDER = {"active": 0, "pending": 1, "expired": 2}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
#: Labels always worth showing beside alertname and node: they tell an SLO's page alert from its
#: ticket alert (same alertname, same node).
KEY_LABELS = ("severity", "sloth_severity")
SHOWN_APART = frozenset({"alertname", "node", "instance", "job"})  # own columns, or 1:1 with node


# -- what Alertmanager holds ----------------------------------------------------------------


@dataclass(frozen=True)
class Alert:
    labels: dict[str, str]
    state: str  # active, suppressed or unprocessed
    starts_at: float
    silenced_by: tuple[str, ...] = ()
    inhibited_by: tuple[str, ...] = ()
    fingerprint: str = ""
    summary: str = ""

    @property
    def alertname(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def node(self) -> str:
        return self.labels.get("node", "")


@dataclass(frozen=True)
class Group:
    labels: dict[str, str]  # the group_by labels this group shares
    receiver: str
    alerts: tuple[Alert, ...]


@dataclass(frozen=True)
class Silence:
    id: str
    matchers: tuple[Matcher, ...]
    state: str  # active, pending or expired
    starts_at: float
    ends_at: float
    created_by: str
    comment: str

    @property
    def matchers_text(self) -> str:
        return matchers_text(self.matchers)


def _get(service: str, url: str, timeout: float) -> Any:
    return _call(service, "GET", url, None, timeout)


def _call(service: str, method: str, url: str, body: Any, timeout: float) -> Any:
    base = url.split("/api/")[0].split("/notifications")[0]
    if not base:
        what = service.removeprefix("the ")
        raise LabkitError(f"this lab has no {what} (a replayed recording has only Prometheus)")
    try:
        status, payload = request_json(method, url, body, timeout)
    except NodeUnreachable as exc:
        raise ServiceUnreachable(service, base, exc.reason) from None
    if status == 401:
        raise auth.refused(base)
    if status >= 400:
        message = payload.get("message", payload) if isinstance(payload, dict) else payload
        raise ServiceRefused(service, status, str(message).strip())
    return payload


def parse_alert(raw: Mapping[str, Any]) -> Alert:
    status = raw.get("status") or {}
    return Alert(
        labels={str(k): str(v) for k, v in (raw.get("labels") or {}).items()},
        state=str(status.get("state", "")),
        starts_at=epoch(raw["startsAt"]),
        silenced_by=tuple(status.get("silencedBy") or ()),
        inhibited_by=tuple(status.get("inhibitedBy") or ()),
        fingerprint=str(raw.get("fingerprint", "")),
        summary=str((raw.get("annotations") or {}).get("summary", "")),
    )


def _node_key(labels: Mapping[str, str]) -> tuple[int, str]:
    node = labels.get("node", "")
    return (int(node), node) if node.isdigit() else (-1, node)


def groups(am_url: str, timeout: float = 5.0) -> list[Group]:
    """Alert groups as Alertmanager groups them (active, silenced and inhibited alike)."""
    out = []
    for g in _get("Alertmanager", f"{am_url}/api/v2/alerts/groups", timeout):
        alerts = sorted(
            (parse_alert(a) for a in g.get("alerts") or []),
            key=lambda a: (a.alertname, _node_key(a.labels), sorted(a.labels.items())),
        )
        labels = {str(k): str(v) for k, v in (g.get("labels") or {}).items()}
        out.append(Group(labels, str((g.get("receiver") or {}).get("name", "")), tuple(alerts)))
    return sorted(out, key=lambda g: (g.labels.get("alertname", ""), _node_key(g.labels),
                                      g.receiver))  # fmt: skip


def distinguishing_labels(label_sets: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    """For each label set, the labels that tell it apart from others with the same alertname
    (beyond alertname and node), plus severity and sloth_severity whenever present."""
    by_name: dict[str, list[Mapping[str, str]]] = {}
    for labels in label_sets:
        by_name.setdefault(labels.get("alertname", ""), []).append(labels)
    varying = {
        name: {k for k in set().union(*same) if len({s.get(k) for s in same}) > 1}
        for name, same in by_name.items()
    }
    return [
        {k: v for k, v in sorted(labels.items())
         if k not in SHOWN_APART and (k in KEY_LABELS or k in varying[labels.get("alertname", "")])}
        for labels in label_sets
    ]  # fmt: skip


def parse_silence(raw: Mapping[str, Any]) -> Silence:
    return Silence(
        id=str(raw["id"]),
        matchers=tuple(Matcher.from_api(m) for m in raw.get("matchers") or []),
        state=str((raw.get("status") or {}).get("state", "")),
        starts_at=epoch(raw["startsAt"]),
        ends_at=epoch(raw["endsAt"]),
        created_by=str(raw.get("createdBy", "")),
        comment=str(raw.get("comment", "")),
    )


def silences(am_url: str, timeout: float = 5.0) -> list[Silence]:
    """Every silence Alertmanager keeps: active (ending soonest first), pending, then expired
    (most recent first)."""
    found = [parse_silence(s) for s in _get("Alertmanager", f"{am_url}/api/v2/silences", timeout)]
    return sorted(
        found,
        key=lambda s: (
            STATE_ORDER.get(s.state, 3),
            -s.ends_at if s.state == "expired" else s.ends_at,
        ),
    )


# -- creating and expiring silences ---------------------------------------------------------


@dataclass(frozen=True)
class SilenceRequest:
    matchers: tuple[Matcher, ...]
    duration_seconds: float
    creator: str
    comment: str

    def body(self, now: float) -> dict[str, Any]:
        return {"matchers": [m.to_api() for m in self.matchers], "startsAt": iso(now),
                "endsAt": iso(now + self.duration_seconds), "createdBy": self.creator,
                "comment": self.comment}  # fmt: skip


def _text(field_name: str, value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(field_name, value, what)
    return value.strip()


def silence_request(
    matchers: str | Sequence[str], duration_seconds: Any, creator: Any, comment: Any
) -> SilenceRequest:
    """A silence, checked before anything is sent: InvalidInput names what is wrong."""
    ms = parse_matchers(matchers)
    if all(m.matches("") for m in ms):
        raise InvalidInput(
            "matchers", matchers_text(ms),
            "a set with at least one matcher that an empty label does not satisfy",
            hint="Matchers such as node!=\"6\" or node=~\".*\" alone would silence every alert; "
            f'add one such as alertname="{INTENDED["cpu_spike"]}"',
        )  # fmt: skip
    seconds = duration_seconds
    allowed = f"a number of seconds from 1 to {MAX_SILENCE_SECONDS:.0f} (7 days)"
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise InvalidInput("duration_seconds", seconds, allowed)
    if not math.isfinite(seconds) or not 1 <= seconds <= MAX_SILENCE_SECONDS:
        raise InvalidInput("duration_seconds", seconds, allowed)
    return SilenceRequest(
        tuple(ms), float(seconds),
        _text("creator", creator, "a name (Alertmanager's createdBy: who silenced it)"),
        _text("comment", comment, "a reason (why silence it, and until what)"),
    )  # fmt: skip


def create_silence(
    am_url: str,
    matchers: str | Sequence[str] | SilenceRequest,
    duration_seconds: Any = None,
    creator: Any = "learner",
    comment: Any = None,
    *,
    now: float | None = None,
    timeout: float = 5.0,
) -> str:
    """Create a silence from now on for `duration_seconds`; its id. Nothing is sent when the
    input is bad (InvalidInput); Alertmanager's own refusal is an InvalidInput too."""
    request = (
        matchers
        if isinstance(matchers, SilenceRequest)
        else silence_request(matchers, duration_seconds, creator, comment)
    )
    body = request.body(time.time() if now is None else now)
    try:
        answer = _call("Alertmanager", "POST", f"{am_url}/api/v2/silences", body, timeout)
    except ServiceRefused as exc:
        where = "matchers" if "matcher" in exc.message else "silence"
        value = matchers_text(request.matchers) if where == "matchers" else body
        refused = f"Alertmanager refused it ({exc.status}): {exc.message}"
        raise InvalidInput(where, value, "something Alertmanager accepts", hint=refused) from None
    return str(answer["silenceID"])


def silence(am_url: str, silence_id: str, timeout: float = 5.0) -> Silence:
    """One silence by id (InvalidInput when no silence has that id)."""
    sid = str(silence_id).strip()
    if not UUID.match(sid):
        raise InvalidInput("silence id", silence_id, "an id as Alertmanager gives them, "
                           "such as 787d073b-6bad-4951-8097-b4beab625f73")  # fmt: skip
    try:
        return parse_silence(_get("Alertmanager", f"{am_url}/api/v2/silence/{sid}", timeout))
    except ServiceRefused as exc:
        if exc.status == 404:
            raise InvalidInput("silence id", sid, "the id of a silence Alertmanager has") from None
        raise


def expire_silence(am_url: str, silence_id: str, timeout: float = 5.0) -> Silence:
    """End a silence now (an expired one stays expired); the silence as it now is."""
    before = silence(am_url, silence_id, timeout)
    if before.state != "expired":
        _call("Alertmanager", "DELETE", f"{am_url}/api/v2/silence/{before.id}", None, timeout)
    return silence(am_url, before.id, timeout)


# -- routing and notifications ----------------------------------------------------------------


def config_text(am_url: str, timeout: float = 5.0) -> str:
    """The configuration Alertmanager runs (YAML), from /api/v2/status."""
    return str(_get("Alertmanager", f"{am_url}/api/v2/status", timeout)["config"]["original"])


def routes(am_url: str, timeout: float = 5.0) -> Route:
    return _parsed_routes(config_text(am_url, timeout))


@functools.lru_cache(maxsize=8)
def _parsed_routes(config: str) -> Route:  # the view asks every second; the config rarely moves
    return parse_routes(config)


def notifications(
    receiver_url: str, limit: int = 20, since: float | None = None, timeout: float = 5.0
) -> list[dict[str, Any]]:
    """The receiver's latest notifications (one per alert per notification), newest first."""
    query = urllib.parse.urlencode(
        {"limit": limit, **({"since": since} if since is not None else {})}
    )
    got = _get("the alert receiver", f"{receiver_url}/notifications?{query}", timeout)
    return list(reversed(got))


# -- everything the view shows --------------------------------------------------------------------


@dataclass
class ViewState:
    am_url: str
    receiver_url: str
    groups: list[Group] = field(default_factory=list)
    silences: list[Silence] = field(default_factory=list)
    route: Route | None = None
    notifications: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    now: float = 0.0


def collect(
    am_url: str, receiver_url: str, now: float | None = None, limit: int = 20, timeout: float = 5.0
) -> ViewState:
    """Everything the view shows; a service that fails becomes a sentence, never a raise."""
    state = ViewState(am_url, receiver_url, now=time.time() if now is None else now)
    try:
        state.groups = groups(am_url, timeout)
        state.silences = silences(am_url, timeout)
        state.route = routes(am_url, timeout)
    except LabkitError as exc:
        state.errors.append(str(exc))
    try:
        state.notifications = notifications(receiver_url, limit, timeout=timeout)
    except LabkitError as exc:
        state.errors.append(str(exc))
    return state


__all__ = ["Alert", "Group", "Silence", "SilenceRequest", "ViewState", "collect",
           "create_silence", "distinguishing_labels", "expire_silence", "groups", "labels_text",
           "notifications", "routes", "silence", "silence_request", "silences"]  # fmt: skip
