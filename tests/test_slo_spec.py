"""SLO specs (Sloth's format): validation, lab profiles, and the rules they generate, checked
with promtool (`check rules`, and the generated `test rules` cases)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from labkit import slo_spec
from labkit.cli import main
from labkit.errors import InvalidInput
from tests.conftest import REPO

SPEC = REPO / "slo/edge.yml"


def spec(**changes: Any) -> dict[str, Any]:
    doc = yaml.safe_load(SPEC.read_text())
    slo = doc["slos"][0]
    for path, value in changes.items():
        target = slo
        *parents, last = path.split("__")
        for p in parents:
            target = target[p]
        if value is None:
            del target[last]
        else:
            target[last] = value
    return doc


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"objective": 0.999}, "slos[0].objective", ["did you mean 99.9?"]),
        ({"objective": 100}, "slos[0].objective", ["between 0 and 100"]),
        ({"objective": "high"}, "slos[0].objective", ["a percentage"]),
        (
            {"sli__events__error_query": "sum(rate(x[5m]))"},
            "slos[0].sli.events.error_query",
            ["{{.window}}"],
        ),
        ({"sli": {"raw": {"error_ratio_query": "x"}}}, "slos[0].sli", ["events", "not supported"]),
        ({"sli": None}, "slos[0].sli", ["present"]),
        ({"alerting__name": "Edge Budget!"}, "slos[0].alerting.name", ["valid alert name"]),
    ],
)
def test_spec_errors_name_the_field_and_the_fix(
    changes: dict[str, Any], field: str, words: list[str]
) -> None:
    with pytest.raises(InvalidInput) as err:
        slo_spec.parse(spec(**changes))
    assert err.value.field == field
    for word in words:
        assert word in str(err.value)


def test_the_version_and_the_shape_are_checked() -> None:
    with pytest.raises(InvalidInput, match="prometheus/v1"):
        slo_spec.parse({**spec(), "version": "sloth/v1"})
    with pytest.raises(InvalidInput, match="at least one SLO"):
        slo_spec.parse({**spec(), "slos": []})


def test_the_shipped_spec_has_availability_and_latency_for_the_fleet_and_per_node() -> None:
    slos = slo_spec.load(SPEC)
    assert [s.name for s in slos] == [
        "availability",
        "node-availability",
        "latency",
        "node-latency",
    ]
    assert [s.objective for s in slos] == [0.999, 0.999, 0.99, 0.99]
    assert all("by (node)" in s.total_query for s in slos if s.name.startswith("node-"))
    assert 'le="0.5"' in slos[2].error_query


def test_profiles_scale_every_window_and_refuse_windows_under_4_scrapes() -> None:
    day = slo_spec.profile("lab-day")
    assert [slo_spec.duration(day.window(w)) for w in slo_spec.WINDOWS] == [
        "10s",
        "1m",
        "2m",
        "4m",
        "12m",
        "48m",
        "2h24m",
    ]
    production = slo_spec.profile("production")
    assert [slo_spec.duration(production.window(w)) for w in slo_spec.WINDOWS] == [
        "5m",
        "30m",
        "1h",
        "2h",
        "6h",
        "1d",
        "3d",
    ]
    with pytest.raises(InvalidInput) as err:
        slo_spec.profile("1h")
    assert (
        "0.417 s" in str(err.value)
        and "4 scrape intervals" in str(err.value)
        and "9h36m" in str(err.value)
    )
    assert slo_spec.profile("9h36m").window(300) == pytest.approx(4.0)


def promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    assert tool, "promtool is missing: `make test` installs it (prometheus)"
    return subprocess.run([tool, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


@pytest.mark.parametrize("profile", ["production", "lab-day"])
def test_generated_rules_pass_promtool_and_their_generated_tests(
    profile: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules, tests = tmp_path / "rules.yml", tmp_path / "tests.yml"
    assert (
        main(
            [
                "slo",
                "generate",
                str(SPEC),
                "--profile",
                profile,
                "--out",
                str(rules),
                "--tests",
                str(tests),
            ]
        )
        == 0
    )
    check = promtool("check", "rules", str(rules))
    assert check.returncode == 0 and "60 rules found" in check.stdout, check.stdout + check.stderr
    cases = yaml.safe_load(tests.read_text())["tests"]
    assert len(cases) == 4 * 4  # per SLO: page fires, ticket fires, two silent cases
    assert sum(bool(c["alert_rule_test"][0]["exp_alerts"]) for c in cases) == 8
    run = promtool("test", "rules", str(tests), cwd=tmp_path)
    assert run.returncode == 0 and "SUCCESS" in run.stdout, run.stdout + run.stderr


def test_the_page_alert_reads_both_windows_of_each_pair() -> None:
    rules = slo_spec.generate(slo_spec.load(SPEC)[:1], slo_spec.profile("lab-day"))
    alerts = [r for g in rules["groups"] for r in g["rules"] if "alert" in r]
    page = next(a for a in alerts if a["labels"]["sloth_severity"] == "page")
    for window in ("10s", "2m", "1m", "12m"):  # 5m/1h and 30m/6h, scaled by 1/30
        assert f"slo:sli_error:ratio_rate{window}" in page["expr"]
    assert "> (14.4 * 0.001))" in page["expr"] and "> (6.0 * 0.001))" in page["expr"]
    assert page["labels"]["severity"] == "critical"


def test_cli_help_documents_the_spec_and_bad_specs_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["slo", "generate", "--help"])
    assert done.value.code == 0
    help_text = capsys.readouterr().out
    assert (
        "version: prometheus/v1" in help_text
        and "{{.window}}" in help_text
        and "lab-day" in help_text
    )
    bad = tmp_path / "bad.yml"
    bad.write_text(yaml.safe_dump(spec(objective=0.999)))
    assert main(["slo", "generate", str(bad)]) == 2
    assert "did you mean 99.9?" in capsys.readouterr().err


@pytest.mark.live
@pytest.mark.timeout(120)
def test_the_lab_loads_the_slo_rules_and_a_burst_pages(shared_lab: Any) -> None:
    import time

    def recorded() -> int:
        got = shared_lab.query("count(slo:sli_error:ratio_rate10s)")
        return int(float(got[0]["value"][1])) if got else 0

    deadline = time.monotonic() + 40
    while recorded() < 14:  # availability and latency: 1 for the fleet + 6 nodes each
        assert time.monotonic() < deadline, f"only {recorded()} SLI series recorded"
        time.sleep(0.5)
    shared_lab.inject(5, "error_burst", 60)
    try:
        query = 'ALERTS{alertname="NodeAvailabilityBudgetBurn", node="5", sloth_severity="page", alertstate="firing"}'
        deadline = time.monotonic() + 60
        while not shared_lab.query(query):
            assert time.monotonic() < deadline, "the page alert did not fire"
            time.sleep(0.5)
    finally:
        shared_lab.recover(5)


@pytest.mark.parametrize("name", sorted(slo_spec.PROFILES))
def test_scoring_reads_the_generated_rules_as_prometheus_would_from_the_file(name: str) -> None:
    """Scoring takes the generated document as it is (no YAML round trip); the rules must be
    the very ones the rendered rule file gives."""
    from labkit import score
    from labkit.alert_replay import parse_rules

    prof = slo_spec.profile(name)
    rendered = parse_rules(slo_spec.render(slo_spec.load(slo_spec.LAB_SPEC), prof, "edge.yml"))
    assert score.rule_sets(1.0, name)[f"slo:{name}"] == rendered
    assert len(rendered) == 8 and all(r.expr != r.original for r in rendered)  # records inlined
