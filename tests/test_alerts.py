"""labkit.alerts: the seed's alerts as the rest of labkit knows them, read from the rule file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from labkit import alerts
from labkit.errors import LabkitError
from labkit.failures import FAILURE_MODES

REPO = Path(__file__).resolve().parent.parent


def test_every_failure_mode_has_its_alert_and_every_alert_is_in_the_rule_file() -> None:
    assert tuple(alerts.INTENDED) == FAILURE_MODES
    seed = {a.name: a for a in alerts.seed()}
    for failure in FAILURE_MODES:
        name = alerts.intended(failure)
        assert name in seed and seed[name].catches == failure
        assert alerts.catches(name) == failure
    assert alerts.catches("EdgeLatencyBudgetBurn") is None  # an SLO alert catches no mode
    assert set(alerts.CONSEQUENCES) <= set(seed)
    assert alerts.names() == sorted(seed)


def test_what_each_expression_compares_is_read_from_the_rule_file() -> None:
    doc = yaml.safe_load((REPO / "prometheus" / "rules" / "alerts.yml").read_text())
    rules = {r["alert"]: r for g in doc["groups"] for r in g["rules"]}
    cpu = alerts.watching("node_cpu_usage_percent")
    assert (cpu.comparison, cpu.threshold) == (">", 90.0)
    assert cpu.severity == rules[cpu.name]["labels"]["severity"]
    latency = alerts.watching("node_request_latency_seconds_bucket")
    assert (latency.threshold, latency.quantile) == (1.0, 0.95)
    assert latency.label(unit="s") == f"{latency.name}: p95 > 1 s"
    errors = alerts.watching("node_error_rate")
    assert errors.label(100, "%") == f"{alerts.intended('error_burst')} > 5 %"
    assert alerts.watching("up").catches == "node_crash"  # up{job="edge-nodes"} == 0
    assert alerts.watching("error_budget_remaining").comparison == "<"
    with pytest.raises(KeyError):
        alerts.watching("no_such_metric")


def _rules(tmp_path: Path, rules: list[dict[str, object]]) -> Path:
    path = tmp_path / "alerts.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": rules}]}))
    return path


def test_a_renamed_alert_is_named_in_the_error(tmp_path: Path) -> None:
    real = [dict(a.__dict__) for a in alerts.seed()]
    rules = [{"alert": r["name"], "expr": r["expr"], "labels": {"severity": r["severity"]}}
             for r in real]  # fmt: skip
    rules[0]["alert"] = "CPUTooHigh"
    with pytest.raises(LabkitError, match=rf"no alert named {real[0]['name']}.*rename it there"):
        alerts.seed(_rules(tmp_path, rules))
    rules.append({"alert": real[0]["name"], "expr": real[0]["expr"]})  # one more alert is fine
    names = [a.name for a in alerts.seed(_rules(tmp_path, rules))]
    assert names[0] == "CPUTooHigh" and names[-1] == real[0]["name"] and len(names) == 8


def test_an_expression_without_a_threshold_is_refused_with_its_name(tmp_path: Path) -> None:
    path = _rules(tmp_path, [{"alert": "Odd", "expr": "absent(up)"}])
    with pytest.raises(LabkitError, match=r"alert Odd's expression 'absent\(up\)' does not end"):
        alerts.seed(path)


def test_alert_details_tell_alike_named_alerts_apart() -> None:
    assert alerts.alert_details({"sloth_slo": "latency", "sloth_severity": "page"}) == (
        "SLO latency, page"
    )
    assert alerts.alert_details({"alertname": "x"}) == ""


def test_breached_compares_as_the_rule_does() -> None:
    import pandas as pd

    cpu = alerts.named("HighCPUUsage")
    assert cpu.breached(pd.Series([89.9, 90.0, 90.1])).tolist() == [False, False, True]
    down = alerts.named("NodeDown")
    assert (down.comparison, down.breached(0.0), down.breached(1.0)) == ("==", True, False)
