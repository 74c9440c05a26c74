"""SLO specs in Sloth's `prometheus/v1` format, and the Prometheus rules they generate.

A spec (YAML), as Sloth reads it, so existing ones carry over:

    version: prometheus/v1
    service: edge
    labels: {team: sre}
    slos:
      - name: requests-availability
        objective: 99.9                       # a percentage, as in Sloth
        description: Requests served without error.
        sli:
          events:
            error_query: sum(rate(node_requests_total{status="error"}[{{.window}}]))
            total_query: sum(rate(node_requests_total[{{.window}}]))
        alerting:
          name: EdgeAvailabilityBudgetBurn
          labels: {category: availability}
          annotations: {summary: Edge requests are burning the error budget}
          page_alert: {labels: {severity: critical}}
          ticket_alert: {labels: {severity: warning}}

`generate(spec, profile)` returns the rule groups: the SLI error ratio recorded over every
window, the SLO's metadata (the period's ratio as Sloth's, an average of the base-window
ratio, but over a subquery stepped by the base window, so it averages over time whatever the
samples' spacing: a lab's backfilled past, labkit.past, has one per base window), and two
multi-window multi-burn-rate alerts (page: 5m/1h at 14.4x or 30m/6h at 6x; ticket: 2h/1d at
3x or 6h/3d at 1x), as Sloth generates by default.
A lab profile compresses time: a 1-day SLO period scales every window by 1/30. A profile is
refused when any window would be shorter than 4 scrape intervals (others round such windows
to zero and alert on nothing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from labkit import durations
from labkit.errors import InvalidInput
from labkit.slo import DAY, HOUR, MINUTE

VERSION = "prometheus/v1"
LAB_SPEC = Path(__file__).resolve().parent.parent / "slo" / "edge.yml"  # the lab's own SLOs
PERIOD_SECONDS = 30 * DAY  # the period Sloth's default windows are designed for

#: (severity, [(short, long)] window pairs in seconds, factor per pair), Sloth's defaults.
ALERT_WINDOWS: dict[str, list[tuple[float, float, float]]] = {
    "page": [(5 * MINUTE, 1 * HOUR, 14.4), (30 * MINUTE, 6 * HOUR, 6.0)],
    "ticket": [(2 * HOUR, 1 * DAY, 3.0), (6 * HOUR, 3 * DAY, 1.0)],
}
WINDOWS = sorted({w for pairs in ALERT_WINDOWS.values() for s, lng, _ in pairs for w in (s, lng)})


@dataclass(frozen=True)
class Profile:
    """How an SLO period maps onto the lab: every window is scaled by period / 30 days."""

    name: str
    period_seconds: float
    scrape_interval_seconds: float = 1.0

    @property
    def scale(self) -> float:
        return self.period_seconds / PERIOD_SECONDS

    def window(self, seconds: float) -> float:
        return seconds * self.scale

    def check(self) -> Profile:
        shortest = self.window(min(WINDOWS))
        floor = 4 * self.scrape_interval_seconds
        if shortest < floor:
            raise InvalidInput(
                "profile",
                self.name,
                f"a period whose shortest window (5m x {self.scale:.4g} = {shortest:.3g} s) is at "
                f"least 4 scrape intervals ({floor:g} s)",
                f"Use a period of at least {duration(PERIOD_SECONDS * floor / min(WINDOWS))}.",
            )
        return self


PROFILES: dict[str, Profile] = {
    "production": Profile("production", 30 * DAY),
    "lab-day": Profile("lab-day", 1 * DAY),
}


def profile(name: str) -> Profile:
    if name in PROFILES:
        return PROFILES[name].check()
    seconds = parse_duration(name, "profile") if re.fullmatch(r"(\d+[smhdw])+", name) else None
    if seconds is None:
        raise InvalidInput(
            "profile", name, "one of " + ", ".join(PROFILES) + ", or a period such as 12h"
        )
    return Profile(name, seconds).check()


def parse_duration(text: str, field_name: str) -> float:
    """A Prometheus duration (1y2w3d4h5m6s7ms, units in that order) in seconds: labkit's one
    grammar (labkit.durations), without bare numbers."""
    return durations.parse(text, field_name, numbers=False)


def duration(seconds: float) -> str:
    """Seconds as a Prometheus duration (1d2h, 48m, 10s), rounded to whole seconds."""
    if round(seconds) <= 0:
        raise InvalidInput("window", seconds, "at least 1 second")
    return durations.text_of(seconds)


@dataclass(frozen=True)
class SLO:
    service: str
    name: str
    objective_percent: float
    error_query: str
    total_query: str
    description: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    alert_name: str = ""
    alert_labels: dict[str, str] = field(default_factory=dict)
    alert_annotations: dict[str, str] = field(default_factory=dict)
    page_labels: dict[str, str] = field(default_factory=dict)
    ticket_labels: dict[str, str] = field(default_factory=dict)

    @property
    def objective(self) -> float:
        return float(self.objective_decimal)

    @property
    def objective_decimal(self) -> Decimal:
        return Decimal(repr(self.objective_percent)) / 100

    @property
    def budget_text(self) -> str:
        """The error budget as written in rules: 0.001, not 0.0009999999999998899."""
        return format((1 - self.objective_decimal).normalize(), "f")

    @property
    def id(self) -> str:
        return f"{self.service}-{self.name}"


def _need(data: Any, key: str, where: str, kind: type, example: str) -> Any:
    if not isinstance(data, dict) or key not in data:
        raise InvalidInput(
            f"{where}.{key}" if where else key, None, f"present, for example {example}"
        )
    value = data[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise InvalidInput(
            f"{where}.{key}" if where else key, value, f"a {kind.__name__}, for example {example}"
        )
    return value


def _labels(data: Any, where: str) -> dict[str, str]:
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        raise InvalidInput(where, data, "a mapping of label names to values")
    return {k: str(v) for k, v in data.items()}


def parse(doc: Any) -> list[SLO]:
    """SLOs from a decoded spec; every problem names its field and what is allowed."""
    if not isinstance(doc, dict):
        raise InvalidInput("spec", doc, f"a mapping with version: {VERSION}, service and slos")
    if doc.get("version") != VERSION:
        raise InvalidInput("version", doc.get("version"), f'"{VERSION}" (Sloth\'s Prometheus spec)')
    service = _need(doc, "service", "", str, "service: edge")
    common = _labels(doc.get("labels"), "labels")
    entries = _need(doc, "slos", "", list, "slos: [...]")
    if not entries:
        raise InvalidInput("slos", entries, "at least one SLO")
    return [_slo(entry, f"slos[{i}]", service, common) for i, entry in enumerate(entries)]


def _slo(entry: Any, where: str, service: str, common: dict[str, str]) -> SLO:
    """One entry of `slos:`, at `where` (slos[0]) in the spec."""
    name = _need(entry, "name", where, str, "name: requests-availability")
    objective = _objective(entry, where)
    queries = _queries(entry, where)
    alerting = entry.get("alerting") or {}
    if not isinstance(alerting, dict):
        raise InvalidInput(f"{where}.alerting", alerting, "a mapping")
    alert_name = alerting.get("name") or f"{_camel(service)}{_camel(name)}BudgetBurn"
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(alert_name)):
        raise InvalidInput(
            f"{where}.alerting.name", alert_name, "a valid alert name (letters, digits, _)"
        )
    return SLO(
        service=service,
        name=name,
        objective_percent=float(objective),
        error_query=queries["error_query"],
        total_query=queries["total_query"],
        description=str(entry.get("description", "")),
        labels={**common, **_labels(entry.get("labels"), f"{where}.labels")},
        alert_name=str(alert_name),
        alert_labels=_labels(alerting.get("labels"), f"{where}.alerting.labels"),
        alert_annotations=_labels(alerting.get("annotations"), f"{where}.alerting.annotations"),
        page_labels=_labels(
            (alerting.get("page_alert") or {}).get("labels"),
            f"{where}.alerting.page_alert.labels",
        ),
        ticket_labels=_labels(
            (alerting.get("ticket_alert") or {}).get("labels"),
            f"{where}.alerting.ticket_alert.labels",
        ),
    )


def _objective(entry: Any, where: str) -> int | float:
    """The objective, a percentage (99.9); 0.999 is refused with a hint."""
    objective = entry.get("objective") if isinstance(entry, dict) else None
    if isinstance(objective, bool) or not isinstance(objective, int | float):
        raise InvalidInput(f"{where}.objective", objective, "a percentage, for example 99.9")
    if 0 < objective < 1:
        raise InvalidInput(
            f"{where}.objective",
            objective,
            "a percentage between 0 and 100",
            f"Objectives are percentages: did you mean {objective * 100:g}?",
        )
    if not 0 < objective < 100:
        raise InvalidInput(
            f"{where}.objective", objective, "a percentage between 0 and 100 (exclusive)"
        )
    return objective


def _queries(entry: Any, where: str) -> dict[str, str]:
    """The events SLI's error_query and total_query, each with its {{.window}} placeholder."""
    sli = _need(entry, "sli", where, dict, "sli: {events: {error_query: ..., total_query: ...}}")
    if "events" not in sli:
        raise InvalidInput(
            f"{where}.sli",
            sorted(sli),
            "an `events` SLI (raw and plugin SLIs are not supported)",
        )
    events = _need(
        sli, "events", f"{where}.sli", dict, "events: {error_query: ..., total_query: ...}"
    )
    queries = {}
    for q in ("error_query", "total_query"):
        text = _need(events, q, f"{where}.sli.events", str, f"{q}: sum(rate(...[{{{{.window}}}}]))")
        if "{{.window}}" not in text:
            raise InvalidInput(
                f"{where}.sli.events.{q}",
                text,
                "a query with the {{.window}} placeholder in its range, as Sloth's",
            )
        queries[q] = text
    return queries


