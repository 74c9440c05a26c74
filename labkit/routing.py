"""Alertmanager's routing tree, read from its configuration (pure, no I/O).

tree = parse_routes(yaml_text)       # the `route:` of an alertmanager.yml (or the parsed dict)
print("\n".join(tree_lines(tree)))   # an indented tree: receiver, matchers, grouping, timing
receivers_for(tree, {"severity": "critical", "node": "3"})  -> ["critical"]

Routing is Alertmanager's: an alert enters at the root, which catches everything; it goes down
into the first child whose matchers all hold, and stops there unless that child says
`continue: true`, in which case the next matching siblings get it too. A route none of whose
children match handles the alert itself. Children inherit the receiver, group_by and the three
intervals of their parent unless they set their own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from labkit.errors import LabkitError
from labkit.matchers import Matcher, matchers_text, matches_all, parse_matchers

#: Alertmanager's own defaults for the root route.
DEFAULTS = {"group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h"}
TIMINGS = tuple(DEFAULTS)


@dataclass(frozen=True)
class Route:
    receiver: str
    matchers: tuple[Matcher, ...] = ()
    group_by: tuple[str, ...] = ()
    group_wait: str = DEFAULTS["group_wait"]
    group_interval: str = DEFAULTS["group_interval"]
    repeat_interval: str = DEFAULTS["repeat_interval"]
    continue_: bool = False
    routes: tuple[Route, ...] = ()
    own: frozenset[str] = field(default=frozenset(), compare=False)  # keys set on this route

    def matches(self, labels: Mapping[str, str]) -> bool:
        return matches_all(self.matchers, labels)

    @property
    def matchers_text(self) -> str:
        return "{" + matchers_text(self.matchers) + "}" if self.matchers else "(every alert)"


def _matchers(node: Mapping[str, Any]) -> list[Matcher]:
    out: list[Matcher] = []
    for line in node.get("matchers") or []:
        out += parse_matchers(str(line))
    out += [Matcher(str(k), "=", str(v)) for k, v in (node.get("match") or {}).items()]
    out += [Matcher(str(k), "=~", str(v)) for k, v in (node.get("match_re") or {}).items()]
    return out


def _route(node: Mapping[str, Any], parent: Route | None) -> Route:
    inherited: dict[str, Any] = (
        {"receiver": parent.receiver, "group_by": parent.group_by}
        | {k: getattr(parent, k) for k in TIMINGS}
        if parent is not None
        else {"receiver": "", "group_by": (), **DEFAULTS}
    )
    own = {k for k in ("receiver", "group_by", *TIMINGS, "continue") if k in node}
    value = {k: str(node.get(k, inherited[k])) for k in ("receiver", *TIMINGS)}
    route = Route(
        receiver=value["receiver"],
        matchers=tuple(_matchers(node)),
        group_by=tuple(str(g) for g in node.get("group_by", inherited["group_by"]) or ()),
        group_wait=value["group_wait"],
        group_interval=value["group_interval"],
        repeat_interval=value["repeat_interval"],
        continue_=bool(node.get("continue", False)),
        own=frozenset(own),
    )
    children = tuple(_route(child, route) for child in node.get("routes") or [])
    return dataclasses.replace(route, routes=children)


def parse_routes(config: str | Mapping[str, Any]) -> Route:
    """The routing tree of an Alertmanager configuration (YAML text or its parsed form)."""
    try:
        data = yaml.safe_load(config) if isinstance(config, str) else config
    except yaml.YAMLError as exc:
        raise LabkitError(f"Alertmanager's configuration is not YAML: {exc}") from None
    if not isinstance(data, Mapping) or not isinstance(data.get("route"), Mapping):
        raise LabkitError("Alertmanager's configuration has no `route:` section")
    return _route(data["route"], None)


def _describe(route: Route, root: bool) -> str:
    parts = ["root: every alert" if root else route.matchers_text, f"-> receiver {route.receiver}"]
    if root or "group_by" in route.own:
        parts.append(f"group_by [{', '.join(route.group_by)}]")
    timing = [f"{k} {getattr(route, k)}" for k in TIMINGS if root or k in route.own]
    if timing:
        parts.append(", ".join(timing))
    if not root:
        parts.append("continue: true" if route.continue_ else "continue: false")
    return "  ".join(parts)


def tree_lines(route: Route) -> list[str]:
    """The tree, one route a line, children indented under their parent in matching order.
    Settings a child inherits are not repeated on its line."""
    lines = [_describe(route, root=True)]

    def walk(node: Route, prefix: str) -> None:
        for i, child in enumerate(node.routes):
            last = i == len(node.routes) - 1
            lines.append(prefix + ("└── " if last else "├── ") + _describe(child, root=False))
            walk(child, prefix + ("    " if last else "│   "))

    walk(route, "")
    return lines


def matching_routes(route: Route, labels: Mapping[str, str]) -> list[Route]:
    """The routes that handle an alert with these labels, as Alertmanager's Route.Match."""
    if not route.matches(labels):
        return []
    found: list[Route] = []
    for child in route.routes:
        hits = matching_routes(child, labels)
        found += hits
        if hits and not child.continue_:
            break
    return found or [route]


def receivers_for(route: Route, labels: Mapping[str, str]) -> list[str]:
    """The receiver(s) an alert with these labels is sent to, in routing order."""
    return list(dict.fromkeys(r.receiver for r in matching_routes(route, labels)))
