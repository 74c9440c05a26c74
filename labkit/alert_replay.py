"""Alert replay: when each alert rule would have fired over a recording.

Prometheus cannot backfill alerts, so each rule's expression is evaluated as a range query at
the evaluation step and turned into firing intervals the way the rule manager does it: a
series is pending from the first evaluation that returns it, firing once it has been
returned for `for` (at every evaluation in between), and resolved at the first evaluation
that no longer returns it.

Recording rules an alert reads (the SLO rules' `slo:sli_error:ratio_rate5m` and friends) do
not exist in a backfilled history, so the alert's selector of a recorded series is replaced
by the recording rule's own expression, picked by the selector's equality matchers. Labels
the recording rule would have attached (sloth_id, ...) are therefore absent from replayed
alerts; `alertname`, the rule's labels and the expression's own labels (node, ...) remain.

    rules = load_rules("prometheus/rules/alerts.yml")
    firings = replay(Prom(url), rules, start, end, step=15)
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from labkit.errors import InvalidInput, LabkitError
from labkit.slo_spec import parse_duration

if TYPE_CHECKING:
    import pandas as pd

    from labkit.query import Prom

FIRING_COLUMNS = ["rule_set", "alertname", "node", "series", "active_at", "fired_at", "resolved_at"]


@dataclass(frozen=True)
class Rule:
    """One alerting rule, its expression ready to run on raw (backfilled) series."""

    name: str
    expr: str
    for_seconds: float = 0.0
    labels: dict[str, str] = field(default_factory=dict)
    original: str = ""  # the expression as written, before recording rules were inlined

    def with_(self, *, expr: str | None = None, for_seconds: float | None = None) -> Rule:
        """A variant of the rule (a different threshold or `for`), for what-if scoring."""
        return Rule(
            self.name,
            expr if expr is not None else self.expr,
            for_seconds if for_seconds is not None else self.for_seconds,
            self.labels,
            self.original,
        )

    def shortest_range(self) -> float | None:
        """The shortest range selector ([5s], [5m]) in the expression, in seconds."""
        ranges = [parse_duration(r, "range") for r in re.findall(r"\[(\w+)(?::\w*)?\]", self.expr)]
        return min(ranges) if ranges else None


_SELECTOR = re.compile(r"(?<![\w:])([a-zA-Z_][\w]*:[\w:]*)\s*(\{[^}]*\})?(?!\s*\()")
_MATCHER = re.compile(r'(\w+)\s*=\s*"((?:[^"\\]|\\.)*)"')


def inline_records(expr: str, records: list[dict[str, Any]]) -> str:
    """Replace every selector of a recorded series with its recording rule's expression."""

    def substitute(match: re.Match[str]) -> str:
        name, matchers = match.group(1), match.group(2) or ""
        wanted = dict(_MATCHER.findall(matchers))
        candidates = [r for r in records if r["record"] == name]
        if not candidates:
            return match.group(0)
        chosen = [
            r
            for r in candidates
            if all(r.get("labels", {}).get(k, v) == v for k, v in wanted.items())
        ]
        if len(chosen) != 1:
            raise LabkitError(
                f"cannot inline {match.group(0)}: {len(chosen)} recording rules match it"
            )
        return "(" + inline_records(str(chosen[0]["expr"]).strip(), records) + ")"

    return _SELECTOR.sub(substitute, expr)


def parse_rules(text: str, source: str = "<rules>") -> list[Rule]:
    """The alerting rules of a Prometheus rule file, recording rules inlined."""
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise InvalidInput("rules", source, f"a Prometheus rule file (YAML): {exc}") from None
    groups = doc.get("groups") if isinstance(doc, dict) else None
    if not isinstance(groups, list):
        raise InvalidInput("rules", source, "a Prometheus rule file with a `groups:` list")
    entries = [r for g in groups for r in (g.get("rules") or [])]
    records = [r for r in entries if "record" in r]
    rules = []
    for r in entries:
        if "alert" not in r:
            continue
        original = str(r["expr"]).strip()
        rules.append(
            Rule(
                name=str(r["alert"]),
                expr=inline_records(original, records),
                for_seconds=parse_duration(str(r.get("for", "0s")), f"{r['alert']}: for"),
                labels={str(k): str(v) for k, v in (r.get("labels") or {}).items()},
                original=original,
            )
        )
    return rules


