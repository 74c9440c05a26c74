"""`labkit slo generate` against Sloth itself: for every Sloth example and integration-test
spec (tests/data/sloth, see its README), the rules labkit generates equal Sloth's, or labkit
refuses the spec on purpose with a message naming the field.

"Equal" is semantic, after exactly these normalisations, applied to both sides alike:
- expressions are compared token by token, so whitespace and line breaks do not count;
- a parenthesised operation on two numbers is folded, and numbers are compared to 1e-9
  relative: Sloth writes float noise where labkit writes decimals (`vector(1-0.9990000000000001)`
  and `(14.4 * 0.0009999999999999432)` against `vector(0.001)` and `(14.4 * 0.001)`);
- `sloth_version` on sloth_slo_info is dropped: Sloth writes its own version, labkit
  `labkit` (labkit is not Sloth; `sloth_mode` is kept and equal, cli-gen-prom);
- Sloth's multi-document output (one YAML document per spec document) is read as one list
  of groups: labkit writes them into one document, the only one Prometheus reads.
Group names and order, rule names and order, labels and annotations are compared as they are.
Every accepted spec's rules also pass `promtool check rules`.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from labkit import slo_spec, slo_windows
from labkit.cli import main
from labkit.errors import InvalidInput
from tests.conftest import REPO

DATA = REPO / "tests/data/sloth"
EXAMPLES_LABELS = ["-l", "cmd=examplesgen.sh"]  # what Sloth's examplesgen.sh adds

#: (spec, Sloth's output, labkit's flags): accepted, and equal to Sloth's output.
ACCEPTED = [
    ("examples/getting-started.yml", "generated/getting-started.yml", EXAMPLES_LABELS),
    ("examples/no-alerts.yml", "generated/no-alerts.yml", EXAMPLES_LABELS),
    ("examples/raw-home-wifi.yml", "generated/raw-home-wifi.yml", EXAMPLES_LABELS),
    ("examples/multifile.yml", "generated/multifile.yml", EXAMPLES_LABELS),
    ("integration/in-base.yaml", "integration/out-base.yaml.tpl", []),
    ("integration/in-base.yaml", "integration/out-base-extra-labels.yaml.tpl",
     ["-l", "exk1=exv1", "--extra-labels", "exk2=exv2"]),
    ("integration/in-base.yaml", "integration/out-base-no-alerts.yaml.tpl", ["--disable-alerts"]),
    ("integration/in-multifile.yaml", "integration/out-multifile.yaml.tpl", []),
]  # fmt: skip

#: (spec, the field the refusal names, words of its reason): refused on purpose.
REFUSED = [
    ("examples/plugin-getting-started.yml", "slos[0].sli.plugin", "getting_started_availability"),
    ("examples/slo-plugin-getting-started.yml", "slo_plugins", "sloth.dev/core/debug/v1"),
    ("examples/contrib-slo-plugins.yml", "slos[0].plugins", "sloth.dev/contrib/info_labels/v1"),
    ("examples/victoria-metrics.yml", "slo_plugins",
     "sloth.dev/contrib/validate_victoria_metrics/v1"),
    ("integration/in-invalid-version.yaml", "version", "prometheus/v999"),
]  # fmt: skip


def test_every_reference_spec_is_either_accepted_or_refused() -> None:
    specs = {p.relative_to(DATA).as_posix() for p in DATA.glob("*/*.y*ml")}
    specs -= {p for p in specs if p.startswith(("generated/", "integration/out-"))}
    assert specs == {s for s, _, _ in ACCEPTED} | {s for s, _, _ in REFUSED}


# -- reading both sides ----------------------------------------------------------------------


def sloth_groups(path: Path) -> list[dict[str, Any]]:
    """Sloth's output, its Go-template placeholders rendered (tests/data/sloth/README.md)."""
    text = path.read_text()
    text = re.sub(r'\{\{"(.*?)"\}\}', r"\1", text).replace("{{ .version }}", "v0.0.0-test")
    return [g for doc in yaml.safe_load_all(text) if doc for g in doc["groups"]]


_TOKEN = re.compile(
    r'\s*("(?:[^"\\]|\\.)*"|\d+(?:ms|[smhdwy])(?:\d+(?:ms|[smhdwy]))*\b'
    r"|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|[A-Za-z_:][\w:]*|=~|!~|!=|==|>=|<=|\S)"
)


def tokens(expr: str) -> list[str | float]:
    """An expression's tokens, numbers as floats, then `( number op number )` folded."""
    out: list[str | float] = []
    for tok in _TOKEN.findall(expr):
        out.append(float(tok) if re.fullmatch(r"\d+(\.\d+)?([eE][+-]?\d+)?", tok) else tok)
    folded: list[str | float] = []
    for tok in out:
        folded.append(tok)
        tail = folded[-5:]
        if (len(tail) == 5 and tail[0] == "(" and tail[4] == ")" and tail[2] in ("-", "*")
                and isinstance(tail[1], float) and isinstance(tail[3], float)):  # fmt: skip
            value = tail[1] - tail[3] if tail[2] == "-" else tail[1] * tail[3]
            folded[-5:] = ["(", value, ")"]
    return folded


