"""What a Prometheus config loads: its rule files, their alert and recording rules, and the
words `labkit up` says about them, the lessons' words.

    files = rule_files(Path(".lab/prometheus/prometheus.yml"))
    describe(count(files))   -> "7 seed alerts, 8 SLO burn-rate alerts, 60 SLO recording rules"

A rule file is told by its name: `alerts.yml` holds the seed's alerts, `slo-*.yml` the rules
`labkit up` generates from slo/*.yml; any other file is named as it is.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

import yaml


@dataclass(frozen=True)
class RuleCount:
    """The rules of one rule set (the seed's, the SLOs', or one other file)."""

    kind: str  # "seed", "SLO", or a file name
    alerts: int
    records: int

    @property
    def rules(self) -> int:
        return self.alerts + self.records


def rule_files(config_file: Path) -> list[Path]:
    """The files a Prometheus config's `rule_files` patterns match, as Prometheus expands
    them (relative patterns from the config's folder)."""
    doc = yaml.safe_load(config_file.read_text()) or {}
    found: list[Path] = []
    for pattern in doc.get("rule_files") or []:
        full = pattern if Path(pattern).is_absolute() else str(config_file.parent / pattern)
        found += [Path(p) for p in sorted(glob.glob(full))]
    return found


def kind_of(path: Path) -> str:
    if path.name == "alerts.yml":
        return "seed"
    if path.name.startswith("slo-"):
        return "SLO"
    return path.name


def count(files: list[Path]) -> list[RuleCount]:
    """Alert and recording rules per rule set, in the order the sets first appear."""
    totals: dict[str, list[int]] = {}
    for path in files:
        doc = yaml.safe_load(path.read_text()) or {}
        rules = [r for g in doc.get("groups") or [] for r in g.get("rules") or []]
        tally = totals.setdefault(kind_of(path), [0, 0])
        tally[0] += sum(1 for r in rules if "alert" in r)
        tally[1] += sum(1 for r in rules if "record" in r)
    return [RuleCount(kind, alerts, records) for kind, (alerts, records) in totals.items()]


def _n(number: int, one: str, many: str) -> str:
    return f"{number} {one if number == 1 else many}"


def describe(counts: list[RuleCount]) -> str:
    """ "7 seed alerts, 8 SLO burn-rate alerts, 60 SLO recording rules": no rule set or kind
    with nothing in it is named."""
    words = []
    for c in counts:
        if c.kind == "seed":
            alerts = _n(c.alerts, "seed alert", "seed alerts")
            records = _n(c.records, "seed recording rule", "seed recording rules")
        elif c.kind == "SLO":
            alerts = _n(c.alerts, "SLO burn-rate alert", "SLO burn-rate alerts")
            records = _n(c.records, "SLO recording rule", "SLO recording rules")
        else:
            alerts = _n(c.alerts, f"alert from {c.kind}", f"alerts from {c.kind}")
            records = _n(
                c.records, f"recording rule from {c.kind}", f"recording rules from {c.kind}"
            )
        words += [w for w, n in ((alerts, c.alerts), (records, c.records)) if n]
    return ", ".join(words) or "no rules"
