"""Converting a 1,000,000-sample range result (12 series) to a DataFrame:
labkit.query.to_frame against prometheus_api_client.MetricRangeDataFrame, on the same JSON.

The JSON is shaped like Prometheus' (12 series with 4 labels, 83,334 one-second samples
each, values as strings), made here with a fixed seed and decoded with json.loads first, as
both consumers get it. Each converter runs --repeat times; medians are reported. Before
timing, the two frames are checked to hold identical timestamps and values per series.

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

from labkit.query import to_frame

ROOT = Path(__file__).resolve().parent.parent
SERIES = 12


def make_result(samples: int) -> list[dict[str, Any]]:
    rng = random.Random(5)
    per_series = samples // SERIES + (1 if samples % SERIES else 0)
    start = 1_795_000_000
    result = []
    for node in range(1, SERIES + 1):
        values = [[start + i, repr(round(rng.uniform(10, 85), 6))] for i in range(per_series)]
        metric = {"__name__": "node_cpu_usage_percent", "instance": f"127.0.0.1:{8000 + node}",
                  "job": "edge-nodes", "node": str(node)}  # fmt: skip
        result.append({"metric": metric, "values": values})
    return json.loads(json.dumps(result))  # as decoded from Prometheus' answer


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
    total = sum(len(s["values"]) for s in result)
    print(f"{total:,} samples in {len(result)} series; {args.repeat} runs each (median)")
    ours_s, ours = timed(to_frame, result, args.repeat)
    theirs_s, theirs = timed(MetricRangeDataFrame, result, args.repeat)
    same(ours, theirs)
    ratio = theirs_s / ours_s
    print(f"  MetricRangeDataFrame (baseline) {theirs_s:8.3f} s")
    print(f"  labkit.query.to_frame           {ours_s:8.3f} s")
    print(f"  ratio: {ratio:.1f}x faster, identical timestamps and values "
          f"(goal: at least 10x) -> {'met' if ratio >= 10 else 'NOT met'}")  # fmt: skip
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "query_frame.json").write_text(json.dumps(
        {"samples": total, "baseline_seconds": theirs_s, "labkit_seconds": ours_s, "ratio": ratio}
    ))  # fmt: skip


if __name__ == "__main__":
    main()