def load(path: Path | str) -> list[SLO]:
    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text())
    except OSError as exc:
        raise InvalidInput("SPEC", str(p), f"a readable file ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise InvalidInput("SPEC", str(p), f"valid YAML ({exc})") from None
    return parse(doc)


def _camel(text: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", text) if part)


def ratio_record(window: str) -> str:
    return f"slo:sli_error:ratio_rate{window}"


def generate(slos: list[SLO], prof: Profile) -> dict[str, Any]:
    """The Prometheus rule file (as a dict) for `slos` under `prof`."""
    prof.check()
    groups = []
    for s in slos:
        windows = {w: duration(prof.window(w)) for w in WINDOWS}
        groups.append(
            {"name": f"labkit-slo-sli-recordings-{s.id}", "rules": _records(s, prof, windows)}
        )
        groups.append({"name": f"labkit-slo-alerts-{s.id}", "rules": _alerts(s, windows)})
    return {"groups": groups}


def _selector(s: SLO) -> str:
    return f'{{sloth_id="{s.id}", sloth_service="{s.service}", sloth_slo="{s.name}"}}'


def _records(s: SLO, prof: Profile, windows: dict[float, str]) -> list[dict[str, Any]]:
    """The SLI's error ratio over every window, then the SLO's metadata, as Sloth's."""
    ident = {"sloth_id": s.id, "sloth_service": s.service, "sloth_slo": s.name}
    period = duration(prof.period_seconds)
    budget = s.budget_text
    selector = _selector(s)
    records = [
        {
            "record": ratio_record(windows[w]),
            "expr": f"({s.error_query.replace('{{.window}}', windows[w])})\n/\n"
            f"({s.total_query.replace('{{.window}}', windows[w])})",
            "labels": {**s.labels, **ident, "sloth_window": windows[w]},
        }
        for w in WINDOWS
    ]
    base = windows[WINDOWS[0]]
    records += [
        {
            "record": "slo:objective:ratio",
            "expr": f"vector({format(s.objective_decimal.normalize(), 'f')})",
            "labels": {**s.labels, **ident},
        },
        {
            "record": "slo:error_budget:ratio",
            "expr": f"vector({budget})",
            "labels": {**s.labels, **ident},
        },
        {
            "record": "slo:time_period:days",
            "expr": f"vector({prof.period_seconds / DAY!r})",
            "labels": {**s.labels, **ident},
        },
        {
            # Sloth's average of the base-window ratio over the period, read through a
            # subquery stepped by the base window: each step's sample covers its own
            # window, so the average is over time, not over samples, whatever their
            # spacing (a lab's backfilled past has one per base window; see labkit.past)
            "record": ratio_record(period),
            "expr": f"sum_over_time({ratio_record(base)}{selector}[{period}:{base}])\n"
            "/ ignoring (sloth_window)\n"
            f"count_over_time({ratio_record(base)}{selector}[{period}:{base}])",
            "labels": {**s.labels, **ident, "sloth_window": period},
        },
        {
            "record": "slo:period_burn_rate:ratio",
            "expr": f"{ratio_record(period)}{selector}\n"
            "/ on(sloth_id, sloth_slo, sloth_service) group_left\n"
            f"slo:error_budget:ratio{selector}",
            "labels": {**s.labels, **ident},
        },
        {
            "record": "slo:period_error_budget_remaining:ratio",
            "expr": f"1 - slo:period_burn_rate:ratio{selector}",
            "labels": {**s.labels, **ident},
        },
    ]
    return records


def _alerts(s: SLO, windows: dict[float, str]) -> list[dict[str, Any]]:
    """The page and ticket multi-window multi-burn-rate alerts."""
    budget = s.budget_text
    selector = _selector(s)
    alerts = []
    for severity, pairs in ALERT_WINDOWS.items():
        terms = [
            f"(\n  {_above(windows[short], selector, factor, budget)}\n"
            f"  and\n  {_above(windows[long_], selector, factor, budget)}\n)"
            for short, long_, factor in pairs
        ]
        extra = s.page_labels if severity == "page" else s.ticket_labels
        alerts.append(
            {
                "alert": s.alert_name,
                "expr": "\nor\n".join(terms),
                "labels": {**s.alert_labels, "sloth_severity": severity, **extra},
                "annotations": {
                    "title": f"(({severity})) {s.service} {s.name} SLO error budget "
                    "burn rate is too fast.",
                    **s.alert_annotations,
                },
            }
        )
    return alerts


def _above(window: str, selector: str, factor: float, budget: str) -> str:
    return f"max({ratio_record(window)}{selector} > ({factor!r} * {budget})) without (sloth_window)"


def render(slos: list[SLO], prof: Profile, source: str) -> str:
    head = (
        f"# Generated by `labkit slo generate` from {source} (profile {prof.name}: "
        f"period {duration(prof.period_seconds)}, windows x{prof.scale:.4g}). Do not edit.\n"
    )
    return head + yaml.safe_dump(generate(slos, prof), sort_keys=False, width=120)


def _input_series(
    ident: dict[str, str], windows: dict[float, str], values: dict[float, float]
) -> list[dict[str, str]]:
    out = []
    for w in WINDOWS:
        labels = {**ident, "sloth_window": windows[w]}
        text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        value = min(1.0, values.get(w, 0.0))
        out.append({"series": f"{ratio_record(windows[w])}{{{text}}}", "values": f"{value!r}x10"})
    return out


def _expected(s: SLO, ident: dict[str, str], severity: str) -> dict[str, Any]:
    extra = s.page_labels if severity == "page" else s.ticket_labels
    title = f"(({severity})) {s.service} {s.name} SLO error budget burn rate is too fast."
    return {
        "exp_labels": {**ident, **s.alert_labels, "sloth_severity": severity, **extra},
        "exp_annotations": {"title": title, **s.alert_annotations},
    }


def generate_tests(slos: list[SLO], prof: Profile, rules_file: str) -> dict[str, Any]:
    """promtool test cases for the generated alerts, fed with the recorded error ratios: each
    alert fires when one window pair burns at twice its factor, and stays silent when every
    window is just below the smallest factor, or when only the short window burns."""
    windows = {w: duration(prof.window(w)) for w in WINDOWS}
    tests = []
    for s in slos:
        budget = float(s.budget_text)
        ident = {"sloth_id": s.id, "sloth_service": s.service, "sloth_slo": s.name, **s.labels}
        cases: list[tuple[str, dict[float, float], list[dict[str, Any]]]] = []
        for severity, pairs in ALERT_WINDOWS.items():
            short, long_, factor = pairs[0]
            burning = {short: 2 * factor * budget, long_: 2 * factor * budget}
            cases.append((f"{severity} fires at 2x its {factor:g}x burn rate", burning,
                          [_expected(s, ident, severity)]))  # fmt: skip
        cases.append(
            ("silent just below the smallest factor", dict.fromkeys(WINDOWS, 0.9 * budget), [])
        )
        page_short, page_long, page_factor = ALERT_WINDOWS["page"][0]
        short_only = {page_short: 2 * page_factor * budget, page_long: 0.5 * budget}
        cases.append(("silent when only the short window burns", short_only, []))
        for name, values, alerts in cases:
            check = {"eval_time": "5m", "alertname": s.alert_name, "exp_alerts": alerts}
            tests.append({
                "name": f"{s.id}: {name}",
                "interval": "1m",
                "input_series": _input_series(ident, windows, values),
                "alert_rule_test": [check],
            })  # fmt: skip
    return {"rule_files": [rules_file], "evaluation_interval": "1m", "tests": tests}
