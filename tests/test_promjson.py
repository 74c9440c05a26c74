"""Prometheus' answers read strictly: the fast route (labkit.matrixscan) gives the same data as
json.loads wherever it takes a body, hands everything else to the plain route, and a bad body,
a bad sample, an error status or native histograms give a named labkit error, never a silent
answer."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from labkit import promjson
from labkit.errors import QueryError, UnreadableAnswer
from labkit.promjson import Samples, check_answer, decode, load
from labkit.query import to_frame
from tests.conftest import REPO

RECORDED: dict[str, Any] = json.loads((REPO / "tests/data/prometheus_responses.json").read_text())


def body(answer: Any) -> bytes:
    return json.dumps(answer, separators=(",", ":")).encode()  # as Prometheus writes it


def matrix(*series: tuple[dict[str, str], list[list[Any]]], **extra: Any) -> dict[str, Any]:
    result = [{"metric": m, "values": v} for m, v in series]
    return {"status": "success", "data": {"resultType": "matrix", "result": result}, **extra}


def fast_route_takes(raw: bytes) -> bool:
    try:
        promjson._decode_matrix(raw)  # labkit.matrixscan, and the answer around the series
    except ValueError:
        return False
    return True


def same_frames(raw: bytes) -> None:
    """decode (whichever route) and plain json.loads give one frame."""
    fast = to_frame(decode(raw)["data"]["result"])
    plain = to_frame(json.loads(raw)["data"]["result"])
    assert fast.equals(plain)


def refused(raw: bytes) -> UnreadableAnswer:
    """The error decode raises for `raw`, after checking that the fast route did not take it
    and that the plain route raises the very same."""
    assert not fast_route_takes(raw)
    with pytest.raises(UnreadableAnswer) as plain:
        check_answer(load(raw))
    with pytest.raises(UnreadableAnswer) as err:
        decode(raw)
    assert str(err.value) == str(plain.value)
    return err.value


# -- what the fast route takes, and gives ------------------------------------------------------


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_every_recorded_answer_decodes_to_the_same_frame(name: str) -> None:
    raw = body(RECORDED[name])
    assert fast_route_takes(raw) == (RECORDED[name]["data"]["resultType"] == "matrix")
    same_frames(raw)


def test_a_matrix_comes_back_column_wise_with_nan_and_infinities() -> None:
    decoded = decode(body(RECORDED["matrix_special"]))
    series = decoded["data"]["result"]
    assert all(isinstance(s["values"], Samples) for s in series)
    by_kind = {s["metric"]["kind"]: s["values"].values for s in series}
    assert np.isposinf(by_kind["pos_inf"]).all() and np.isneginf(by_kind["neg_inf"]).all()
    assert np.isnan(by_kind["nan"]).all()


@pytest.mark.parametrize(
    "answer",
    [
        matrix(({"node": "1"}, []), ({"node": "2"}, [])),  # every series empty
        matrix(({"node": "1"}, []), ({"node": "2"}, [[1795000000, "1"]]), ({"node": "3"}, [])),
        matrix(
            ({"node": "1"}, [[1795000000.5, "NaN"], [1795000001, "+Inf"], [1795000002, "-Inf"]])
        ),
        matrix(({"node": "1"}, [[-5, "1e-9"], [0, "-0"], [0.25, "007"], [1, "Inf"]])),
        matrix(({"node": "1"}, [[1795000000, "1"]]), warnings=["w"], infos=["PromQL info: x"]),
        matrix(),
    ],
    ids=["all-empty", "some-empty", "nan-inf", "odd-numbers", "warnings", "no-series"],
)
def test_the_fast_route_takes_empty_series_special_values_and_warnings(
    answer: dict[str, Any],
) -> None:
    raw = body(answer)
    assert fast_route_takes(raw)
    decoded = decode(raw)
    series = decoded["data"]["result"]
    assert [len(s["values"]) for s in series] == [
        len(s["values"]) for s in answer["data"]["result"]
    ]
    assert {k: v for k, v in decoded.items() if k != "data"} == {
        k: v for k, v in answer.items() if k != "data"
    }
    for got, sent in zip(series, answer["data"]["result"], strict=True):
        assert got["metric"] == sent["metric"]
        assert got["values"].timestamps.tolist() == [float(t) for t, _ in sent["values"]]
        want = [float(v) for _, v in sent["values"]]
        assert np.array_equal(got["values"].values, want, equal_nan=True)
        assert [math.copysign(1, v) for v in got["values"].values] == [
            math.copysign(1, v) for v in want
        ]
    same_frames(raw)


def test_labels_that_look_like_the_scan_targets_are_decoded_right() -> None:
    """Quotes inside JSON strings are escaped, so a label cannot hide the raw ,"values":[."""
    tricky = matrix(({"note": ',"values":[ ]]} {"metric":'}, [[1.5, "2"]]),
                    ({"note": '"]]},{"metric":{'}, [[1.5, "+Inf"]]),
                    ({"note": "]],[ \\ \u00e9"}, [[1.5, "3"]]))  # fmt: skip
    decoded = decode(body(tricky))["data"]["result"]
    assert [s["metric"] for s in decoded] == [s["metric"] for s in tricky["data"]["result"]]
    assert all(isinstance(s["values"], Samples) for s in decoded)
    same_frames(body(tricky))


def test_a_series_with_no_points_and_one_with_many() -> None:
    answer = matrix(({"node": "1"}, [[1795000000 + i, repr(i / 3)] for i in range(5000)]),
                    ({"node": "2"}, [[1795000000.125, "-0.0"]]))  # fmt: skip
    decoded = decode(body(answer))["data"]["result"]
    assert [len(s["values"]) for s in decoded] == [5000, 1]
    assert (
        decoded[0]["values"].values[3] == 1.0
        and math.copysign(1, decoded[1]["values"].values[0]) == -1
    )
    same_frames(body(answer))


@pytest.mark.parametrize(
    "raw",
    [
        body(matrix(({"node": "1"}, [[1795000000, "1"]]))).replace(b"1795000000", b"1.795E9"),
        json.dumps(matrix(({"node": "1"}, [[1795000000, "1"]]))).encode(),  # spaces
        body({"data": {"result": [], "resultType": "matrix"}, "status": "success"}),  # key order
        body(
            {
                "status": "success",
                "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, "1"]}]},
            }
        ),
    ],
    ids=["exponent", "spaces", "key-order", "vector"],
)
def test_valid_bodies_the_fast_route_leaves_are_read_the_plain_way(raw: bytes) -> None:
    assert not fast_route_takes(raw)
    same_frames(raw)


# -- bodies that are not JSON: refused with the byte --------------------------------------------

GOOD = body(matrix(({"__name__": "up", "node": "1"}, [[1795000000, "1"], [1795000001.5, "2"]]),
                   ({"node": "2"}, [[1795000000, "3"]])))  # fmt: skip
FIRST = b'[1795000000,"1"]'


@pytest.mark.parametrize(
    ("raw", "position", "says"),
    [
        (GOOD[:-1], len(GOOD) - 1, "cut short"),  # its last } missing
        (GOOD[:-3], len(GOOD) - 3, "cut short"),
        (GOOD[: GOOD.index(b"1795000001.5") + 4], GOOD.index(b"1795000001.5") + 4, "cut short"),
        (GOOD + b"xyz", len(GOOD), "more follows"),
        (GOOD + b"}", len(GOOD), "more follows"),
        (GOOD.replace(FIRST, b'[NaN,"1"]'), GOOD.index(FIRST) + 1, "NaN"),
        (GOOD.replace(FIRST, b'[1795000000,"1"]x'), GOOD.index(FIRST) + len(FIRST), "delimiter"),
        (GOOD.replace(FIRST, b'[01795000000,"1"]'), GOOD.index(FIRST) + 2, "delimiter"),
        (GOOD.replace(FIRST, b'[+1795000000,"1"]'), GOOD.index(FIRST) + 1, "value"),
        (GOOD.replace(FIRST, b'[1795000000.,"1"]'), GOOD.index(FIRST) + 11, "delimiter"),
        (GOOD.replace(FIRST, b'[1795[000000,"1"]'), GOOD.index(FIRST) + 5, "delimiter"),
        (GOOD.replace(FIRST, b'[1795,000000"1"]'), GOOD.index(FIRST) + 7, "delimiter"),
        (GOOD.replace(b'"node":"1"', b'"node":"\xff"'), GOOD.index(b'"node":"1"') + 8, "UTF-8"),
        (b"<html>502 Bad Gateway</html>", 0, "Expecting value"),
        (b"", 0, "empty"),
    ],
    ids=["no-last-brace", "no-last-3", "cut-in-a-number", "garbage", "extra-brace", "bare-nan",
         "junk-after-pair", "leading-zero", "plus-sign", "trailing-dot", "bracket-in-number", "comma-moved",
         "not-utf8", "html", "empty"],
)  # fmt: skip
def test_a_malformed_body_is_refused_naming_the_byte(raw: bytes, position: int, says: str) -> None:
    err = refused(raw)
    assert err.position == position
    assert says in str(err) and (f"byte {position}" in str(err) or not raw)


def test_a_body_nested_too_deep_is_refused_without_a_traceback() -> None:
    assert "nested too deeply" in str(refused(b"[" * 100_000))


# -- bad samples: the series and the value ------------------------------------------------------


@pytest.mark.parametrize(
    ("pair", "says"),
    [
        (b'[1795000000,"abc"]', 'the value "abc", not a number string'),
        (b'[1795000000,""]', 'the value "", not a number string'),
        (b'[1795000000,"INf"]', 'the value "INf"'),
        (b'[1795000000," 1"]', 'the value " 1"'),
        (b'[1795000000,"0x10"]', 'the value "0x10"'),
        (b"[1795000000,1]", "the value 1, not a number string"),
        (b'["1795000000","1"]', 'the timestamp "1795000000"; a timestamp is a number'),
        (b'[true,"1"]', "the timestamp true"),
        (b'[null,"1"]', "the timestamp null"),
        (b'[1e300,"1"]', "the timestamp 1e+300, outside the years"),
        (b"[1795000000]", 'is [1795000000]; a sample is a pair [timestamp, "value"]'),
        (b'[1795000000,"1","2"]', 'is [1795000000, "1", "2"]; a sample is a pair'),
        (b'{"t":1}', 'is {"t": 1}; a sample is a pair'),
    ],
)
def test_a_bad_sample_names_its_series_and_value(pair: bytes, says: str) -> None:
    raw = GOOD.replace(FIRST, pair)
    err = refused(raw)
    assert 'series 1 of 2, up{node="1"}: sample 1 of 2' in str(err) and says in str(err)
    assert err.series == {"__name__": "up", "node": "1"}
    with pytest.raises(UnreadableAnswer) as again:  # the same from decoded lists
        to_frame(json.loads(raw)["data"]["result"])
    assert str(again.value) == str(err)


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        ([], "the answer must be an object with a status; got a list"),
        ({"status": "ok"}, 'status must be "success" or "error"; got \'ok\''),
        ({"status": "success"}, "data must be an object; got null"),
        ({"status": "success", "data": {"resultType": "table", "result": []}}, 'got \'table\''),
        ({"status": "success", "data": {"resultType": "matrix", "result": {}}}, "data.result must be a list"),
        ({"status": "success", "data": {"resultType": "matrix", "result": [1]}}, "data.result[0] must be an object"),
        (matrix(({"node": 1}, [])), "data.result[0].metric must be an object of label names to strings"),  # type: ignore[dict-item]
        ({"status": "success", "data": {"resultType": "matrix", "result": [{"metric": {}}]}}, 'has neither "values" nor "value"'),
        ({"status": "success", "data": {"resultType": "matrix", "result": [{"metric": {}, "values": "1"}]}}, "data.result[0].values"),
        ({"status": "success", "data": {"resultType": "scalar", "result": [1, "x"]}}, 'the value "x"'),
    ],
)  # fmt: skip
def test_a_body_not_of_prometheus_shape_names_the_field(answer: Any, says: str) -> None:
    assert says in str(refused(body(answer)))


# -- Prometheus' error, native histograms --------------------------------------------------------


def test_status_error_with_http_200_raises_query_error_with_prometheus_words() -> None:
    raw = body(
        {"status": "error", "errorType": "bad_data", "error": "1:5: parse error: unexpected"}
    )
    with pytest.raises(QueryError) as err:
        decode(raw)
    assert (
        err.value.error_type == "bad_data" and err.value.message == "1:5: parse error: unexpected"
    )
    assert "(bad_data): 1:5: parse error" in str(err.value)


@pytest.mark.parametrize(
    "series",
    [
        {"metric": {"__name__": "rpc_seconds", "job": "api"}, "histograms": [[1795000000, {"count": "3", "sum": "1.5"}]]},
        {"metric": {"__name__": "rpc_seconds", "job": "api"}, "values": [[1795000000, "1"]],
         "histograms": [[1795000001, {"count": "3", "sum": "1.5"}]]},
    ],
    ids=["only-histograms", "floats-and-histograms"],
)  # fmt: skip
def test_native_histograms_are_refused_naming_the_series(series: dict[str, Any]) -> None:
    raw = body({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"job": "api"}, "values": [[1795000000, "1"]]}, series]}})  # fmt: skip
    err = refused(raw)
    assert 'series 2 of 2, rpc_seconds{job="api"} holds native histograms' in str(err)
    assert "histogram_quantile(0.9, rate(rpc_seconds[5m]))" in str(err)
    assert err.series == series["metric"]


def test_a_native_histogram_in_a_vector_is_refused_too() -> None:
    raw = body({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"job": "api"}, "histogram": [1795000000, {"count": "3"}]}]}})  # fmt: skip
    assert "native histograms" in str(refused(raw))
