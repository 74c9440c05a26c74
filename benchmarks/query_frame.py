"""Converting a 1,000,000-sample range result (12 series) to a DataFrame: labkit against
prometheus_api_client.MetricRangeDataFrame, on the same JSON, three ways:

  body:    the response body (bytes) -> DataFrame. Baseline: json.loads, then
           MetricRangeDataFrame. labkit: labkit.promjson.decode, then to_frame. This is the
           path a range query takes (Prom.range), and the one the goal (10x) is about.
  empty:   the same, on a body where some series are empty ("values": []): the 12 series and
           6 empty ones between them. The goal holds here too.
  decoded: an already-decoded result (lists) -> DataFrame: MetricRangeDataFrame against
           to_frame alone.

The JSON is shaped like Prometheus' (12 series with 4 labels, 83,334 one-second samples each,
values as strings, compact separators as Prometheus writes them), made with a fixed seed.
Each side runs --repeat times; medians are reported, with the ratio of the medians of the two
sides in the same run. Before timing, the frames are checked to hold identical timestamps and
values per series.

    .venv/bin/python -m benchmarks.query_frame [--samples 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from prometheus_api_client import MetricRangeDataFrame

from labkit.promjson import decode
from labkit.query import to_frame

ROOT = Path(__file__).resolve().parent.parent
SERIES = 12


def make_result(samples: int, empty: int = 0) -> list[dict[str, Any]]:
    """SERIES series sharing `samples`, and `empty` series with no points between them."""
    rng = random.Random(5)
    per_series = samples // SERIES + (1 if samples % SERIES else 0)
    start = 1_795_000_000
    result = []
    for node in range(1, SERIES + empty + 1):
        full = node <= SERIES
        values = [[start + i, repr(round(rng.uniform(10, 85), 6))]
                  for i in range(per_series if full else 0)]  # fmt: skip
        metric = {"__name__": "node_cpu_usage_percent", "instance": f"127.0.0.1:{8000 + node}",
                  "job": "edge-nodes", "node": str(node)}  # fmt: skip
        result.append({"metric": metric, "values": values})
    if empty:  # each empty series after a full one
        full_ones, empty_ones = result[:SERIES], result[SERIES:]
        result = [s for i, f in enumerate(full_ones) for s in [f, *empty_ones[i : i + 1]]]
    return json.loads(json.dumps(result))  # as decoded from Prometheus' answer


def answer(result: list[dict[str, Any]]) -> bytes:
    """The body Prometheus would send: compact, keys in its order."""
    return json.dumps(
        {"status": "success", "data": {"resultType": "matrix", "result": result}},
        separators=(",", ":"),
    ).encode()


def same(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    """Identical timestamps and values, series by series."""
    theirs = theirs.reset_index()
    for node in ours["node"].cat.categories:
        a = ours[ours["node"] == node]
        b = theirs[theirs["node"] == node].sort_values("timestamp")
        ta = a["timestamp"].dt.tz_convert(None).to_numpy(dtype="datetime64[ns]")
        tb = pd.to_datetime(b["timestamp"]).to_numpy(dtype="datetime64[ns]")
        assert np.array_equal(ta, tb), f"timestamps differ for node {node}"
        assert np.array_equal(a["value"].to_numpy(), b["value"].astype(float).to_numpy()), node


def timed(fn: Any, arg: Any, repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(arg)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    result = make_result(args.samples)
    body = answer(result)
    with_empty = make_result(args.samples, empty=SERIES // 2)
    body_with_empty = answer(with_empty)
    total = sum(len(s["values"]) for s in result)
    print(f"{total:,} samples in {len(result)} series ({len(body) / 1e6:.1f} MB of JSON), and "
          f"with {len(with_empty) - len(result)} empty series between them; "
          f"{args.repeat} runs each, medians")  # fmt: skip

    def baseline_body(raw: bytes) -> Any:
        return MetricRangeDataFrame(json.loads(raw)["data"]["result"])

    def labkit_body(raw: bytes) -> Any:
        return to_frame(decode(raw)["data"]["result"])

    figures = {}
    for path, (theirs_fn, ours_fn, data) in {
        "body": (baseline_body, labkit_body, body),
        "empty": (baseline_body, labkit_body, body_with_empty),
        "decoded": (MetricRangeDataFrame, to_frame, result),
    }.items():
        ours_s, ours = timed(ours_fn, data, args.repeat)
        theirs_s, theirs = timed(theirs_fn, data, args.repeat)
        same(ours, theirs)
        figures[path] = {"baseline_seconds": theirs_s, "labkit_seconds": ours_s,
                         "ratio": theirs_s / ours_s}  # fmt: skip
        print(f"  {path:<8} baseline {theirs_s:7.3f} s   labkit {ours_s:7.3f} s   "
              f"{theirs_s / ours_s:5.1f}x faster, identical timestamps and values")  # fmt: skip
    met = figures["body"]["ratio"] >= 10 and figures["empty"]["ratio"] >= 10
    print(f"goal: at least 10x from the response body, with and without empty series -> "
          f"{'met' if met else 'NOT met'}")  # fmt: skip
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "query_frame.json").write_text(json.dumps({"samples": total, **figures}, indent=1))


if __name__ == "__main__":
    main()
