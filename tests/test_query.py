"""PromQL to pandas: conversions of recorded Prometheus JSON, range splitting at its
boundaries, error cases, and the same against the live Prometheus."""

from __future__ import annotations

import json
import math
import time
from typing import Any

import numpy as np
import pandas as pd
import pytest

from labkit.errors import InvalidInput
from labkit.query import MAX_POINTS, Prom, PrometheusUnreachable, QueryError, chunks, to_frame, wide
from tests.conftest import REPO, free_ports

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
