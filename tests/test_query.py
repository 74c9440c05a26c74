"""PromQL to pandas: conversions of recorded Prometheus JSON, range splitting at its
boundaries, error cases, and the same against the live Prometheus."""

from __future__ import annotations

import json
import math
import time
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
import pandas as pd
import pytest

from labkit.errors import InvalidInput, UnreadableAnswer
from labkit.promjson import decode
from labkit.query import (
    MAX_POINTS,
    Prom,
    PrometheusUnreachable,
    QueryError,
    chunks,
    label_column,
    to_frame,
    wide,
)
from tests.conftest import REPO, free_ports, serving

RECORDED: dict[str, Any] = json.loads((REPO / "tests/data/prometheus_responses.json").read_text())


def result(name: str) -> Any:
    return RECORDED[name]["data"]["result"]


# -- conversions of recorded responses ---------------------------------------------------------


def test_a_matrix_becomes_a_tidy_frame_with_categorical_labels() -> None:
    raw = result("matrix_cpu")
    df = to_frame(raw)
    assert list(df.columns[:2]) == ["timestamp", "value"]
    assert str(df["timestamp"].dtype) == "datetime64[ns, UTC]" and df["value"].dtype == np.float64
    assert set(df.columns[2:]) == {"__name__", "instance", "job", "node"}
    assert all(isinstance(df[c].dtype, pd.CategoricalDtype) for c in df.columns[2:])
    assert len(df) == sum(len(s["values"]) for s in raw)
    assert list(df["node"].cat.categories) == [str(i) for i in range(1, 13)]  # natural order
    # every sample is where Prometheus put it
    for series in raw:
        mine = df[df["node"] == series["metric"]["node"]]
        assert [t.timestamp() for t in mine["timestamp"]] == pytest.approx(
            [v[0] for v in series["values"]], abs=1e-3
        )
        assert list(mine["value"]) == [float(v[1]) for v in series["values"]]


def test_a_vector_has_one_row_per_series() -> None:
    raw = result("vector_requests")
    df = to_frame(raw)
    assert len(df) == len(raw) == 24
    assert set(df["status"].cat.categories) == {"success", "error"}
    assert df["value"].min() >= 0


def test_nan_and_infinities_convert_to_floats() -> None:
    df = to_frame(result("matrix_special"))
    kinds = {k: df[df["kind"] == k]["value"] for k in ("pos_inf", "neg_inf", "nan")}
    assert all(v.size > 0 for v in kinds.values())
    assert (kinds["pos_inf"] == math.inf).all() and (kinds["neg_inf"] == -math.inf).all()
    assert kinds["nan"].isna().all()


def test_series_with_different_labels_get_missing_values_not_errors() -> None:
    raw = [
        {"metric": {"node": "1", "failure": "cpu_spike"}, "values": [[1.0, "1"]]},
        {"metric": {"node": "2"}, "values": [[1.0, "0"], [2.0, "0"]]},
    ]
    df = to_frame(raw)
    assert df["failure"].isna().tolist() == [False, True, True]
    assert list(df["node"]) == ["1", "2", "2"]


def test_many_labels_and_a_scalar() -> None:
    raw = [{"metric": {f"l{i}": f"v{i}" for i in range(40)}, "value": [1795700000.123, "3.5"]}]
    df = to_frame(raw)
    assert df.shape == (1, 42) and df["timestamp"][0] == pd.Timestamp(
        1795700000123, unit="ms", tz="UTC"
    )
    scalar = to_frame(result("scalar"))
    assert scalar.shape == (1, 2) and scalar["value"][0] >= 1


def test_a_string_result_is_said_to_be_one() -> None:
    with pytest.raises(UnreadableAnswer, match="the answer is the string 'a string', not numbers"):
        to_frame([1795700000.0, "a string"])
    assert to_frame([1795700000.0, "NaN"])["value"].isna().all()  # a scalar NaN is a number


