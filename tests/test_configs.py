"""The shared configs: promtool and amtool checks, the rule tests, rendering for the lab."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from labkit import rulefiles
from labkit.stack import (
    LabConfig,
    LabPaths,
    render_alertmanager,
    render_prometheus,
    render_slo_rules,
)
from tests.conftest import REPO

SEED_ALERTS = {
    "HighCPUUsage": ("node_cpu_usage_percent > 90", "warning"),
    "HighMemoryUsage": ("node_memory_usage_percent > 85", "warning"),
    "HighErrorRate": ("node_error_rate > 0.05", "critical"),
    "HighLatency": ("> 1", "warning"),
    "NodeDown": ('up{job="edge-nodes"} == 0', "critical"),
    "LowReliabilityScore": ("reliability_score < 0.95", "warning"),
    "ErrorBudgetBurn": ("error_budget_remaining < 0.5", "critical"),
}


def tool(name: str) -> str:
    found = shutil.which(name)
    assert found, (
        f"{name} is missing: `make test` installs it (OS packages prometheus, prometheus-alertmanager)"
    )
    return found


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def rules() -> list[dict[str, object]]:
    doc = yaml.safe_load((REPO / "prometheus/rules/alerts.yml").read_text())
    return [r for g in doc["groups"] for r in g["rules"]]


def test_the_seven_seed_alerts_with_their_conditions_and_severities() -> None:
    found = {r["alert"]: r for r in rules()}
    assert set(found) == set(SEED_ALERTS)
    for name, (condition, severity) in SEED_ALERTS.items():
        rule = found[name]
        assert condition in str(rule["expr"]), name
        assert rule["labels"] == {"severity": severity}
        assert rule["for"] == "0s"
        annotations = rule["annotations"]
        assert isinstance(annotations, dict)
        assert "$labels.node" in annotations["summary"]
        if name != "NodeDown":  # up == 0 has no value worth showing
            assert "$value" in annotations["description"], name
    assert "histogram_quantile(0.95" in str(found["HighLatency"]["expr"])


def test_no_rule_reads_the_ground_truth() -> None:
    for path in (REPO / "prometheus/rules").glob("*.yml"):
        doc = yaml.safe_load(path.read_text())
        exprs = [str(r["expr"]) for g in doc["groups"] for r in g["rules"]]
        assert exprs and not [e for e in exprs if "labkit_" in e], path


def test_promtool_check_rules() -> None:
    r = run(tool("promtool"), "check", "rules", str(REPO / "prometheus/rules/alerts.yml"))
    assert r.returncode == 0 and "7 rules found" in r.stdout, r.stdout + r.stderr


def test_promtool_test_rules_every_alert_fires_and_stays_silent() -> None:
    test_file = REPO / "prometheus/tests/alerts_test.yml"
    cases = yaml.safe_load(test_file.read_text())["tests"]
    firing, silent = set(), set()
    for case in cases:
        for check in case["alert_rule_test"]:
            (firing if check["exp_alerts"] else silent).add(check["alertname"])
    assert firing == silent == set(SEED_ALERTS)
    r = run(tool("promtool"), "test", "rules", str(test_file))
    assert r.returncode == 0 and "SUCCESS" in r.stdout, r.stdout + r.stderr


def test_rendered_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    config = LabConfig(nodes=5, base_port=18001, prometheus_port=19090)
    paths = LabPaths(tmp_path)
    rendered = render_prometheus(config, paths)
    doc = yaml.safe_load(rendered.read_text())
    assert doc["global"]["scrape_interval"] == "1s" and doc["global"]["evaluation_interval"] == "1s"
    r = run(tool("promtool"), "check", "config", str(rendered))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "7 rules found" in r.stdout
    targets = json.loads((tmp_path / "prometheus/targets/nodes.json").read_text())
    assert [(t["targets"], t["labels"]) for t in targets] == [
        ([f"127.0.0.1:{18000 + i}"], {"node": str(i)}) for i in range(1, 6)
    ]
    ams = json.loads((tmp_path / "prometheus/targets/alertmanagers.json").read_text())
    assert ams == [{"targets": ["127.0.0.1:9093"]}]
    own = json.loads((tmp_path / "prometheus/targets/prometheus.json").read_text())
    assert own == [{"targets": ["127.0.0.1:19090"]}]


def test_prometheus_scrapes_itself_and_alertmanager_from_generated_files(tmp_path: Path) -> None:
    """Meta-monitoring: jobs `prometheus` and `alertmanager`, targets from file discovery
    (Alertmanager's is the file alerts are sent through), in the shared and rendered configs."""
    for doc in (
        yaml.safe_load((REPO / "prometheus/prometheus.yml").read_text()),
        yaml.safe_load(render_prometheus(LabConfig(), LabPaths(tmp_path)).read_text()),
    ):
        jobs = {j["job_name"]: j["file_sd_configs"][0]["files"][0] for j in doc["scrape_configs"]}
        assert set(jobs) == {"edge-nodes", "prometheus", "alertmanager"}
        assert jobs["prometheus"].endswith("targets/prometheus.json")
        sent_to = doc["alerting"]["alertmanagers"][0]["file_sd_configs"][0]["files"][0]
        assert jobs["alertmanager"] == sent_to


def test_rendered_config_with_the_slo_rules_passes_promtool_and_counts_agree(
    tmp_path: Path,
) -> None:
    """What `labkit up` says it loaded is what promtool finds in the same files."""
    config = LabConfig(nodes=3, base_port=18001)
    paths = LabPaths(tmp_path)
    rendered = render_prometheus(config, paths)
    render_slo_rules(config, paths)
    r = run(tool("promtool"), "check", "config", str(rendered))
    assert r.returncode == 0, r.stdout + r.stderr
    found = sum(int(n) for n in re.findall(r"SUCCESS: (\d+) rules found", r.stdout + r.stderr))
    counts = rulefiles.count(rulefiles.rule_files(rendered))
    assert sum(c.rules for c in counts) == found
    seed, slo = counts
    assert (seed.kind, seed.alerts, seed.records) == ("seed", 7, 0)
    assert (slo.kind, slo.alerts) == ("SLO", 8) and slo.records > 0
    assert rulefiles.describe(counts) == (
        f"7 seed alerts, 8 SLO burn-rate alerts, {slo.records} SLO recording rules"
    )


@pytest.mark.parametrize(
    ("counts", "words"),
    [
        ([rulefiles.RuleCount("seed", 1, 0)], "1 seed alert"),
        ([rulefiles.RuleCount("SLO", 2, 1)], "2 SLO burn-rate alerts, 1 SLO recording rule"),
        ([rulefiles.RuleCount("mine.yml", 3, 2)],
         "3 alerts from mine.yml, 2 recording rules from mine.yml"),
        ([], "no rules"),
    ],
)  # fmt: skip
def test_rule_counts_in_words(counts: list[rulefiles.RuleCount], words: str) -> None:
    assert rulefiles.describe(counts) == words


def test_the_shared_prometheus_config_passes_promtool() -> None:
    r = run(tool("promtool"), "check", "config", str(REPO / "prometheus/prometheus.yml"))
    assert r.returncode == 0 and "7 rules found" in r.stdout, r.stdout + r.stderr


def test_the_shared_prometheus_config_has_no_hand_written_targets() -> None:
    doc = yaml.safe_load((REPO / "prometheus/prometheus.yml").read_text())
    for job in doc["scrape_configs"]:
        assert "static_configs" not in job and job["file_sd_configs"]
    assert "8001" not in (REPO / "prometheus/prometheus.yml").read_text()


@pytest.mark.parametrize("source", ["repo", "rendered"])
def test_alertmanager_config_passes_amtool(tmp_path: Path, source: str) -> None:
    path = REPO / "alertmanager/alertmanager.yml"
    if source == "rendered":
        path = render_alertmanager(LabConfig(receiver_port=19095), LabPaths(tmp_path))
        doc = yaml.safe_load(path.read_text())
        urls = {h["url"] for r in doc["receivers"] for h in r["webhook_configs"]}
        assert urls == {
            f"http://127.0.0.1:19095/notify/{n}" for n in ("default", "critical", "warning")
        }
    doc = yaml.safe_load(path.read_text())
    assert doc["route"]["group_wait"] == "0s"
    assert [r["receiver"] for r in doc["route"]["routes"]] == ["critical", "warning"]
    r = run(tool("amtool"), "check-config", str(path))
    assert r.returncode == 0, r.stdout + r.stderr
