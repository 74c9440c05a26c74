"""Property tests: SLO specs made by hypothesis, valid and broken (names with quotes,
backslashes and unicode, wrong types, missing fields, random YAML), never give a traceback:
either rules, which promtool accepts, or an InvalidInput / DocumentError with a message; and
what labkit's template check accepts, Prometheus parses."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labkit import promtemplate, slo_spec
from labkit.cli import main
from labkit.errors import DocumentError, InvalidInput, LabkitError

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
FEW = settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

HOSTILE = st.text(
    st.one_of(
        st.sampled_from(list("\"\\'{}$.|()`-_ :#\n\t☃é\u2028\x00\x85")),
        st.characters(codec="utf-8", exclude_categories=["Cs"]),
    ),
    max_size=24,
)
NAMES = st.integers(0, 9).flatmap(
    lambda i: HOSTILE if i == 0 else st.from_regex(r"[a-z][a-z0-9-]{0,10}[a-z0-9]", fullmatch=True)
)
LABEL_NAMES = st.integers(0, 9).flatmap(
    lambda i: HOSTILE if i == 0 else st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)
)
SCALARS = st.one_of(HOSTILE, st.integers(), st.floats(), st.booleans(), st.none())
ANY = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                   | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)  # fmt: skip
TEMPLATES = st.one_of(
    HOSTILE,
    st.sampled_from(["{{ $labels.node }}", "{{ $value | humanize }}", "{{", "}}", "{{ if }}",
                     '{{ printf "%.2f" $value }}', "{{ $x }}", "{{/* c */}}"]),
)  # fmt: skip


@st.composite
def specs(draw: st.DrawFn) -> dict[str, Any]:
    """A spec that would pass (hostile values where values may be anything), then up to two
    breaks: a field set to anything, deleted, or a key added that Sloth's format lacks."""
    label_map = st.dictionaries(LABEL_NAMES, HOSTILE.filter(bool) | st.integers() | st.booleans(),
                                max_size=3)  # fmt: skip
    template_map = st.dictionaries(LABEL_NAMES, TEMPLATES.filter(bool), max_size=3)
    alert = st.fixed_dictionaries(
        {}, optional={"disable": st.booleans(), "labels": template_map, "annotations": template_map}
    )
    sli = st.one_of(
        st.fixed_dictionaries({"events": st.fixed_dictionaries({
            "error_query": st.sampled_from(['sum(rate(x{s="e"}[{{.window}}]))',
                                            "sum(rate(x[{{ .window }}]))"]),
            "total_query": st.just("sum(rate(x[{{.window}}]))")})}),
        st.fixed_dictionaries({"raw": st.fixed_dictionaries(
            {"error_ratio_query": st.just("1 - avg_over_time(ok[{{.window}}])")})}),
    )  # fmt: skip
    slo = st.fixed_dictionaries(
        {"name": NAMES, "objective": st.floats(1, 99.999) | st.integers(1, 99), "sli": sli},
        optional={
            "description": HOSTILE, "labels": label_map, "infoLabels": label_map,
            "alerting": st.fixed_dictionaries({}, optional={
                "name": st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,8}", fullmatch=True),
                "labels": template_map, "annotations": template_map,
                "page_alert": alert, "ticket_alert": alert}),
        },
    )  # fmt: skip
    doc: dict[str, Any] = draw(st.fixed_dictionaries(
        {"version": st.just("prometheus/v1"), "service": NAMES,
         "slos": st.lists(slo, min_size=1, max_size=3)},
        optional={"labels": label_map},
    ))  # fmt: skip
    for _ in range(draw(st.integers(0, 2))):
        _break(draw, doc)
    return doc


BAD_KEYS = ["sevice", "slo_plugins", "plugins", "objectiv", "interval", "lables", "x"]
BAD_VALUES = ["yes", "99.9", 0.999, 100, -1, ["a"], {"a": "b"}, None, "", 'a"b', "{{", True]


def _break(draw: st.DrawFn, doc: dict[str, Any]) -> None:
    """One break somewhere in `doc`: a mapping's field set to a bad value, deleted, or an
    unknown key added."""
    places: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            places.append(node)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)
    place = draw(st.sampled_from(places))
    how = draw(st.sampled_from(["set", "delete", "add"]))
    if how == "add" or not place:
        place[draw(st.sampled_from(BAD_KEYS))] = draw(st.sampled_from(BAD_VALUES) | ANY)
        return
    key = draw(st.sampled_from(sorted(place)))
    if how == "delete":
        del place[key]
    else:
        place[key] = draw(st.sampled_from(BAD_VALUES) | ANY)


def promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    assert tool, "promtool is missing: `make test` installs it (prometheus)"
    return subprocess.run([tool, *args], capture_output=True, text=True, timeout=60, cwd=cwd)


def generate_or_refuse(doc: Any, prof: str = "lab-day") -> str | None:
    """The rendered rules, or None when refused with a message that names a field."""
    try:
        slos = slo_spec.parse(doc)
        return slo_spec.render(slos, slo_spec.profile(prof), "spec.yml")
    except InvalidInput as exc:
        assert exc.field and str(exc).startswith(exc.field) and "must be" in str(exc)
        return None


@SETTINGS
@given(doc=specs())
def test_any_spec_gives_rules_or_a_message_naming_the_field(doc: dict[str, Any]) -> None:
    text = generate_or_refuse(doc)
    if text is not None:
        assert yaml.safe_load(text)["groups"]