def test_an_empty_result_is_an_empty_frame_with_the_right_columns() -> None:
    for empty in (result("empty"), []):
        df = to_frame(empty)
        assert df.empty and list(df.columns) == ["timestamp", "value"]
        assert str(df["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert wide(to_frame([])).empty


def test_wide_has_one_column_per_node() -> None:
    table = wide(to_frame(result("matrix_cpu")))
    assert list(table.columns) == [str(i) for i in range(1, 13)]
    assert table.index.is_monotonic_increasing
    with pytest.raises(InvalidInput, match="column"):
        wide(to_frame(result("matrix_cpu")), column="pod")


# -- label columns never take a sample's column ------------------------------------------------


@pytest.mark.parametrize(
    ("label", "column"),
    [
        ("node", "node"),
        ("__name__", "__name__"),
        ("value", "label_value"),
        ("timestamp", "label_timestamp"),
        ("label_value", "label_label_value"),
        ("label_label_timestamp", "label_label_label_timestamp"),
        ("values", "values"),
        ("label_node", "label_node"),
        ("Value", "Value"),
    ],
)
def test_a_label_column_is_its_name_unless_a_sample_column_could_clash(
    label: str, column: str
) -> None:
    assert label_column(label) == column


CLASHING = [
    {"metric": {"__name__": "up", "value": "v1", "timestamp": "t1", "label_value": "lv1", "node": "1"},
     "values": [[1795000000, "1.5"], [1795000001, "2.5"]]},
    {"metric": {"value": "v2"}, "values": [[1795000002.25, "NaN"]]},
    {"metric": {"timestamp": "t3"}, "values": []},
]  # fmt: skip


def test_labels_named_value_or_timestamp_keep_the_samples_and_their_own_columns() -> None:
    raw = json.dumps({"status": "success", "data": {"resultType": "matrix", "result": CLASHING}},
                     separators=(",", ":")).encode()  # fmt: skip
    for result in (CLASHING, decode(raw)["data"]["result"]):  # lists, and the fast route
        df = to_frame(result)
        assert list(df.columns) == ["timestamp", "value", "__name__", "label_label_value",
                                    "label_timestamp", "label_value", "node"]  # fmt: skip
        assert df["value"].tolist()[:2] == [1.5, 2.5] and math.isnan(df["value"].iloc[2])
        assert [t.timestamp() for t in df["timestamp"]] == [1795000000, 1795000001, 1795000002.25]
        assert df["label_value"].tolist() == ["v1", "v1", "v2"]
        assert df["label_label_value"].tolist()[:2] == ["lv1", "lv1"]
        assert df["label_timestamp"].tolist()[:2] == ["t1", "t1"]
        assert df["label_timestamp"].cat.categories.tolist() == [
            "t1",
            "t3",
        ]  # from the empty series


def test_label_values_of_any_text_become_categories_in_natural_order() -> None:
    values = ["10", "2", "\u00b2", "\u0663", 'a "quoted" \\ one', ""]
    df = to_frame([{"metric": {"node": v}, "values": [[1, "1"]]} for v in values])
    assert df["node"].tolist() == values
    assert df["node"].cat.categories.tolist() == [
        "",
        "2",
        "\u0663",
        "10",
        'a "quoted" \\ one',
        "\u00b2",
    ]


def test_a_label_gets_the_same_column_whatever_labels_come_with_it() -> None:
    alone = to_frame([{"metric": {"value": "a"}, "values": [[1, "1"]]}])
    with_prefixed = to_frame([{"metric": {"value": "a", "label_value": "b"}, "values": [[1, "1"]]}])
    assert alone["label_value"].tolist() == with_prefixed["label_value"].tolist() == ["a"]
    assert with_prefixed["label_label_value"].tolist() == ["b"]


# -- range splitting -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("points", "pieces"),
    [
        (1, 1),
        (MAX_POINTS - 1, 1),
        (MAX_POINTS, 1),
        (MAX_POINTS + 1, 2),
        (2 * MAX_POINTS, 2),
        (2 * MAX_POINTS + 1, 3),
    ],
)
def test_ranges_split_at_11000_points_without_gaps_or_overlaps(points: int, pieces: int) -> None:
    start, step = 1_795_000_000.0, 1.0
    end = start + (points - 1) * step
    parts = list(chunks(start, end, step))
    assert len(parts) == pieces
    grid = [t for a, b in parts for t in np.arange(a, b + step / 2, step)]
    assert len(grid) == points and len(set(grid)) == points
    assert grid[0] == start and grid[-1] == end
    assert all(round((b - a) / step) + 1 <= MAX_POINTS for a, b in parts)


def test_a_range_end_off_the_grid_stops_at_the_last_grid_point() -> None:
    parts = list(chunks(0.0, 10.5, 2.0))
    assert parts == [(0.0, 10.0)]


def test_bad_ranges_are_rejected() -> None:
    with pytest.raises(InvalidInput, match="step"):
        list(chunks(0, 10, 0))
    with pytest.raises(InvalidInput, match="end"):
        list(chunks(10, 0, 1))


# -- errors ---------------------------------------------------------------------------------------


def test_an_unreachable_prometheus_is_named() -> None:
    url = f"http://127.0.0.1:{free_ports(1)}"
    with pytest.raises(PrometheusUnreachable) as err:
        Prom(url, timeout=2).instant("up")
    assert url in str(err.value) and "labkit up" in str(err.value)


def prometheus_answering(status: int, answer: bytes) -> AbstractContextManager[str]:
    """A stand-in Prometheus on a free port that gives every request the same answer."""
    return serving(lambda path: (status, "application/json", answer))


def test_status_error_with_http_200_raises_query_error_naming_the_query() -> None:
    answer = b'{"status":"error","errorType":"execution","error":"query processing would load too many samples"}'
    with prometheus_answering(200, answer) as url, pytest.raises(QueryError) as err:
        Prom(url, timeout=5).range("up", 1795000000, 1795000010)
    assert err.value.query == "up" and err.value.error_type == "execution"
    assert str(err.value) == ("Prometheus rejected the query 'up' (execution): "
                              "query processing would load too many samples")  # fmt: skip


def test_an_http_400_carries_prometheus_message_and_error_type() -> None:
    answer = b'{"status":"error","errorType":"bad_data","error":"1:4: parse error: unclosed"}'
    with prometheus_answering(400, answer) as url, pytest.raises(QueryError) as err:
        Prom(url, timeout=5).instant("sum(")
    assert (err.value.query, err.value.error_type) == ("sum(", "bad_data")
    assert err.value.message == "1:4: parse error: unclosed"


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        (b'{"status":"success","data":{"resultType":"matrix","result":[]}', "cut short"),
        (b'{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"node":"1"},'
         b'"values":[[1795000000,"x"]]}]}}', '{node="1"}: sample 1 of 1 has the value "x"'),
        (b'{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"node":"1"},'
         b'"histograms":[[1795000000,{"count":"1"}]]}]}}', "native histograms"),
    ],
)  # fmt: skip
def test_an_unreadable_answer_names_the_query(answer: bytes, says: str) -> None:
    with prometheus_answering(200, answer) as url, pytest.raises(UnreadableAnswer) as err:
        Prom(url, timeout=5).range("node_up", 1795000000, 1795000010)
    assert err.value.query == "node_up"
    assert str(err.value).startswith("Prometheus' answer to 'node_up' cannot be read: ")
    assert says in str(err.value)


