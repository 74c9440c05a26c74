"""Property tests (hypothesis) for query answers: any body, valid or broken, gives either the
DataFrame a plain json.loads-based reference builds or a labkit error with a message (one that
names the byte when json.loads names one), never another exception; decode's two routes and
to_frame on decoded lists agree."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labkit.errors import QueryError, UnreadableAnswer
from labkit.promjson import EARLIEST_SECONDS, LATEST_SECONDS, decode
from labkit.query import to_frame
from labkit.words import natural_key

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- the reference: json.loads and the documented rules, nothing of labkit's own code ---------

NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|NaN|[+-]?Inf")


class Refused(Exception):
    """The reference refuses the body; `position` is json.loads' byte, if it names one."""

    def __init__(self, position: int | None = None) -> None:
        self.position = position


def no_constants(name: str) -> Any:
    raise Refused()


def column(label: str) -> str:
    bare = label
    while bare.startswith("label_"):
        bare = bare[len("label_") :]
    return "label_" + label if bare in ("timestamp", "value") else label


def reference(raw: bytes) -> pd.DataFrame:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refused(exc.start) from None
    try:
        answer = json.loads(text, parse_constant=no_constants)
    except json.JSONDecodeError as exc:
        raise Refused(len(text[: exc.pos].encode())) from None
    except (ValueError, RecursionError):
        raise Refused() from None
    if not isinstance(answer, dict) or answer.get("status") != "success":
        raise Refused()
    data = answer.get("data")
    if not isinstance(data, dict) or data.get("resultType") != "matrix":
        raise Refused()
    result = data.get("result")
    if not isinstance(result, list):
        raise Refused()
    rows: list[tuple[float, float, dict[str, str]]] = []
    metrics = []
    for series in result:
        if not isinstance(series, dict) or "histograms" in series or "histogram" in series:
            raise Refused()
        metric, values = series.get("metric"), series.get("values")
        if not isinstance(metric, dict) or not all(isinstance(v, str) for v in metric.values()):
            raise Refused()
        if not isinstance(values, list):
            raise Refused()
        metrics.append(metric)
        for pair in values:
            if not isinstance(pair, list) or len(pair) != 2:
                raise Refused()
            t, v = pair
            if isinstance(t, bool) or not isinstance(t, int | float):
                raise Refused()
            if not EARLIEST_SECONDS < t < LATEST_SECONDS:
                raise Refused()
            if not isinstance(v, str) or not NUMBER.fullmatch(v):
                raise Refused()
            rows.append((float(t), float(v), metric))
    frame: dict[str, Any] = {
        "timestamp": pd.to_datetime(
            [round(t * 1000) for t, _, _ in rows], unit="ms", utc=True
        ).as_unit("ns"),
        "value": np.array([v for _, v, _ in rows], dtype=np.float64),
    }
    labels = sorted({k for m in metrics for k in m}, key=column)
    for label in labels:
        categories = sorted({m[label] for m in metrics if label in m}, key=natural_key)
        frame[column(label)] = pd.Categorical([m.get(label) for _, _, m in rows], categories)
    return pd.DataFrame(frame)


def outcome(raw: bytes) -> tuple[pd.DataFrame | None, Exception | None]:
    """What labkit makes of a body: a frame, or a labkit error (anything else fails the test)."""
    try:
        return to_frame(decode(raw)["data"]["result"]), None
    except (UnreadableAnswer, QueryError) as exc:
        assert str(exc), "an error without a message"
        return None, exc


