"""SLO specs (Sloth's format): every field honoured or refused naming it, lab profiles and
periods, and the rules they generate, checked with promtool (`check rules`, and the generated
`test rules` cases). Sloth's own examples and outputs: tests/test_slo_conformance.py."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from labkit import slo_spec
from labkit.cli import main
from labkit.errors import DocumentError, InvalidInput
from tests.conftest import REPO

SPEC = REPO / "slo/edge.yml"


def spec(**changes: Any) -> dict[str, Any]:
    """The lab's spec with its first SLO changed: `alerting__name="X"` sets a nested field,
    None removes it."""
    doc = yaml.safe_load(SPEC.read_text())
    slo = doc["slos"][0]
    for path, value in changes.items():
        target = slo
        *parents, last = path.split("__")
        for p in parents:
            target = target.setdefault(p, {})
        if value is None:
            del target[last]
        else:
            target[last] = value
    return doc


def rules_of(doc: dict[str, Any], prof: str = "production", **options: Any) -> list[dict[str, Any]]:
    """The groups generated from a decoded spec."""
    opts = slo_spec.Options(**options)
    return slo_spec.generate(slo_spec.parse(doc), slo_spec.profile(prof), opts)["groups"]


def alerts_of(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for g in groups for r in g["rules"] if "alert" in r]


def promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    assert tool, "promtool is missing: `make test` installs it (prometheus)"
    return subprocess.run([tool, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


# -- refusals: each names its field, the value and what is allowed ----------------------------


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"objective": 0.999}, "slos[0].objective", ["did you mean 99.9?"]),
        ({"objective": 100}, "slos[0].objective", ["between 0 and 100", "no error budget"]),
        ({"objective": "99.9"}, "slos[0].objective", ["a number", "not a string"]),
        ({"objective": None}, "slos[0].objective", ["present"]),
        ({"objective": float("nan")}, "slos[0].objective", ["finite"]),
        ({"sli__events__error_query": "sum(rate(x[5m]))"}, "slos[0].sli.events.error_query", ["{{.window}}"]),
        ({"sli__events__error_query": "sum(rate(x[{{.window}}])"}, "slos[0].sli.events.error_query", ["balanced", "'(' is not closed"]),
        ({"sli__events__error_query": 'sum(rate(x{a="b}[{{.window}}]))'}, "slos[0].sli.events.error_query", ["not closed"]),
        ({"sli__events__error_query": "sum(rate(x[{{.window}}])) {{.other}}"}, "slos[0].sli.events.error_query", ["only template action"]),
        ({"sli__events__total_query": 'sum(rate(node_requests_total{status="error"}[{{.window}}]))'}, "slos[0].sli.events.total_query", ["other than error_query"]),
        ({"sli": {"plugin": {"id": "x", "options": {}}}}, "slos[0].sli.plugin", ["no Sloth plugin", "'x'"]),
        ({"sli": {"events": {"error_query": "a[{{.window}}]", "total_query": "b[{{.window}}]"}, "raw": {"error_ratio_query": "c[{{.window}}]"}}}, "slos[0].sli", ["one SLI type"]),
        ({"sli": {"evnts": {}}}, "slos[0].sli.evnts", ["Did you mean events?"]),
        ({"sli": None}, "slos[0].sli", ["a mapping"]),
        ({"name": 'avail"ability'}, "slos[0].name", ["Sloth's rule"]),
        ({"name": "a\\b"}, "slos[0].name", ["Sloth's rule"]),
        ({"name": "disponibilité"}, "slos[0].name", ["Sloth's rule"]),
        ({"name": 42}, "slos[0].name", ["a non-empty string", "not a number"]),
        ({"alerting__name": "Edge Budget!"}, "slos[0].alerting.name", ["an alert name"]),
        ({"alerting__page_alert__disable": "yes"}, "slos[0].alerting.page_alert.disable", ["true or false", "not a string"]),
        ({"alerting__ticket_alert__disable": 1}, "slos[0].alerting.ticket_alert.disable", ["true or false"]),
        ({"alerting__page_alert": "yes"}, "slos[0].alerting.page_alert", ["a mapping"]),
        ({"alerting__page_alert__labels": ["severity", "critical"]}, "slos[0].alerting.page_alert.labels", ["a mapping"]),
        ({"alerting__labels__category": ["a", "b"]}, "slos[0].alerting.labels.category", ["a string", "not a list"]),
        ({"alerting__labels__sloth_severity": "x"}, "slos[0].alerting.labels.sloth_severity", ["sloth_* labels"]),
        ({"alerting__labels__bad-name": "x"}, "slos[0].alerting.labels", ["a label name"]),
        ({"alerting__annotations__summary": "{{ if $value }}x{{ end }}"}, "slos[0].alerting.annotations.summary", ["template", "'if'"]),
        ({"alerting__annotations__summary": "burning {{ $labels.node"}, "slos[0].alerting.annotations.summary", ["not closed"]),
        ({"alerting__page_alert__annotations__runbook": "{{ $nope }}"}, "slos[0].alerting.page_alert.annotations.runbook", ["not a variable"]),
        ({"alerting__page_alert__lables": {}}, "slos[0].alerting.page_alert.lables", ["Did you mean labels?"]),
        ({"labels": "team=sre"}, "slos[0].labels", ["a mapping"]),
        ({"labels": {"team": ""}}, "slos[0].labels.team", ["non-empty"]),
        ({"labels": {"__name__": "x"}}, "slos[0].labels.__name__", ["a label name"]),
        ({"objectve": 99.9}, "slos[0].objectve", ["Did you mean objective?"]),
        ({"plugins": {"chain": [{"id": "sloth.dev/contrib/info_labels/v1"}]}}, "slos[0].plugins", ["no Sloth plugin", "info_labels"]),
        ({"interval": {"all": "5m"}}, "slos[0].interval", ["no rule group intervals"]),
        ({"description": ["a"]}, "slos[0].description", ["a string"]),
    ],
)  # fmt: skip
def test_spec_errors_name_the_field_the_value_and_what_is_allowed(
    changes: dict[str, Any], field: str, words: list[str]
) -> None:
    with pytest.raises(InvalidInput) as err:
        slo_spec.parse(spec(**changes))
    assert err.value.field == field
    for word in words:
        assert word in str(err.value)


@pytest.mark.parametrize(
    ("top", "field", "words"),
    [
        ({"version": "sloth/v1"}, "version", ['"prometheus/v1"']),
        ({"slos": []}, "slos", ["at least one SLO"]),
        ({"slos": {"a": 1}}, "slos", ["a list"]),
        ({"service": 'ed"ge'}, "service", ["Sloth's rule"]),
        ({"service": None}, "service", ["present"]),
        ({"labels": {"owner": [1]}}, "labels.owner", ["not a list"]),
        ({"slo_plugins": {"chain": [{"id": "sloth.dev/core/debug/v1"}]}}, "slo_plugins", ["no Sloth plugin"]),
        ({"sevice": "edge"}, "sevice", ["Did you mean service?"]),
    ],
)  # fmt: skip
def test_the_spec_level_fields_are_checked(
    top: dict[str, Any], field: str, words: list[str]
) -> None:
    doc = {**spec(), **top}
    if top.get("service", "") is None:
        del doc["service"]
    with pytest.raises(InvalidInput) as err:
        slo_spec.parse(doc)
    assert err.value.field == field
    for word in words:
        assert word in str(err.value)
    with pytest.raises(InvalidInput, match="a mapping"):
        slo_spec.parse(["not", "a", "spec"])


def test_two_slos_with_one_name_are_refused_in_a_file_and_across_its_documents(
    tmp_path: Path,
) -> None:
    doc = spec()
    doc["slos"].append(dict(doc["slos"][0]))
    with pytest.raises(InvalidInput) as err:
        slo_spec.parse(doc)
    assert err.value.field == "slos[4].name" and "slos[0].name has it" in str(err.value)
    twice = tmp_path / "twice.yml"
    twice.write_text(yaml.safe_dump(spec()) + "---\n" + yaml.safe_dump(spec()))
    with pytest.raises(InvalidInput) as err:
        slo_spec.load(twice)
    assert err.value.field == "document 2: slos[0].name"
    assert "document 1: slos[0].name has it" in str(err.value)


def test_load_names_the_file_and_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    text = SPEC.read_text().replace("      page_alert: {labels: {severity: critical}}",
                                    "      page_alert: {disable: 'yes'}", 1)  # fmt: skip
    bad.write_text(text)
    line = text.splitlines().index("      page_alert: {disable: 'yes'}") + 1
    with pytest.raises(InvalidInput) as err:
        slo_spec.load(bad)
    assert str(err.value).startswith(f"{bad}: line {line}: slos[0].alerting.page_alert.disable")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"version: prometheus/v1\nservice: \xff\xfe\n", ["not UTF-8", "offset 32"]),
        (b"\xff\xfeversion", ["UTF-16"]),
        (b"a: &x [1]\nb: *x\n", ["alias"]),
        (b"version: prometheus/v1\nversion: prometheus/v1\n", ["twice"]),
        (b"[" * 100 + b"]" * 100, ["nests deeper"]),
        (b"version: [unclosed\n", ["not valid YAML"]),
    ],
)
def test_files_labkit_will_not_read_exit_2_with_the_reason(
    content: bytes, words: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_bytes(content)
    with pytest.raises(DocumentError):
        slo_spec.load(bad)
    out = tmp_path / "rules.yml"
    assert main(["slo", "generate", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert all(w in err for w in words) and "Traceback" not in err and not out.exists()


@pytest.mark.parametrize(
    "sli",
    [
        {"events": {"error_query": "sum(rate(x[{{.window}}])) +", "total_query": "sum(rate(y[{{.window}}]))"}},
        {"raw": {"error_ratio_query": "avg_over_time(x[{{.window}}]) by (node)"}},
    ],
)  # fmt: skip
def test_a_query_promtool_refuses_exits_2_naming_the_slo(
    sli: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad, out = tmp_path / "bad.yml", tmp_path / "rules.yml"
    doc = spec()
    doc["slos"].append({**spec(sli=sli)["slos"][0], "name": "broken"})
    bad.write_text(yaml.safe_dump(doc))
    assert main(["slo", "generate", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: slos[4].sli must be queries that are PromQL" in err
    query = next(iter(next(iter(sli.values())).values()))
    assert repr(query) in err  # the query it wrote, not only promtool's view of the rule
    assert "could not parse expression" in err and not out.exists()


def test_a_problem_in_a_later_document_names_its_own_line(tmp_path: Path) -> None:
    one = yaml.safe_dump(spec(), sort_keys=False)
    two = one.replace("service: edge", "service: edge2").replace(
        "objective: 99.9", "objectiv: 99.9", 1
    )
    path = tmp_path / "multi.yml"
    path.write_text(one + "---\n" + two)
    line = (one + "---\n" + two).splitlines().index("  objectiv: 99.9") + 1
    with pytest.raises(InvalidInput) as err:
        slo_spec.load(path)
    message = str(err.value)
    assert message.startswith(f"{path}: line {line}: document 2: slos[0].objectiv must be a key")
    assert "Did you mean objective?" in message
    assert "plugins" not in message and "interval" not in message  # refused, never offered


def test_a_missing_spec_and_a_bad_flag_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["slo", "generate", str(tmp_path / "nope.yml")]) == 2
    assert "SPEC must be a readable file" in capsys.readouterr().err
    for flags, words in (
        (["-l", "team"], "--extra-labels must be KEY=VALUE"),
        (["-l", "sloth_id=x"], "sloth_* labels"),
        (["-l", "bad-name=x"], "a label name"),
        (["--profile", "fortnight"], "profile must be one of production, lab-day"),
        (["--windows", str(SPEC)], "sloth.slok.dev/v1"),
        (["--disable-alerts", "--tests", str(tmp_path / "t.yml")], "--tests must be absent"),
        (["--out", str(tmp_path)], "--out must be a writable file"),
    ):
        assert main(["slo", "generate", str(SPEC), *flags]) == 2, flags
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err, (flags, err)
    assert not (tmp_path / "t.yml").exists()


# -- what the rules say ---------------------------------------------------------------------


def test_sloths_three_groups_per_slo_with_sloths_names() -> None:
    groups = rules_of(spec())
    ids = [f"edge-{s.name}" for s in slo_spec.parse(spec())]
    assert [g["name"] for g in groups] == [
        f"sloth-slo-{kind}-{i}"
        for i in ids
        for kind in ("sli-recordings", "meta-recordings", "alerts")
    ]
    meta = [r["record"] for r in groups[1]["rules"]]
    assert meta == [
        "slo:objective:ratio", "slo:error_budget:ratio", "slo:time_period:days",
        "slo:current_burn_rate:ratio", "slo:period_burn_rate:ratio",
        "slo:period_error_budget_remaining:ratio", "sloth_slo_info",
    ]  # fmt: skip
    info = groups[1]["rules"][-1]["labels"]
    assert info["sloth_objective"] == "99.9" and info["sloth_spec"] == "prometheus/v1"
    assert info["sloth_mode"] == "cli-gen-prom" and info["sloth_version"] == "labkit"
    current = groups[1]["rules"][3]["expr"]
    assert (
        current.startswith("slo:sli_error:ratio_rate5m{") and "slo:error_budget:ratio{" in current
    )


def test_the_disable_flags_drop_their_alert_and_both_drop_the_group() -> None:
    page_only = alerts_of(rules_of(spec(alerting__ticket_alert__disable=True)))
    assert [
        a["labels"]["sloth_severity"] for a in page_only if "edge-availability" in a["expr"]
    ] == ["page"]
    groups = rules_of(
        spec(alerting__ticket_alert__disable=True, alerting__page_alert__disable=True)
    )
    assert "sloth-slo-alerts-edge-availability" not in [g["name"] for g in groups]
    assert len(groups) == 3 * 4 - 1
    assert not alerts_of(rules_of(spec(), alerts=False))
    assert not [r for g in rules_of(spec(), recordings=False) for r in g["rules"] if "record" in r]


def test_per_alert_labels_and_annotations_and_sloths_default_templates() -> None:
    doc = spec(
        alerting__annotations={"runbook": "https://runbooks/edge"},
        alerting__page_alert={"labels": {"severity": "critical", "team": "pager"},
                              "annotations": {"summary": "{{ $labels.sloth_slo }} pages"}},
        alerting__ticket_alert={"labels": {"severity": "warning"}},
    )  # fmt: skip
    page, ticket = alerts_of(rules_of(doc))[:2]
    assert page["labels"] == {"category": "availability", "severity": "critical", "team": "pager",
                              "sloth_severity": "page"}  # fmt: skip
    assert ticket["labels"] == {"category": "availability", "severity": "warning",
                                "sloth_severity": "ticket"}  # fmt: skip
    assert page["annotations"] == {
        "runbook": "https://runbooks/edge",
        "summary": "{{ $labels.sloth_slo }} pages",
        "title": "(page) {{$labels.sloth_service}} {{$labels.sloth_slo}} SLO error budget burn rate is too fast.",
    }
    assert ticket["annotations"] == {
        "runbook": "https://runbooks/edge",
        "summary": "{{$labels.sloth_service}} {{$labels.sloth_slo}} SLO error budget burn rate is over expected.",
        "title": "(ticket) {{$labels.sloth_service}} {{$labels.sloth_slo}} SLO error budget burn rate is too fast.",
    }


def test_labels_of_every_kind_land_where_sloth_puts_them() -> None:
    doc = spec(labels={"tier": 2, "generated": True, "le": 0.5}, infoLabels={"owner_team": "sre"})
    groups = rules_of(doc, extra_labels={"cmd": "x"})
    sli, meta = groups[0]["rules"], groups[1]["rules"]
    for rule in [*sli, *meta]:
        assert rule["labels"]["tier"] == "2" and rule["labels"]["generated"] == "true"
        assert rule["labels"]["le"] == "0.5" and rule["labels"]["cmd"] == "x"
        assert rule["labels"]["owner"] == "sre-lab"  # the spec's own labels
    assert meta[-1]["labels"]["owner_team"] == "sre"  # infoLabels: sloth_slo_info only
    assert all("owner_team" not in r["labels"] for r in [*sli, *meta[:-1]])
    assert all("cmd" not in a["labels"] and "tier" not in a["labels"] for a in alerts_of(groups))


def test_a_raw_sli_is_recorded_as_its_error_ratio_query() -> None:
    query = "1 - avg_over_time(good_ratio[{{.window}}])"
    groups = rules_of(spec(sli={"raw": {"error_ratio_query": query}}))
    assert groups[0]["rules"][0]["expr"] == "(1 - avg_over_time(good_ratio[5m]))"
    assert groups[0]["rules"][6]["expr"] == "(1 - avg_over_time(good_ratio[3d]))"


def test_sloths_window_placeholder_may_have_spaces() -> None:
    groups = rules_of(spec(sli__events__error_query="sum(rate(x[{{ .window }}]))"))
    assert groups[0]["rules"][1]["expr"].startswith("(sum(rate(x[30m])))")


def test_the_period_ratio_is_sloths_in_production_and_a_subquery_for_the_lab() -> None:
    production = rules_of(spec())[0]["rules"][-1]
    assert production["record"] == "slo:sli_error:ratio_rate30d"
    assert "[30d])" in production["expr"] and "[30d:" not in production["expr"]
    lab_day = rules_of(spec(), "lab-day")[0]["rules"][-1]
    assert lab_day["record"] == "slo:sli_error:ratio_rate1d" and "[1d:10s])" in lab_day["expr"]
    groups = slo_spec.generate(slo_spec.parse(spec()), slo_spec.profile("production", lab=True))
    assert "[30d:5m])" in groups["groups"][0]["rules"][-1]["expr"]  # `labkit up` under production


def test_multi_line_expressions_are_yaml_block_scalars() -> None:
    text = slo_spec.render(slo_spec.load(SPEC), slo_spec.profile("production"), "edge.yml")
    assert (
        '    expr: |\n      (sum(rate(node_requests_total{status="error"}[5m])))\n      /\n' in text
    )
    assert "&id" not in text and "*id" not in text  # no YAML anchors: each rule reads alone
    assert yaml.safe_load(text) == slo_spec.generate(
        slo_spec.load(SPEC), slo_spec.profile("production")
    )


def test_a_multi_document_spec_makes_one_rule_file(tmp_path: Path) -> None:
    second = spec()
    second["service"] = "edge2"
    path = tmp_path / "two.yml"
    path.write_text(yaml.safe_dump(spec()) + "---\n" + yaml.safe_dump(second))
    slos = slo_spec.load(path)
    assert [s.service for s in slos] == ["edge"] * 4 + ["edge2"] * 4


# -- profiles and periods --------------------------------------------------------------------


def test_profiles_scale_every_window_and_refuse_windows_under_4_scrapes() -> None:
    day = slo_spec.profile("lab-day")
    assert [slo_spec.duration(day.window(w)) for w in slo_spec.WINDOWS] == [
        "10s", "1m", "2m", "4m", "12m", "48m", "2h24m",
    ]  # fmt: skip
    production = slo_spec.profile("production")
    assert [slo_spec.duration(production.window(w)) for w in slo_spec.WINDOWS] == [
        "5m", "30m", "1h", "2h", "6h", "1d", "3d",
    ]  # fmt: skip
    with pytest.raises(InvalidInput) as err:
        slo_spec.profile("1h")
    assert (
        "0.417 s" in str(err.value)
        and "4 scrape intervals" in str(err.value)
        and "9h36m" in str(err.value)
    )
    assert slo_spec.profile("9h36m").window(300) == pytest.approx(4.0)


def test_a_period_and_a_profile_are_two_knobs() -> None:
    from labkit import slo_windows

    windows = slo_windows.google(slo_windows.parse_period("28d"))
    day = slo_spec.profile("lab-day", windows)
    assert day.scale == pytest.approx(1 / 28) and day.lab
    assert [f for p in day.alert_windows.values() for _, _, f in p] == pytest.approx(
        [2 * 28 * 24 / 100 / 1, 5 * 28 * 24 / 100 / 6, 10 * 28 / 100, 10 * 28 / 100 / 3]
    )
    production = slo_spec.profile("production", windows)
    assert production.period_seconds == 28 * 86400 and production.scale == 1 and not production.lab
    groups = slo_spec.generate(slo_spec.parse(spec()), day)["groups"]
    assert groups[0]["rules"][-1]["record"] == "slo:sli_error:ratio_rate1d"
    assert groups[1]["rules"][2]["expr"] == "vector(1)"  # the period lasts 1 day in the lab
    assert "(13.44 * 0.001)" in alerts_of(groups)[0]["expr"]


# -- promtool --------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["production", "lab-day"])
def test_generated_rules_pass_promtool_and_their_generated_tests(
    profile: str, tmp_path: Path
) -> None:
    rules, tests = tmp_path / "rules.yml", tmp_path / "tests.yml"
    args = [
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
    assert main(args) == 0
    check = promtool("check", "rules", str(rules))
    assert check.returncode == 0 and "68 rules found" in check.stdout, check.stdout + check.stderr
    cases = yaml.safe_load(tests.read_text())["tests"]
    assert len(cases) == 4 * 4  # per SLO: page fires, ticket fires, two silent cases
    assert sum(bool(c["alert_rule_test"][0]["exp_alerts"]) for c in cases) == 8
    run = promtool("test", "rules", str(tests), cwd=tmp_path)
    assert run.returncode == 0 and "SUCCESS" in run.stdout, run.stdout + run.stderr


def test_written_files_are_readable_as_any_new_file_or_keep_their_mode(tmp_path: Path) -> None:
    fresh, kept = tmp_path / "fresh.yml", tmp_path / "kept.yml"
    kept.write_text("old")
    kept.chmod(0o640)
    mask = os.umask(0o022)
    try:
        assert main(["slo", "generate", str(SPEC), "--out", str(fresh)]) == 0
        assert main(["slo", "generate", str(SPEC), "--out", str(kept)]) == 0
    finally:
        os.umask(mask)
    assert fresh.stat().st_mode & 0o777 == 0o644  # Prometheus' own user can read it
    assert kept.stat().st_mode & 0o777 == 0o640 and kept.read_text() != "old"


def test_generated_tests_follow_disabled_alerts_and_templates(tmp_path: Path) -> None:
    doc = spec(
        alerting__ticket_alert__disable=True,
        alerting__page_alert__annotations={
            "summary": "{{ $labels.sloth_slo }} of {{$labels.owner}}"
        },
    )
    rules, tests = tmp_path / "rules.yml", tmp_path / "tests.yml"
    slos = slo_spec.parse(doc)[:1]
    rules.write_text(slo_spec.render(slos, slo_spec.profile("lab-day"), "x"))
    made = slo_spec.generate_tests(slos, slo_spec.profile("lab-day"), str(rules))
    tests.write_text(slo_spec.dump_tests(made))
    names = [c["name"] for c in made["tests"]]
    assert any("ticket stays silent (disabled)" in n for n in names)
    fired = [c for c in made["tests"] if c["alert_rule_test"][0]["exp_alerts"]]
    assert (
        fired[0]["alert_rule_test"][0]["exp_alerts"][0]["exp_annotations"]["summary"]
        == "availability of sre-lab"
    )
    run = promtool("test", "rules", str(tests), cwd=tmp_path)
    assert run.returncode == 0 and "SUCCESS" in run.stdout, run.stdout + run.stderr
    with pytest.raises(InvalidInput, match="for --tests"):
        slo_spec.generate_tests(
            slo_spec.parse(spec(alerting__annotations={"v": "{{ $value | humanize }}"})),
            slo_spec.profile("lab-day"), "r.yml",
        )  # fmt: skip


def test_names_and_values_with_quotes_backslashes_and_unicode_pass_promtool(tmp_path: Path) -> None:
    doc = spec(
        labels={"team": 'S"R\\E ☃ \n two lines'},
        alerting__labels={"route": 'a"b\\c ☃'},
        alerting__annotations={
            "summary": 'He said "{{ $labels.sloth_slo }}" \\ ☃',
            "note": '{{ "{{" }}',
        },
    )
    rules = tmp_path / "rules.yml"
    rules.write_text(slo_spec.render(slo_spec.parse(doc), slo_spec.profile("lab-day"), "x"))
    check = promtool("check", "rules", str(rules))
    assert check.returncode == 0 and "SUCCESS" in check.stdout, check.stdout + check.stderr
    assert (
        yaml.safe_load(rules.read_text())["groups"][0]["rules"][0]["labels"]["team"]
        == 'S"R\\E ☃ \n two lines'
    )


def test_the_page_alert_reads_both_windows_of_each_pair() -> None:
    rules = slo_spec.generate(slo_spec.load(SPEC)[:1], slo_spec.profile("lab-day"))
    page = next(a for a in alerts_of(rules["groups"]) if a["labels"]["sloth_severity"] == "page")
    for window in ("10s", "2m", "1m", "12m"):  # 5m/1h and 30m/6h, scaled by 1/30
        assert f"slo:sli_error:ratio_rate{window}" in page["expr"]
    assert "> (14.4 * 0.001))" in page["expr"] and "> (6 * 0.001))" in page["expr"]
    assert page["labels"]["severity"] == "critical"


def test_cli_help_documents_the_spec_the_knobs_and_bad_specs_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["slo", "generate", "--help"])
    assert done.value.code == 0
    help_text = capsys.readouterr().out
    for words in ("version: prometheus/v1", "{{.window}}", "lab-day", "--period", "--profile",
                  "--extra-labels", "--disable-alerts", "--windows", "2, 5, 10, 10 %"):  # fmt: skip
        assert words in help_text, words
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

    prof = slo_spec.profile(name, lab=True)
    rendered = parse_rules(slo_spec.render(slo_spec.load(slo_spec.LAB_SPEC), prof, "edge.yml"))
    assert score.rule_sets(1.0, name)[f"slo:{name}"] == rendered
    assert len(rendered) == 8 and all(r.expr != r.original for r in rendered)  # records inlined


def test_a_big_lab_builds_its_windows_from_10s_tiles(tmp_path: Path) -> None:
    """Above 100 nodes, every events SLO records its error and total rates over the base
    window (10 s) every 10 s, and in the same group every longer window up to 48m as the
    ratio of those tiles' sums; 2h24m and the period, from the tiles too, every 30 s (Sloth's
    rule_intervals, window by window); the base window stays Sloth's rate over the raw
    series, every second; a raw_query SLO is never tiled; promtool accepts the file."""
    from labkit.slo_rules import Options, generate, tile_record
    from labkit.stack import LabConfig, rule_tiers, tiled

    assert rule_tiers(LabConfig(nodes=12)) == () and rule_tiers(LabConfig(nodes=100)) == ()
    assert not tiled(LabConfig(nodes=100)) and tiled(LabConfig(nodes=101))
    big = LabConfig(nodes=1000)
    slos = slo_spec.load(slo_spec.LAB_SPEC)
    prof = slo_spec.profile("lab-day", lab=True)
    plain = generate(slos, prof)
    doc = generate(slos, prof, Options(tiers=rule_tiers(big), tiles=tiled(big)))
    sli = {g["name"].removeprefix("sloth-slo-").removesuffix("-edge-node-availability"):
           (g.get("interval"), [r["record"].split(":")[1] + "/" + r["labels"]["sloth_window"]
                                for r in g["rules"]])
           for g in doc["groups"] if "sli-" in g["name"] and "edge-node-availability" in g["name"]}  # fmt: skip
    assert sli == {
        "sli-tiles": ("10s", ["sli_errors/10s", "sli_total/10s", "sli_error/1m", "sli_error/2m",
                              "sli_error/4m", "sli_error/12m", "sli_error/48m"]),
        "sli-recordings": (None, ["sli_error/10s"]),
        "sli-recordings-edge-node-availability-every-30s": ("30s", ["sli_error/2h24m", "sli_error/1d"]),
    }  # fmt: skip
    # everything else as Sloth writes it, at the global interval
    rest = [g for g in doc["groups"] if "-sli-" not in g["name"]]
    assert rest == [g for g in plain["groups"] if "-sli-" not in g["name"]]
    tiles = {g["name"]: g for g in doc["groups"] if "-tiles-" in g["name"]}
    assert sorted(tiles) == [f"sloth-slo-sli-tiles-edge-{s}" for s in
                             ("availability", "latency", "node-availability", "node-latency")]  # fmt: skip
    node = tiles["sloth-slo-sli-tiles-edge-node-availability"]
    assert [(r["record"], r["expr"]) for r in node["rules"][:2]] == [
        (
            "slo:sli_errors:rate10s",
            'sum by (node) (rate(node_requests_total{status="error"}[10s]))',
        ),
        ("slo:sli_total:rate10s", "sum by (node) (rate(node_requests_total[10s]))"),
    ]
    exprs = {r["labels"]["sloth_window"]: r["expr"] for g in doc["groups"] for r in g["rules"]
             if "sli-" in g["name"] and "edge-node-availability" in g["name"]}  # fmt: skip
    assert "rate(node_requests_total" in exprs["10s"] and "sum_over_time" not in exprs["10s"]
    sel = '{sloth_id="edge-node-availability", sloth_service="edge", sloth_slo="node-availability"}'
    for window in ("1m", "2m", "4m", "12m", "48m", "2h24m", "1d"):
        assert exprs[window] == (
            f"sum_over_time({tile_record('errors', '10s')}{sel}[{window}])\n/\n"
            f"sum_over_time({tile_record('total', '10s')}{sel}[{window}])\n"
        )
    raw = slo_spec.parse(
        {"version": "prometheus/v1", "service": "svc", "slos": [{"name": "raw", "objective": 99,
         "sli": {"raw": {"error_ratio_query": "avg_over_time(x[{{.window}}])"}},
         "alerting": {"page_alert": {"disable": True}, "ticket_alert": {"disable": True}}}]},
        "raw.yml",
    )  # fmt: skip
    untiled = generate(raw, prof, Options(tiles=True))
    assert not any("-tiles-" in g["name"] for g in untiled["groups"])
    assert "sum_over_time(slo:sli_errors" not in slo_spec.dump(untiled)
    rules = tmp_path / "tiles.yml"
    rules.write_text(slo_spec.dump(doc))
    check = promtool("check", "rules", str(rules))
    assert check.returncode == 0, check.stdout + check.stderr