# -- live -----------------------------------------------------------------------------------------


@pytest.mark.live
def test_live_range_query_matches_the_raw_api(shared_lab: Any) -> None:
    prom = Prom(shared_lab.prometheus_url)
    time.sleep(3)
    end = time.time()
    df = prom.range("node_cpu_usage_percent", end - 20, end, step=1)
    assert set(df["node"].cat.categories) == {str(i) for i in range(1, 7)}
    raw = shared_lab.query("node_cpu_usage_percent", at=float(df["timestamp"].max().timestamp()))
    last = df[df["timestamp"] == df["timestamp"].max()].set_index("node")["value"]
    assert {s["metric"]["node"]: float(s["value"][1]) for s in raw} == last.to_dict()


@pytest.mark.live
def test_live_answers_take_the_fast_route_and_give_the_plain_frame(shared_lab: Any) -> None:
    """Prometheus' own layout, as this Prometheus writes it: series with NaN (0/0), none at
    all, and a vector (the plain route)."""
    import requests

    from labkit import promjson

    end = time.time()
    for query, kind in [
        ("node_cpu_usage_percent", "matrix"),
        ("node_cpu_usage_percent / 0 * 0", "matrix"),  # NaN in every sample
        ('up{node="nope"}', "matrix"),
        ("up", "vector"),
    ]:
        path, params = (
            ("query_range", {"query": query, "start": end - 10, "end": end, "step": 1})
            if kind == "matrix"
            else ("query", {"query": query, "time": end})
        )
        raw = requests.get(f"{shared_lab.prometheus_url}/api/v1/{path}", params=params,
                           timeout=10).content  # fmt: skip
        if kind == "matrix":
            promjson._decode_matrix(raw)  # raises if the fast route does not take it
        decoded = promjson.decode(raw)["data"]["result"]
        assert to_frame(decoded).equals(to_frame(json.loads(raw)["data"]["result"])), query


@pytest.mark.live
def test_live_split_range_joins_without_duplicates_or_holes(
    shared_lab: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import labkit.query

    monkeypatch.setattr(labkit.query.chunks, "__defaults__", (4,))  # 4 points a piece
    prom = Prom(shared_lab.prometheus_url)
    deadline = time.monotonic() + 30
    while (
        float(
            (shared_lab.query('count_over_time(up{node="1"}[16s])') or [{"value": [0, "0"]}])[0][
                "value"
            ][1]
        )
        < 16
    ):
        assert time.monotonic() < deadline
        time.sleep(0.5)
    end = math.floor(time.time()) - 1
    df = prom.range('up{node="1"}', end - 12, end, step=1)
    stamps = [t.timestamp() for t in df["timestamp"]]
    assert stamps == [float(t) for t in range(end - 12, end + 1)]  # 13 points from 4 pieces
    assert isinstance(df["node"].dtype, pd.CategoricalDtype)


@pytest.mark.live
def test_live_promql_errors_carry_prometheus_message_and_the_query(shared_lab: Any) -> None:
    prom = Prom(shared_lab.prometheus_url)
    with pytest.raises(QueryError) as err:
        prom.instant("sum(rate(node_requests_total[1m])")
    assert err.value.query == "sum(rate(node_requests_total[1m])"
    assert "parse error" in err.value.message
    empty = prom.instant('node_cpu_usage_percent{node="nope"}')
    assert empty.empty and list(empty.columns) == ["timestamp", "value"]