def same_expr(a: str, b: str) -> bool:
    ta, tb = tokens(a), tokens(b)
    return len(ta) == len(tb) and all(
        math.isclose(x, y, rel_tol=1e-9) if isinstance(x, float) and isinstance(y, float)
        else x == y
        for x, y in zip(ta, tb, strict=True)
    )  # fmt: skip


def comparable(rule: dict[str, Any]) -> dict[str, Any]:
    labels = {k: v for k, v in (rule.get("labels") or {}).items() if k != "sloth_version"}
    return {
        "name": rule.get("record") or rule.get("alert"),
        "kind": "record" if "record" in rule else "alert",
        "labels": labels,
        "annotations": rule.get("annotations") or {},
    }


def assert_same_groups(ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> None:
    assert [g["name"] for g in ours] == [g["name"] for g in theirs]
    for mine, sloth in zip(ours, theirs, strict=True):
        assert set(mine) == set(sloth), mine["name"]  # no interval, no other field, on either side
        assert [comparable(r) for r in mine["rules"]] == [comparable(r) for r in sloth["rules"]]
        for a, b in zip(mine["rules"], sloth["rules"], strict=True):
            assert same_expr(a["expr"], b["expr"]), (mine["name"], a["expr"], b["expr"])


def promtool_check(path: Path) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    assert tool, "promtool is missing: `make test` installs it (prometheus)"
    return subprocess.run([tool, "check", "rules", str(path)], capture_output=True, text=True,
                          timeout=60)  # fmt: skip


# -- accepted specs --------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "expected", "flags"), ACCEPTED, ids=lambda v: str(v))
def test_accepted_specs_generate_sloths_rules_and_pass_promtool(
    spec: str, expected: str, flags: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "rules.yml"
    assert main(["slo", "generate", str(DATA / spec), "--out", str(out), *flags]) == 0
    ours = yaml.safe_load(out.read_text())["groups"]
    assert_same_groups(ours, sloth_groups(DATA / expected))
    check = promtool_check(out)
    assert check.returncode == 0, check.stdout + check.stderr
    alerts = [(r["alert"], sorted(r["labels"].items())) for g in ours for r in g["rules"]
              if "alert" in r]  # fmt: skip
    twins = [a for a in alerts if alerts.count(a) > 1]
    if twins:
        # SLOs of two services with one alert name and the same static labels (the multifile
        # specs): promtool's lint warns of duplicates (exit 0); each expression reads its SLO
        assert f"lint error {len(twins) // 2} duplicate rule(s) found" in check.stderr
    else:
        assert f"SUCCESS: {sum(len(g['rules']) for g in ours)} rules found" in check.stdout


def test_the_comparison_itself_sees_a_difference() -> None:
    """The normalisation is not so loose that different rules pass for equal."""
    theirs = sloth_groups(DATA / "generated/getting-started.yml")
    ours = slo_spec.generate(slo_spec.load(DATA / "examples/getting-started.yml"),
                             slo_spec.profile("production"),
                             slo_spec.Options(extra_labels={"cmd": "examplesgen.sh"}))["groups"]  # fmt: skip
    assert_same_groups(ours, theirs)
    alert = ours[2]["rules"][0]
    for change in (
        {"expr": alert["expr"].replace("14.4 *", "14.5 *")},
        {"expr": alert["expr"].replace("ratio_rate1h", "ratio_rate2h")},
        {"labels": {**alert["labels"], "severity": "other"}},
        {"annotations": {**alert["annotations"], "title": "(page) other"}},
    ):
        broken = [dict(g) for g in ours]
        broken[2] = {**broken[2], "rules": [{**alert, **change}, *broken[2]["rules"][1:]]}
        with pytest.raises(AssertionError):
            assert_same_groups(broken, theirs)
    assert same_expr("vector(1-0.9990000000000001)", "vector(0.001)")
    assert not same_expr("vector(1-0.999)", "vector(0.01)")


# -- refused specs ---------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "field", "words"), REFUSED, ids=lambda v: str(v))
def test_refused_specs_are_refused_on_purpose_naming_the_field(
    spec: str, field: str, words: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(InvalidInput) as err:
        slo_spec.load(DATA / spec)
    assert err.value.field == field
    assert words in str(err.value)
    out = tmp_path / "rules.yml"
    assert main(["slo", "generate", str(DATA / spec), "--out", str(out)]) == 2
    message = capsys.readouterr().err
    assert re.search(
        rf"{re.escape(str(DATA / spec))}: line \d+: {re.escape(field)} must be", message
    )
    assert words in message
    assert "Traceback" not in message and not out.exists()  # nothing half-written


def test_plugins_are_refused_with_the_reason() -> None:
    with pytest.raises(InvalidInput) as err:
        slo_spec.load(DATA / "examples/contrib-slo-plugins.yml")
    assert "labkit runs no Sloth plugin" in str(err.value)


# -- periods and alert windows ---------------------------------------------------------------


def alert_terms(rules: dict[str, Any]) -> dict[str, list[tuple[str, float]]]:
    """{severity: [(window, factor)]} read back from the generated alerts' expressions."""
    found: dict[str, list[tuple[str, float]]] = {}
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                terms = re.findall(r"ratio_rate(\w+)\{[^}]*\} > \(([\d.e-]+) \*", rule["expr"])
                found[rule["labels"]["sloth_severity"]] = [(w, float(f)) for w, f in terms]
    return found


@pytest.mark.parametrize("period", ["30d", "28d", "7d", "90d"])
def test_a_period_keeps_the_windows_and_sets_factors_for_2_5_10_10_percent(
    period: str, tmp_path: Path
) -> None:
    out = tmp_path / "rules.yml"
    spec = DATA / "examples/getting-started.yml"
    assert main(["slo", "generate", str(spec), "--period", period, "--out", str(out)]) == 0
    rules = yaml.safe_load(out.read_text())
    seconds = slo_windows.parse_period(period)
    hours = {"5m": 1 / 12, "30m": 0.5, "1h": 1, "2h": 2, "6h": 6, "1d": 24, "3d": 72}
    for severity, terms in alert_terms(rules).items():
        shares = {"page": [2, 5], "ticket": [10, 10]}[severity]
        for (short, s_factor), (long_, l_factor), share in zip(terms[::2], terms[1::2], shares,
                                                               strict=True):  # fmt: skip
            assert s_factor == l_factor and hours[short] < hours[long_]
            # the budget this pair lets go before firing: factor x long window / period
            assert l_factor * hours[long_] * 3600 / seconds == pytest.approx(share / 100)
    name = slo_windows.prom_duration(seconds)  # 28d is 4w, as Prometheus (and Sloth) write it
    records = {r.get("record") for g in rules["groups"] for r in g["rules"]}
    assert f"slo:sli_error:ratio_rate{name}" in records
    days = next(r for g in rules["groups"] for r in g["rules"]
                if r.get("record") == "slo:time_period:days")  # fmt: skip
    assert days["expr"] == f"vector({seconds / 86400:g})"
    assert promtool_check(out).returncode == 0


def test_the_30d_factors_are_the_workbooks() -> None:
    assert [f for pairs in slo_windows.ALERT_WINDOWS.values() for _, _, f in pairs] == [
        pytest.approx(x) for x in (14.4, 6, 3, 1)
    ]


@pytest.mark.parametrize("windows", ["7d.yaml", "custom-30d.yaml"])
def test_sloths_alert_windows_files_set_the_windows_and_factors(
    windows: str, tmp_path: Path
) -> None:
    path = DATA / "examples/windows" / windows
    doc = yaml.safe_load(path.read_text())["spec"]
    out = tmp_path / "rules.yml"
    spec = DATA / "integration/in-base.yaml"
    assert main(["slo", "generate", str(spec), "--windows", str(path), "--out", str(out)]) == 0
    rules = yaml.safe_load(out.read_text())
    period_hours = slo_windows.parse_period(doc["sloPeriod"]) / 3600
    for severity, terms in alert_terms(rules).items():
        for speed, (short, long_) in zip(("quick", "slow"), zip(terms[::2], terms[1::2],
                                                                 strict=True), strict=True):  # fmt: skip
            want = doc[severity][speed]
            assert slo_windows.parse_period(short[0]) == slo_windows.parse_period(
                want["shortWindow"]
            )
            assert slo_windows.parse_period(long_[0]) == slo_windows.parse_period(
                want["longWindow"]
            )
            long_hours = slo_windows.parse_period(want["longWindow"]) / 3600
            assert long_[1] == pytest.approx(
                want["errorBudgetPercent"] * period_hours / 100 / long_hours
            )
    assert promtool_check(out).returncode == 0


def test_a_period_other_than_the_windows_files_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = DATA / "examples/windows/7d.yaml"
    spec = DATA / "integration/in-base.yaml"
    assert main(["slo", "generate", str(spec), "--windows", str(path), "--period", "28d"]) == 2
    assert "--period must be the period of" in capsys.readouterr().err


@pytest.mark.parametrize(("period", "words"), [("2d", "at least as long as the longest alert window (3d)"),
                                              ("1.5d", "a duration"), ("banana", "a duration")])  # fmt: skip
def test_a_bad_period_is_refused(
    period: str, words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = DATA / "examples/getting-started.yml"
    assert main(["slo", "generate", str(spec), "--period", period]) == 2
    err = capsys.readouterr().err
    assert "--period must be" in err and words in err
