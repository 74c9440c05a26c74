"""Alertmanager matchers in amtool's syntax: parsing, matching, printing, and bad input."""

from __future__ import annotations

from typing import Any

import pytest

from labkit.errors import InvalidInput
from labkit.matchers import (
    Matcher,
    equality_labels,
    labels_text,
    matchers_text,
    matches_all,
    parse_matcher,
    parse_matchers,
)

PARSED = [
    # (input, matchers as Alertmanager prints them)
    ("alertname=HighCPUUsage", 'alertname="HighCPUUsage"'),
    (
        'alertname=HighCPUUsage node=~"3|4" severity!=info',
        'alertname="HighCPUUsage", node=~"3|4", severity!="info"',
    ),
    ('{alertname="HighCPUUsage", node="6"}', 'alertname="HighCPUUsage", node="6"'),
    ('alertname="HighCPUUsage",node="6"', 'alertname="HighCPUUsage", node="6"'),
    (" node = 6 ", 'node="6"'),
    ('summary="a b, c"', 'summary="a b, c"'),
    (r'node!~"\d+"', r'node!~"\\d+"'),
    ("node=~[0-9]{2}", 'node=~"[0-9]{2}"'),
    (r'comment="say \"hi\""', r'comment="say \"hi\""'),
    ('node=""', 'node=""'),
    (["alertname=HighCPUUsage", 'node="6"'], 'alertname="HighCPUUsage", node="6"'),
    (["summary=a b c"], 'summary="a b c"'),  # one matcher per list item, as amtool's arguments
]


@pytest.mark.parametrize(("text", "printed"), PARSED)
def test_matchers_parse_as_amtool_reads_them(text: Any, printed: str) -> None:
    assert matchers_text(parse_matchers(text)) == printed


def test_printed_matchers_parse_back_to_the_same() -> None:
    for text, _ in PARSED:
        ms = parse_matchers(text)
        assert parse_matchers(matchers_text(ms)) == ms


BAD = [
    # (input, the field the error names, the value it names)
    ("", "matchers", ""),
    ("   ", "matchers", "   "),
    ([], "matchers", []),
    (None, "matchers", None),
    ("alertname", "matchers", "alertname"),
    ("=HighCPUUsage", "matcher name", ""),
    ('node="6" =x', "matcher name", ""),
    ("al-ert=X", "matcher name", "al-ert"),
    ("1node=X", "matcher name", "1node"),
    ("node==6", "matchers", "node==6"),
    ('node="6', "matchers", 'node="6'),
    ('node=6"', "matchers", 'node=6"'),
    ("alertname=X node", "matchers", "node"),
    ("node=~[", "regular expression of node=~", "["),
    ('node!~"(3|4"', "regular expression of node!~", "(3|4"),
    (["node=6", "oops"], "matcher", "oops"),
    (['node="6'], "matcher", 'node="6'),
]


@pytest.mark.parametrize(("text", "field", "value"), BAD)
def test_bad_matchers_name_the_field_and_the_value(text: Any, field: str, value: Any) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_matchers(text)
    assert caught.value.field == field
    assert caught.value.value == value
    assert "got" in str(caught.value) and caught.value.allowed


MATCHING = [
    # (matchers, labels, matches)
    ("alertname=HighCPUUsage", {"alertname": "HighCPUUsage", "node": "6"}, True),
    ("alertname=HighCPUUsage node=6", {"alertname": "HighCPUUsage", "node": "16"}, False),
    ('node=~"3|4"', {"node": "3"}, True),
    ('node=~"3|4"', {"node": "34"}, False),  # anchored, as in Alertmanager
    ("node=~3", {"node": "13"}, False),
    ("severity!=info", {}, True),  # a missing label is ""
    ('severity=""', {}, True),
    ('severity=~".+"', {}, False),
    ('node!~"[12]"', {"node": "3"}, True),
    ('node!~"[12]"', {"node": "1"}, False),
]


@pytest.mark.parametrize(("text", "labels", "expected"), MATCHING)
def test_matching_follows_alertmanager(text: str, labels: dict[str, str], expected: bool) -> None:
    assert matches_all(parse_matchers(text), labels) is expected


def test_api_form_round_trips() -> None:
    for op in ("=", "!=", "=~", "!~"):
        m = Matcher("node", op, "6")
        assert Matcher.from_api(m.to_api()) == m
    assert Matcher("node", "!~", "6").to_api() == {
        "name": "node", "value": "6", "isRegex": True, "isEqual": False
    }  # fmt: skip


def test_amtool_arguments_are_bare_only_when_unambiguous() -> None:
    args = [m.amtool_arg for m in parse_matchers('alertname=X node="6" a="b c" n!=3 r=~"1|2"')]
    assert args == ["alertname=X", "node=6", 'a="b c"', 'n!="3"', 'r=~"1|2"']


def test_single_matcher_and_label_sets() -> None:
    assert parse_matcher(' summary = "a, b" ') == Matcher("summary", "=", "a, b")
    assert equality_labels("severity=critical node=6") == {"severity": "critical", "node": "6"}
    with pytest.raises(InvalidInput, match="labels must be name=value pairs"):
        equality_labels("severity=~crit")
    assert labels_text({"node": "6", "alertname": 'a"b'}) == 'alertname="a\\"b", node="6"'


def test_a_doubled_operator_is_a_typo_not_a_value() -> None:
    with pytest.raises(InvalidInput, match="Quote a value"):
        parse_matchers(["node==6"])
    assert parse_matchers(['node="=6"']) == [Matcher("node", "=", "=6")]


@pytest.mark.parametrize("text", ["node=“3”", "node=‘3’", ["alertname=X", "node=„3“"]])
def test_typographic_quotes_are_refused_with_a_sentence(text: object) -> None:
    with pytest.raises(InvalidInput, match="straight quotes"):
        parse_matchers(text)  # type: ignore[arg-type]
