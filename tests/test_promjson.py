"""The fast range-answer decoder: the same data as json.loads, or json.loads itself."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from labkit.promjson import Samples, decode
from labkit.query import to_frame
from tests.conftest import REPO

RECORDED: dict[str, Any] = json.loads((REPO / "tests/data/prometheus_responses.json").read_text())


def body(answer: Any) -> bytes:
    return json.dumps(answer, separators=(",", ":")).encode()  # as Prometheus writes it


def same_frames(raw: bytes) -> None:
    fast = to_frame(decode(raw)["data"]["result"])
    plain = to_frame(json.loads(raw)["data"]["result"])
    assert fast.equals(plain)


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_every_recorded_answer_decodes_to_the_same_frame(name: str) -> None:
    same_frames(body(RECORDED[name]))


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
        # native histograms: a shape the scan does not take, json.loads does
        {"status": "success", "data": {"resultType": "matrix", "result": [
            {"metric": {"node": "1"}, "values": [[1.5, "2"]], "histograms": [[1.5, {"count": "3"}]]}]}},
        # a vector, an error and an empty matrix
        {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, "1"]}]}},
        {"status": "error", "errorType": "bad_data", "error": "parse error"},
        {"status": "success", "data": {"resultType": "matrix", "result": []}},
    ],
)  # fmt: skip
def test_anything_unusual_gives_what_json_loads_gives(answer: dict[str, Any]) -> None:
    raw = body(answer)
    decoded = decode(raw)
    if answer.get("data", {}).get("resultType") == "matrix" and answer["data"]["result"]:
        assert decoded == answer  # fell back: plain lists
    if "data" in answer:
        same_frames(raw)
    else:
        assert decoded == answer


def test_labels_that_look_like_the_scan_targets_are_decoded_right() -> None:
    """Quotes inside JSON strings are escaped, so a label cannot hide the raw ,"values":[."""
    tricky = {"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"note": ',"values":[ ]]} {"metric":'}, "values": [[1.5, "2"]]},
        {"metric": {"note": "]],["}, "values": [[1.5, "+Inf"]]}]}}  # fmt: skip
    decoded = decode(body(tricky))["data"]["result"]
    assert [s["metric"] for s in decoded] == [s["metric"] for s in tricky["data"]["result"]]
    assert all(isinstance(s["values"], Samples) for s in decoded)
    same_frames(body(tricky))


def test_a_series_with_no_points_and_one_with_many() -> None:
    answer = {"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"node": "1"}, "values": [[1795000000 + i, repr(i / 3)] for i in range(5000)]},
        {"metric": {"node": "2"}, "values": [[1795000000.125, "-0.0"]]},
    ]}}  # fmt: skip
    decoded = decode(body(answer))["data"]["result"]
    assert [len(s["values"]) for s in decoded] == [5000, 1]
    assert (
        decoded[0]["values"].values[3] == 1.0
        and math.copysign(1, decoded[1]["values"].values[0]) == -1
    )
    same_frames(body(answer))