def same(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    assert list(ours.columns) == list(theirs.columns)
    assert ours["timestamp"].dtype == theirs["timestamp"].dtype
    assert ours["timestamp"].tolist() == theirs["timestamp"].tolist()
    a, b = ours["value"].to_numpy(), theirs["value"].to_numpy()
    assert a.dtype == np.float64 and np.array_equal(a, b, equal_nan=True)
    assert np.array_equal(np.signbit(a), np.signbit(b))
    for name in ours.columns[2:]:
        mine, want = ours[name], theirs[name]
        assert isinstance(mine.dtype, pd.CategoricalDtype)
        assert set(mine.cat.categories) == set(want.cat.categories)
        keys = [natural_key(c) for c in mine.cat.categories]
        assert keys == sorted(keys), f"{name}: categories not in natural order"
        assert (
            mine.astype(object).where(mine.notna(), None).tolist()
            == want.astype(object).where(want.notna(), None).tolist()
        )


def agrees_with_reference(raw: bytes) -> None:
    ours, error = outcome(raw)
    try:
        theirs = reference(raw)
    except Refused as refusal:
        assert error is not None, "labkit read a body the reference refuses"
        if refusal.position is not None:  # json.loads named the byte: so does labkit
            assert isinstance(error, UnreadableAnswer) and error.position == refusal.position
            assert f"byte {refusal.position}" in str(error) or not raw.strip()
        return
    assert error is None, f"labkit refused a body the reference reads: {error}"
    assert ours is not None
    same(ours, theirs)
    same(to_frame(json.loads(raw)["data"]["result"]), theirs)  # decoded lists: the same frame


# -- generated answers ---------------------------------------------------------------------------


def prometheus_number(x: float) -> str:
    """A float as Prometheus writes it."""
    return "NaN" if math.isnan(x) else {math.inf: "+Inf", -math.inf: "-Inf"}.get(x, repr(x))


label_names = st.one_of(
    st.sampled_from(["value", "timestamp", "__name__", "label_value", "label_timestamp", "node"]),
    st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,6}", fullmatch=True),
    st.text(max_size=4),
)
label_values = st.one_of(
    st.text(max_size=8),
    st.sampled_from(['"', "\\", ',"values":[', '"]]},{"metric":{', "]],[", "10", "2", "é\u2028"]),
)
timestamps = st.one_of(
    st.integers(1_700_000_000, 1_900_000_000),
    st.integers(1_700_000_000_000, 1_900_000_000_000).map(lambda ms: ms / 1000),
    st.integers(-100, 100),
    st.floats(-1e10, 1e10, allow_nan=False),
)
numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(prometheus_number),
    st.sampled_from(["0", "-0", "007", "1e-9", "1E+3", ".5", "5.", "Inf", "NaN", "+Inf", "-Inf"]),
    st.integers(-(10**20), 10**20).map(str),
)
series = st.fixed_dictionaries(
    {
        "metric": st.dictionaries(label_names, label_values, max_size=4),
        "values": st.lists(st.tuples(timestamps, numbers).map(list), max_size=5),
    }
)
answers = st.builds(
    lambda result, extra: (
        {"status": "success", "data": {"resultType": "matrix", "result": result}} | extra
    ),
    st.lists(series, max_size=4),
    st.sampled_from([{}, {"warnings": ["w"]}, {"infos": ["i", "j"]}]),
)


def dumps(answer: Any, ascii_only: bool) -> bytes:
    return json.dumps(answer, separators=(",", ":"), ensure_ascii=ascii_only).encode()


@SETTINGS
@given(answers, st.booleans())
def test_a_valid_body_gives_the_reference_frame(answer: dict[str, Any], ascii_only: bool) -> None:
    agrees_with_reference(dumps(answer, ascii_only))


@settings(max_examples=60, deadline=None)
@given(answers)
def test_every_truncation_of_a_valid_body_is_refused_naming_the_byte(
    answer: dict[str, Any],
) -> None:
    raw = dumps(answer, ascii_only=False)
    for cut in range(len(raw)):
        _, error = outcome(raw[:cut])
        assert isinstance(error, UnreadableAnswer), f"cut at {cut}: {raw[:cut]!r} was read"
        assert error.position is not None and error.position <= cut
        agrees_with_reference(raw[:cut])


garbage = st.one_of(
    st.binary(min_size=1, max_size=4),
    st.sampled_from([b"}", b"]", b",", b'"', b"[", b"NaN", b"0", b"-", b".", b"e5", b" ", b"\n",
                     b'],[1795000000,"1"', b'"]]},{"metric":{', b"\xff", b"\\"]),
)  # fmt: skip


@SETTINGS
@given(answers, garbage, st.data())
def test_a_body_with_garbage_inserted_is_refused_or_read_as_json_reads_it(
    answer: dict[str, Any], junk: bytes, data: st.DataObject
) -> None:
    raw = dumps(answer, ascii_only=False)
    at = data.draw(st.integers(0, len(raw)), label="at")
    agrees_with_reference(raw[:at] + junk + raw[at:])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.floats(-1e12, 1e12)
    | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)  # fmt: skip


def places(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a decoded answer: where a wrong type can go."""
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found += places(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += places(value, (*path, index))
    return found


def replaced(node: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = dict(node) if isinstance(node, dict) else list(node)
    copy[path[0]] = replaced(node[path[0]], path[1:], new)
    return copy


@SETTINGS
@given(answers, json_values, st.data())
def test_a_wrong_type_anywhere_is_refused_or_read_as_json_reads_it(
    answer: dict[str, Any], wrong: Any, data: st.DataObject
) -> None:
    path = data.draw(st.sampled_from(places(answer)), label="path")
    agrees_with_reference(dumps(replaced(answer, path, wrong), ascii_only=False))


@pytest.mark.parametrize(
    "answer",
    [
        {"status": "error", "errorType": "bad_data", "error": "parse error"},
        {"status": "success", "data": {"resultType": "vector", "result": []}},
    ],
)
def test_the_reference_refuses_what_is_not_a_matrix(answer: dict[str, Any]) -> None:
    """The reference reads matrices only; labkit reads vectors too (test_promjson.py)."""
    with pytest.raises(Refused):
        reference(dumps(answer, ascii_only=True))