def load_rules(*paths: Path | str) -> list[Rule]:
    rules: list[Rule] = []
    for path in paths:
        p = Path(path)
        try:
            text = p.read_text()
        except OSError as exc:
            raise InvalidInput("rules", str(p), f"a readable rule file ({exc.strerror})") from None
        rules += parse_rules(text, str(p))
    return rules


def intervals(
    stamps: list[float], start: float, end: float, step: float, for_seconds: float
) -> list[tuple[float, float, float | None]]:
    """(active_at, fired_at, resolved_at) for one series from the evaluation times at which
    its expression returned it; resolved_at is None while it still fires at `end`."""
    out: list[tuple[float, float, float | None]] = []
    if not stamps:
        return out
    tolerance = step / 2
    runs: list[list[float]] = [[stamps[0], stamps[0]]]
    for t in stamps[1:]:
        if t - runs[-1][1] <= step + tolerance:
            runs[-1][1] = t
        else:
            runs.append([t, t])
    for first, last in runs:
        # the first evaluation at which it has been active for `for`
        waits = math.ceil((for_seconds - 1e-9) / step) if for_seconds > 0 else 0
        fired = first + waits * step
        if fired > last + tolerance:
            continue  # pending only: it never fired
        resolved = last + step if last + step <= end + tolerance else None
        out.append((first, fired, resolved))
    return out


def spans(
    frame: pd.DataFrame,
    start: float,
    end: float,
    step: float,
    for_seconds: float = 0.0,
    ignore: tuple[str, ...] = (),
) -> Iterator[tuple[dict[str, str], float, float, float | None]]:
    """For each series of a range query's frame (its labels, less `__name__` and `ignore`),
    each run of consecutive evaluations as (labels, active_at, fired_at, resolved_at)."""
    if frame.empty:
        return
    labels = [c for c in frame.columns if c not in ("timestamp", "value", "__name__", *ignore)]
    frame = frame.assign(_t=frame["timestamp"].astype("int64").to_numpy() / 1e9)
    groups = frame.groupby(labels, observed=True, dropna=False) if labels else [((), frame)]
    for key, part in groups:
        values = key if isinstance(key, tuple) else (key,)
        series = {k: str(v) for k, v in zip(labels, values, strict=True) if v == v}
        stamps = sorted(part["_t"].tolist())
        for active, fired, resolved in intervals(stamps, start, end, step, for_seconds):
            yield series, active, fired, resolved


def _key(series: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(series.items()))


def replay(
    prom: Prom,
    rules: list[Rule],
    start: float,
    end: float,
    step: float,
    rule_set: str = "",
) -> pd.DataFrame:
    """Firing intervals of every rule over [start, end], evaluated every `step` seconds."""
    import pandas as pd

    rows = []
    for rule in rules:
        frame = prom.range(rule.expr, start, end, step)
        for labels, active, fired, resolved in spans(frame, start, end, step, rule.for_seconds):
            series = {**labels, **rule.labels}
            rows.append({"rule_set": rule_set, "alertname": rule.name,
                         "node": series.get("node"), "series": _key(series), "active_at": active,
                         "fired_at": fired, "resolved_at": resolved})  # fmt: skip
    return pd.DataFrame(rows, columns=FIRING_COLUMNS)


def live_firings(prom: Prom, start: float, end: float, step: float = 1.0) -> pd.DataFrame:
    """The firing intervals Prometheus itself recorded in `ALERTS`, in `replay`'s shape."""
    import pandas as pd

    frame = prom.range('ALERTS{alertstate="firing"}', start, end, step)
    rows = []
    for labels, active, _, resolved in spans(frame, start, end, step, ignore=("alertstate",)):
        name = labels.pop("alertname", None)
        rows.append({"rule_set": "live", "alertname": name, "node": labels.get("node"),
                     "series": _key(labels), "active_at": active, "fired_at": active,
                     "resolved_at": resolved})  # fmt: skip
    return pd.DataFrame(rows, columns=FIRING_COLUMNS)
