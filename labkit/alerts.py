"""The seed's alerts as labkit knows them: the one module that names them.

Their rules live in prometheus/rules/alerts.yml (what Prometheus evaluates); this module reads
that file and adds the one thing it cannot say, the failure mode each alert is meant to catch.
Every other part of labkit (the control panel, the drills, the figures' threshold lines, the
dashboard, scoring, the silence exercise) asks here, so renaming an alert or moving a threshold
is an edit of the rule file and, for a name, of `CATCHES` below.

    intended("cpu_spike")                 -> "HighCPUUsage"
    catches("NodeDown")                   -> "node_crash"
    watching("node_cpu_usage_percent")    -> SeedAlert(name="HighCPUUsage", threshold=90.0, ...)
    watching("node_error_rate").label(scale=100, unit="%")  -> "HighErrorRate > 5 %"
    [a.name for a in seed()]              -> the seven names, in the rule file's order
    alert_details({"sloth_slo": "latency", "sloth_severity": "page"})  -> "SLO latency, page"
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labkit.errors import LabkitError
from labkit.failures import FAILURE_MODES
from labkit.resources import PROJECT

RULES_FILE = PROJECT / "prometheus" / "rules" / "alerts.yml"

#: The alert each failure mode is meant to raise.
CATCHES: Mapping[str, str] = {
    "HighCPUUsage": "cpu_spike",
    "HighMemoryUsage": "memory_leak",
    "HighLatency": "latency_spike",
    "HighErrorRate": "error_burst",
    "NodeDown": "node_crash",
}
#: The seed's other alerts: consequences that several failure modes can cause.
CONSEQUENCES = ("LowReliabilityScore", "ErrorBudgetBurn")
#: failure mode -> the alert meant to catch it, in labkit.failures' order
INTENDED: Mapping[str, str] = {
    mode: next(name for name, m in CATCHES.items() if m == mode) for mode in FAILURE_MODES
}

_COMPARISON = re.compile(r"(>=|<=|==|!=|>|<)\s*(-?[0-9]+(?:\.[0-9]+)?)\s*$")
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_QUANTILE = re.compile(r"histogram_quantile\(\s*(0\.[0-9]+)")
#: a rule's comparison, as Python's operator
_OPERATORS: Mapping[str, Callable[[Any, Any], Any]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
    "==": operator.eq, "!=": operator.ne,
}  # fmt: skip
_KEYWORDS = {"and", "or", "unless", "bool", "offset"}


@dataclass(frozen=True)
class SeedAlert:
    """One alert rule of alerts.yml, with what its expression compares."""

    name: str
    expr: str
    severity: str
    metric: str  # the first series the expression reads ("up" for NodeDown)
    comparison: str  # ">", "<", "==", ...: how the metric is compared with the threshold
    threshold: float
    quantile: float | None = None  # 0.95 for an expression over histogram_quantile(0.95, ...)

    def breached(self, values: Any) -> Any:
        """Where `values` (a number, or a pandas Series or numpy array of them) are on the
        firing side of the threshold, as the rule's comparison says."""
        return _OPERATORS[self.comparison](values, self.threshold)

    @property
    def catches(self) -> str | None:
        """The failure mode this alert is meant to catch (None for a consequence)."""
        return CATCHES.get(self.name)

    def label(self, scale: float = 1.0, unit: str = "") -> str:
        """The threshold as a figure says it: "HighCPUUsage > 90 %", "HighLatency: p95 > 1 s"
        (`scale` turns a ratio into the plotted unit, 100 for a percentage)."""
        of = f": p{round(self.quantile * 100)}" if self.quantile is not None else ""
        value = f"{self.threshold * scale:g}" + (f" {unit}" if unit else "")
        return f"{self.name}{of} {self.comparison} {value}"


def _metric(expr: str) -> str:
    """The first series an expression reads: strings, label selectors, ranges and groupings
    taken out, then the first name that is neither a keyword nor a function."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    for match in _NAME.finditer(text):
        word, rest = match.group(0), text[match.end() :].lstrip()
        if word not in _KEYWORDS and not rest.startswith("("):  # not a keyword nor a function
            return word
    raise LabkitError(f"{RULES_FILE}: no series in the alert expression {expr!r}")


def _alert(rule: dict[str, object]) -> SeedAlert:
    name, expr = str(rule["alert"]), " ".join(str(rule.get("expr", "")).split())
    compared = _COMPARISON.search(expr)
    if compared is None:
        raise LabkitError(
            f"{RULES_FILE}: alert {name}'s expression {expr!r} does not end in a comparison "
            "with a number (such as `> 90`), which labkit draws as its threshold"
        )
    labels = rule.get("labels") or {}
    quantile = _QUANTILE.search(expr)
    return SeedAlert(
        name=name,
        expr=expr,
        severity=str(labels.get("severity", "")) if isinstance(labels, dict) else "",
        metric=_metric(expr),
        comparison=compared.group(1),
        threshold=float(compared.group(2)),
        quantile=float(quantile.group(1)) if quantile else None,
    )


@functools.cache
def seed(path: Path = RULES_FILE) -> tuple[SeedAlert, ...]:
    """Every alert rule of the seed's rule file, in its order (an alert added there is
    one more; one this module names must be there)."""
    import yaml

    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise LabkitError(f"cannot read the seed's alerts from {path}: {exc}") from exc
    found = tuple(
        _alert(rule)
        for group in doc.get("groups") or []
        for rule in group.get("rules") or []
        if "alert" in rule
    )
    missing = sorted((set(CATCHES) | set(CONSEQUENCES)) - {a.name for a in found})
    if missing:
        raise LabkitError(
            f"{path} has no alert named {', '.join(missing)}, which labkit.alerts names "
            "(CATCHES, CONSEQUENCES): rename it there too"
        )
    return found


def names() -> list[str]:
    """The seed's alert names, sorted."""
    return sorted(a.name for a in seed())


def named(name: str) -> SeedAlert:
    for alert in seed():
        if alert.name == name:
            return alert
    raise KeyError(name)


def intended(failure: str) -> str:
    """The alert meant to catch `failure` (a mode of labkit.failures)."""
    return INTENDED[failure]


def catches(alert: str) -> str | None:
    """The failure mode `alert` is meant to catch; None for another alert."""
    return CATCHES.get(alert)


def watching(metric: str) -> SeedAlert:
    """The seed alert whose expression reads `metric` (KeyError when none does)."""
    for alert in seed():
        if alert.metric == metric:
            return alert
    raise KeyError(metric)


def alert_details(labels: Mapping[str, str]) -> str:
    """What tells this alert apart from others of its name, in the lessons' words:
    "SLO node-availability, page"; "" for an alert whose name is enough (the seed's).

    Every SLO in slo/*.yml has two burn-rate alerts of one name, a page (fast burn, short
    windows) and a ticket (slow burn, long windows): the generated rules label them
    `sloth_severity` ("page", "ticket") and `sloth_slo` (the SLO)."""
    parts = []
    if labels.get("sloth_slo"):
        parts.append(f"SLO {labels['sloth_slo']}")
    if labels.get("sloth_severity"):
        parts.append(labels["sloth_severity"])
    return ", ".join(parts)
