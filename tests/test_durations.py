"""labkit's one duration grammar (labkit.durations), and that scenarios, SLO specs and the CLI
all read it."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labkit import durations, scenario, slo_spec
from labkit.errors import InvalidInput


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("1m30s", 90), ("1h30m", 5400), ("1d", 86400), ("1w", 604800),
     ("1y", 365 * 86400), ("250ms", 0.25), ("1h0m5s", 3605), ("30", 30), ("2.5", 2.5), (45, 45)],
)  # fmt: skip
def test_it_reads_prometheus_durations_and_plain_seconds(text: Any, seconds: float) -> None:
    assert durations.parse(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "hint"),
    [("1.5h", "Did you mean 1h30m?"), ("5m1h", ""), ("1h1h", ""), ("10 m", ""), ("", ""),
     ("-5s", ""), ("1x", ""), ("0.5m", "Did you mean 30s?")],
)  # fmt: skip
def test_anything_else_is_refused_naming_field_value_and_grammar(text: str, hint: str) -> None:
    with pytest.raises(InvalidInput) as err:
        durations.parse(text, "at")
    message = str(err.value)
    assert message.startswith("at must be a duration such as 30s") and repr(text) in message
    assert hint in message


@pytest.mark.parametrize("value", [True, None, [30], math.nan, math.inf])
def test_non_durations_are_refused(value: Any) -> None:
    with pytest.raises(InvalidInput):
        durations.parse(value)


@pytest.mark.parametrize("value", [10**400, "9" * 400, "9" * 400 + "d", "9" * 305 + "y"])
def test_a_length_no_float_holds_is_refused_not_a_traceback(value: Any) -> None:
    with pytest.raises(InvalidInput, match="must be a duration"):
        durations.parse(value, "duration_seconds")


def test_prometheus_contexts_take_no_bare_numbers() -> None:
    with pytest.raises(InvalidInput, match="window"):
        slo_spec.parse_duration("30", "window")
    assert slo_spec.parse_duration("2h24m", "window") == 8640


@given(st.integers(min_value=1, max_value=10 * 365 * 86400))
def test_text_of_reads_back_as_the_same_seconds(seconds: int) -> None:
    assert durations.parse(durations.text_of(seconds), numbers=False) == seconds


def test_scenarios_and_slo_specs_agree_now() -> None:
    """Before: a scenario took 1.5h and refused 1w; a rule file the reverse."""
    assert scenario.seconds("1w") == slo_spec.parse_duration("1w", "w") == 604800
    assert scenario.seconds("1.5h") is None
    assert scenario.seconds("1h30m") == 5400


def _by_parts(text: str) -> float | None:
    """The grammar as it was read before one regular expression did: every number-unit part
    found, then their order checked and the text rebuilt from them."""
    order = list(durations.UNITS)
    parts = re.findall(r"(\d+)(ms|[ywdhms])", text.strip())
    units = [u for _, u in parts]
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        return None
    if units != sorted(set(units), key=order.index):
        return None
    return float(sum(int(n) * durations.UNITS[u] for n, u in parts))


PARTS = st.lists(st.tuples(st.integers(0, 99), st.sampled_from(list(durations.UNITS))), max_size=4)


def _in_order(parts: list[tuple[int, str]]) -> str:
    """Each unit once, the largest first: a duration the grammar reads."""
    once = {unit: n for n, unit in parts}
    return "".join(f"{once[unit]}{unit}" for unit in durations.UNITS if unit in once)


@given(
    st.one_of(
        PARTS.map(lambda parts: "".join(f"{n}{unit}" for n, unit in parts)),  # in any order
        PARTS.map(_in_order),
        st.text(alphabet=st.sampled_from(list("0123456789ywdhms ")), max_size=14),
    )
)
def test_the_one_match_reads_the_grammar_as_the_parts_did(text: str) -> None:
    expected = _by_parts(text)
    try:
        got: float | None = durations.parse(text, numbers=False)
    except InvalidInput:
        got = None
    assert got == expected
