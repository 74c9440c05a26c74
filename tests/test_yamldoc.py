"""labkit.yamldoc: safe_load's values, with lines, and a refusal with its line for every file
that would cost more than its text or mean something other than it says."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit import yamldoc
from labkit.errors import DocumentError

REPO = Path(__file__).resolve().parent.parent


def refusal(data: bytes | str, **bounds: int) -> DocumentError:
    with pytest.raises(DocumentError) as caught:
        yamldoc.load(data, "f.yml", **bounds)
    return caught.value


@pytest.mark.parametrize(
    "path",
    sorted(
        p
        for pattern in ("*.yml", "*.yaml")
        for p in REPO.glob(f"**/{pattern}")
        if ".venv" not in p.parts and ".lab" not in p.parts and "node_modules" not in p.parts
    ),
    ids=lambda p: str(p.relative_to(REPO)),
)
def test_the_projects_own_yaml_loads_as_safe_load_does(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    if any(isinstance(e, yaml.AliasEvent) for e in yaml.parse(text, Loader=yaml.CSafeLoader)):
        with pytest.raises(DocumentError, match="alias"):  # compose files: never read here
            yamldoc.load_all(text, str(path))
        return
    expected = list(yaml.safe_load_all(text))
    assert [value for _, value in yamldoc.load_all(path.read_bytes(), str(path))] == expected


def test_mappings_and_lists_know_their_lines() -> None:
    doc = yamldoc.load("name: x\nschedule:\n  - at: 5s\n    node: 2\n  - {at: 9s}\n", "s.yml")
    assert isinstance(doc, yamldoc.Mapping)
    assert (doc.line, doc.key_line("name"), doc.key_line("schedule")) == (1, 1, 2)
    schedule = doc["schedule"]
    assert isinstance(schedule, yamldoc.Sequence)
    assert schedule.item_lines == [3, 5]
    assert schedule[0].key_line("node") == 4
    assert yamldoc.line_of(schedule[1]) == 5
    assert yamldoc.line_of("text") is None


def test_keys_are_the_text_written() -> None:
    assert yamldoc.load("1: a\nyes: b\nnull: c\n", "k.yml") == {"1": "a", "yes": "b", "null": "c"}


def test_scalars_mean_what_they_mean_to_safe_load() -> None:
    text = "a: yes\nb: 0x1f\nc: .nan\nd: '5'\ne: 1_000\nf: ~\ng: 2026-11-27\nh: !!str 12\n"
    got, expected = yamldoc.load(text, "s.yml"), yaml.safe_load(text)
    assert got.keys() == expected.keys()
    for key in expected:
        if key == "c":
            assert got[key] != got[key]  # NaN, as safe_load reads it
        else:
            assert got[key] == expected[key] and type(got[key]) is type(expected[key])


def test_an_alias_bomb_is_refused_before_it_grows() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(9)
    )
    tracemalloc.start()
    try:
        error = refusal(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.line == 2 and "alias *a" in str(error)
    assert peak < 1_000_000


def test_merge_keys_are_refused_as_the_aliases_they_are() -> None:
    error = refusal("base: &b {x: 1}\nother:\n  <<: *b\n")
    assert error.line == 3 and "merge" in error.problem


@pytest.mark.parametrize("flow", [True, False])
def test_deep_nesting_is_refused_without_recursion(flow: bool) -> None:
    depth = 100_000
    text = "[" * depth + "]" * depth if flow else "".join(" " * i + "a:\n" for i in range(3000))
    error = refusal(text)
    # libyaml has its own bound for flow nesting (1,000), met before ours in a flow document
    assert "deeper than 64" in error.problem or "maximum nesting depth" in error.problem
    assert isinstance(yamldoc.load("[" * 10 + "]" * 10, "ok.yml"), list)


def test_the_depth_bound_is_the_callers() -> None:
    assert yamldoc.load("a: {b: {c: 1}}", "d.yml", max_depth=3) == {"a": {"b": {"c": 1}}}
    assert refusal("a: {b: {c: 1}}", max_depth=2).line == 1


def test_not_utf8_names_the_byte_offset_and_line() -> None:
    error = refusal(b"name: ok\nseed: caf\xe9\n")
    assert error.line == 2
    assert "byte 0xe9 at offset 18" in error.problem and "UTF-8" in error.problem


def test_utf16_is_named() -> None:
    assert "UTF-16" in refusal("name: x\n".encode("utf-16")).problem


def test_a_utf8_byte_order_mark_is_read() -> None:
    assert yamldoc.load("\ufeffname: x\n".encode(), "bom.yml") == {"name": "x"}


def test_size_is_bounded() -> None:
    error = refusal("a: " + "x" * 2000 + "\n", max_bytes=1000)
    assert error.line is None and "2,004 bytes" in error.problem


def test_a_duplicated_key_names_both_lines() -> None:
    error = refusal("schedule: []\nseed: 1\nschedule: [x]\n")
    assert error.line == 3 and "'schedule' twice (first on line 1)" in error.problem


def test_a_key_that_is_a_mapping_is_refused() -> None:
    assert "plain names" in refusal("? {a: 1}\n: x\n").problem


@pytest.mark.parametrize(
    "text", ["a: !!python/object:os.system {}\n", "a: !custom 1\n", "a: !!map x\n"]
)
def test_foreign_tags_are_refused(text: str) -> None:
    assert "tag" in refusal(text).problem


def test_a_number_too_long_to_read_is_refused_with_its_line() -> None:
    error = refusal("name: x\nseed: " + "9" * 5000 + "\n")
    assert error.line == 2 and error.problem.startswith("seed: '9999")  # the key it is under
    assert "not a valid int" in error.problem and "(5,000 characters)" in error.problem
    assert refusal("- " + "9" * 5000 + "\n").problem.startswith("'9999")  # a list item: no key


def test_broken_yaml_gets_the_parsers_words_and_line() -> None:
    error = refusal("a: [1, 2\nb: 3\n")
    assert error.line is not None and "not valid YAML" in error.problem


@pytest.mark.parametrize("text", ["a: 1\nb: 2\nc", "a: 1\nb: 2\nc\n", "a: 1\nb: 2\nc: [3,\n"])
def test_an_error_at_the_end_of_the_file_names_its_last_line(text: str) -> None:
    """libyaml marks the end of a file on the line after the last one."""
    assert refusal(text).line == 3


def test_several_documents_are_refused_by_load_and_read_by_load_all() -> None:
    text = "a: 1\n---\nb: 2\n"
    assert "2 YAML documents" in refusal(text).problem
    assert yamldoc.load_all(text, "m.yml") == [(1, {"a": 1}), (2, {"b": 2})]
    assert yamldoc.load("", "empty.yml") is None


def test_unknown_keys_suggest_the_near_miss() -> None:
    doc = yamldoc.load("seed: 1\nschedul: []\nzzz: 2\n", "s.yml")
    problems = yamldoc.unknown_keys(doc, ["seed", "schedule", "nodes"], "scenario")
    assert problems[0] == "line 2: scenario: unknown key 'schedul'; did you mean 'schedule'?"
    assert problems[1].startswith("line 3: scenario: unknown key 'zzz'; allowed: seed, schedule")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab:- \n[]{},'\"&*!#|>?%@`\\\t1.")), max_size=60))
def test_any_text_is_a_value_or_a_document_error(text: str) -> None:
    try:
        got = yamldoc.load_all(text, "h.yml")
    except DocumentError as error:
        assert str(error).startswith("h.yml")
        return
    try:
        expected = list(yaml.load_all(text, Loader=yaml.CSafeLoader))  # the same parser
    except yaml.YAMLError:
        return  # PyYAML's composer refuses a few things libyaml's events allow
    if all(_text_keys(value) for value in expected):  # else keys differ on purpose: 1 vs "1"
        assert [value for _, value in got] == expected


def _text_keys(value: object) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and k and _text_keys(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_text_keys(v) for v in value)
    return True


def _peak(text: str) -> int:
    tracemalloc.start()
    try:
        yamldoc.load(text, "big.yml")
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_document_costs_memory_in_proportion_to_its_text() -> None:
    def text(entries: int) -> str:
        return "schedule:\n" + "".join(
            f"  - at: {i}s\n    nodes: [{i % 50}]\n    failure: cpu_spike\n    duration: 30s\n"
            for i in range(entries)
        )

    small, large = text(2_000), text(8_000)
    ratio = _peak(large) / _peak(small)
    assert 0.8 * len(large) / len(small) < ratio < 1.2 * len(large) / len(small)
    assert _peak(large) < 20 * len(large)  # a Mapping, its key lines, a list: no __dict__ each


@pytest.mark.parametrize("enabled", [True, False])
def test_the_collector_is_paused_while_building_and_left_as_it_was(enabled: bool) -> None:
    import gc

    seen = []

    class Probe(yaml.SafeLoader):  # stands in for libyaml's parser
        def get_event(self) -> object:
            seen.append(gc.isenabled())
            return super().get_event()  # type: ignore[no-untyped-call]

    original = yamldoc._PARSER
    (gc.enable if enabled else gc.disable)()
    try:
        yamldoc._PARSER = Probe
        assert yamldoc.load("a: [1, 2]\n", "p.yml") == {"a": [1, 2]}
        with pytest.raises(DocumentError):
            yamldoc.load("a: [1, 2\n", "p.yml")
        assert gc.isenabled() is enabled
    finally:
        yamldoc._PARSER = original
        gc.enable()
    assert seen and not any(seen)


def test_nearest_key_is_the_did_you_mean() -> None:
    assert yamldoc.nearest_key("schedul", ["seed", "schedule"]) == "schedule"
    assert yamldoc.nearest_key("zzz", ["seed", "schedule"]) is None


@pytest.mark.parametrize(
    "text", ["! >", '! ""', "! |", 'x: ! ""', '! "12"', "! 'true'", "!", "- !", "a: !"]
)
def test_the_non_specific_tag_resolves_as_safe_load_does(text: str) -> None:
    """`!` makes even a quoted or block scalar resolve like a plain one in PyYAML's composer
    (`! ""` is null, `! "12"` is 12): found by the property test above."""
    assert [v for _, v in yamldoc.load_all(text, "h.yml")] == list(
        yaml.load_all(text, Loader=yaml.CSafeLoader)
    )