@FEW
@given(doc=specs())
def test_accepted_specs_pass_promtool(doc: dict[str, Any], tmp_path: Path) -> None:
    text = generate_or_refuse(doc, "production")
    if text is None:
        return
    rules = tmp_path / "rules.yml"
    rules.write_text(text, encoding="utf-8")
    check = promtool("check", "rules", str(rules))
    assert check.returncode == 0, check.stdout + check.stderr + text


@st.composite
def valid_specs(draw: st.DrawFn) -> dict[str, Any]:
    """Specs that pass, with hostile label values, annotations and descriptions."""
    value = HOSTILE.filter(lambda v: v != "")
    labels = st.dictionaries(st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True)
                             .filter(lambda k: not k.startswith("sloth_")), value, max_size=3)  # fmt: skip
    text_ = HOSTILE.map(lambda v: v.replace("{{", "{ {"))  # no template action, so it passes
    return {
        "version": "prometheus/v1",
        "service": draw(st.from_regex(r"[a-z][a-z0-9.-]{0,8}[a-z0-9]", fullmatch=True)),
        "labels": draw(labels),
        "slos": [{
            "name": draw(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,8}[A-Za-z0-9]", fullmatch=True)),
            "objective": draw(st.floats(1, 99.999)),
            "description": draw(text_),
            "labels": draw(labels),
            "sli": {"events": {"error_query": 'sum(rate(x{c=~"5.."}[{{.window}}]))',
                               "total_query": "sum(rate(x[{{.window}}]))"}},
            "alerting": {"name": "Burn", "labels": draw(labels.map(
                lambda d: {k: v.replace("{{", "{ {") for k, v in d.items()})),
                "annotations": {"summary": draw(text_), "runbook": draw(text_)},
                "page_alert": {"disable": draw(st.booleans())}},
        }],
    }  # fmt: skip


@FEW
@given(doc=valid_specs())
def test_hostile_values_are_written_so_promtool_reads_them_back(
    doc: dict[str, Any], tmp_path: Path
) -> None:
    text = generate_or_refuse(doc)
    assert text is not None
    rules = tmp_path / "rules.yml"
    rules.write_text(text, encoding="utf-8")
    check = promtool("check", "rules", str(rules))
    assert check.returncode == 0, check.stdout + check.stderr + text
    groups = yaml.safe_load(text)["groups"]
    assert groups[0]["rules"][0]["labels"]["sloth_slo"] == doc["slos"][0]["name"]
    given = {**doc["labels"], **doc["slos"][0]["labels"]}  # the SLO's own override the spec's
    for key, value in given.items():  # every value as it was given
        assert groups[0]["rules"][0]["labels"][key] == value


@SETTINGS
@given(data=st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    specs().map(lambda d: yaml.safe_dump(d, allow_unicode=True).encode("utf-8", "surrogatepass")),
    st.lists(specs(), min_size=2, max_size=3).map(
        lambda ds: yaml.safe_dump_all(ds).encode("utf-8", "surrogatepass")),
))  # fmt: skip
def test_any_file_gives_slos_or_a_labkit_error(data: bytes, tmp_path: Path) -> None:
    path = tmp_path / "spec.yml"
    path.write_bytes(data)
    try:
        slos = slo_spec.load(path)
    except (InvalidInput, DocumentError) as exc:
        assert str(exc).strip()
        return
    assert slos and all(isinstance(s, slo_spec.SLO) for s in slos)


@FEW
@given(doc=specs(), flags=st.lists(st.sampled_from(
    ["--disable-alerts", "--disable-recordings", "-l", "a=b", "-l", "x", "--period", "28d",
     "--period", "1d", "--profile", "12h"]), max_size=4))  # fmt: skip
def test_the_cli_exits_0_or_2_without_a_traceback(
    doc: dict[str, Any], flags: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, out = tmp_path / "spec.yml", tmp_path / "rules.yml"
    out.unlink(missing_ok=True)
    path.write_text(json.dumps(doc), encoding="utf-8")  # JSON is YAML
    try:
        code = main(["slo", "generate", str(path), "--out", str(out), *flags])
    except SystemExit as done:  # argparse: a flag without its value
        code = int(done.code or 0)
    err = capsys.readouterr().err
    assert code in (0, 2) and "Traceback" not in err
    assert out.exists() == (code == 0)


@settings(max_examples=10, deadline=None)
@given(texts=st.lists(TEMPLATES | st.text(st.sampled_from(list('{}$. |"()`-ab\\/*')), max_size=16),
                      min_size=20, max_size=40))  # fmt: skip
def test_what_the_template_check_accepts_prometheus_parses(texts: list[str]) -> None:
    accepted = {}
    for i, text in enumerate(texts):
        try:
            accepted[f"a{i}"] = promtemplate.check(text, f"a{i}")
        except InvalidInput as exc:
            assert exc.field == f"a{i}" and "Here:" in str(exc)
    if not accepted:
        return
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        rules = Path(tmp) / "rules.yml"
        doc = {
            "groups": [
                {"name": "g", "rules": [{"alert": "A", "expr": "up", "annotations": accepted}]}
            ]
        }
        rules.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
        check = promtool("check", "rules", str(rules))
        assert check.returncode == 0, check.stdout + check.stderr + repr(accepted)


def test_errors_are_labkit_errors() -> None:
    """The exceptions the properties allow are labkit's own, with a message (not bare)."""
    assert issubclass(InvalidInput, LabkitError) and issubclass(DocumentError, LabkitError)
