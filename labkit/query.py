"""PromQL to pandas: tidy DataFrames from Prometheus, on prometheus-api-client.

    prom = Prom(lab.prometheus_url)
    cpu = prom.range("node_cpu_usage_percent", start=now - 300, end=now, step=1)
    wide(cpu)                        # one column per node, for plotting

A tidy frame has a `timestamp` column (datetime64, UTC), a float `value` column, and one
categorical column per label. An empty result is an empty frame with those two columns, never
None. PrometheusConnect owns HTTP, retries and auth; this module always passes start, end and
a timeout explicitly (the library's own start/end defaults are computed once, at import), and
splits long ranges so no request asks for more than Prometheus' 11,000 points per series.

Errors (labkit.errors tree): QueryError (Prometheus rejected the PromQL: carries its message
and the query) and PrometheusUnreachable (nobody answered at the URL).
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import chain
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from labkit.errors import InvalidInput, PrometheusUnreachable, QueryError, QueryTimeout
from labkit.promjson import FastSession, Samples
from labkit.words import natural_key

if TYPE_CHECKING:
    import pandas as pd

MAX_POINTS = 11_000  # Prometheus refuses a range query with more points per series


Time = float | datetime


def seconds(t: Time) -> float:
    return t.timestamp() if isinstance(t, datetime) else float(t)


def chunks(
    start: float, end: float, step: float, max_points: int = MAX_POINTS
) -> Iterator[tuple[float, float]]:
    """(start, end) pieces of a range on the grid start + k*step, each at most `max_points`
    points, together covering every grid point up to `end` exactly once."""
    if not step > 0:
        raise InvalidInput("step", step, "a number of seconds above 0")
    if end < start:
        raise InvalidInput("end", end, f"at or after start ({start})")
    last = math.floor((end - start) / step + 1e-9)  # index of the last grid point
    k = 0
    while k <= last:
        k_end = min(last, k + max_points - 1)
        yield start + k * step, start + k_end * step
        k = k_end + 1


def _empty() -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(
        {
            "timestamp": pd.Series([], dtype="datetime64[ns, UTC]"),
            "value": pd.Series([], dtype=float),
        }
    )


def to_frame(result: list[Any]) -> pd.DataFrame:
    """A Prometheus `result` (matrix, vector or scalar) as a tidy DataFrame, column-wise."""
    import numpy as np
    import pandas as pd

    if not result:
        return _empty()
    if not isinstance(result[0], dict):  # a scalar or string result: [ts, "v"]
        result = [{"metric": {}, "value": result}]
    names = sorted({k for series in result for k in series["metric"]})
    points = [series["values"] if "values" in series else [series["value"]] for series in result]
    lengths = [len(p) for p in points]
    columns = [p for p in points if isinstance(p, Samples)]
    if len(columns) == len(points):  # already columns (labkit.promjson)
        stamps = np.concatenate([c.timestamps for c in columns])
        values = np.concatenate([c.values for c in columns])
    else:
        first, second = itemgetter(0), itemgetter(1)
        stamps = np.fromiter(
            chain.from_iterable(map(first, p) for p in points), np.float64, sum(lengths)
        )
        values = _parse_floats("\n".join(chain.from_iterable(map(second, p) for p in points)))
    ms = np.rint(stamps * 1000).astype(np.int64)  # Prometheus keeps milliseconds
    frame: dict[str, Any] = {
        "timestamp": pd.to_datetime(ms, unit="ms", utc=True).as_unit("ns"),
        "value": values,
    }
    repeat = np.asarray(lengths)
    for name in names:
        per_series = [series["metric"].get(name) for series in result]
        categories = sorted({v for v in per_series if v is not None}, key=natural_key)
        index = {c: i for i, c in enumerate(categories)}
        codes = np.array([index.get(v, -1) if v is not None else -1 for v in per_series])
        frame[name] = pd.Categorical.from_codes(np.repeat(codes, repeat), categories=categories)
    return pd.DataFrame(frame)


def _parse_floats(lines: str) -> Any:
    """One float per line, parsed in C by pandas' CSV reader (NaN, +Inf, -Inf included): the
    same values as float() on each, several times faster than any per-string route."""
    import io

    import numpy as np
    import pandas as pd

    if not lines:
        return np.array([], dtype=np.float64)
    column = pd.read_csv(
        io.StringIO(lines), header=None, names=["v"], dtype=np.float64, engine="c",
        na_values=["NaN"], keep_default_na=False,
    )  # fmt: skip
    return column["v"].to_numpy()


def wide(frame: pd.DataFrame, column: str = "node") -> pd.DataFrame:
    """Tidy -> wide: one row per timestamp, one column per value of `column`."""
    if frame.empty:
        return frame.set_index("timestamp")[["value"]].iloc[:0]
    if column not in frame:
        raise InvalidInput("column", column, f"a label of the frame: {list(frame.columns[2:])}")
    table = frame.pivot_table(index="timestamp", columns=column, values="value", observed=True)
    table.columns = list(table.columns)
    return table


class Prom:
    """Queries against one Prometheus, every request with a timeout."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        from prometheus_api_client import PrometheusConnect

        self.url = url.rstrip("/")
        self.timeout = timeout
        # FastSession decodes range answers column-wise; PrometheusConnect still mounts its
        # retries on it and owns the requests
        self.client = PrometheusConnect(
            url=self.url, disable_ssl=True, timeout=timeout, session=FastSession()
        )

    def _call(self, query: str, fn: Any, *args: Any, **kw: Any) -> list[Any]:
        import requests
        from prometheus_api_client.exceptions import PrometheusApiClientException

        try:
            return list(fn(query, *args, timeout=self.timeout, **kw))
        except PrometheusApiClientException as exc:
            raise QueryError(query, _prometheus_message(str(exc))) from None
        except (requests.exceptions.ReadTimeout, requests.exceptions.RetryError) as exc:
            if isinstance(exc, requests.exceptions.RetryError) and "timed out" not in str(exc):
                raise PrometheusUnreachable(self.url, type(exc).__name__) from None
            raise QueryTimeout(self.url, query, self.timeout) from None
        except requests.exceptions.ConnectionError as exc:
            if "timed out" in str(exc).lower() or "timeout" in str(exc).lower():
                raise QueryTimeout(self.url, query, self.timeout) from None
            raise PrometheusUnreachable(self.url, type(exc).__name__) from None
        except requests.exceptions.RequestException as exc:
            raise PrometheusUnreachable(self.url, type(exc).__name__) from None

    def instant(self, query: str, at: Time | None = None) -> pd.DataFrame:
        """The query's value now (or at `at`), one row per series."""
        import time

        params = {"time": repr(seconds(at) if at is not None else time.time())}
        return to_frame(self._call(query, self.client.custom_query, params=params))

    def range(self, query: str, start: Time, end: Time, step: float = 1.0) -> pd.DataFrame:
        """The query evaluated every `step` seconds from `start` to `end`, split as needed."""
        import pandas as pd

        lo, hi = seconds(start), seconds(end)
        frames = []
        for a, b in chunks(lo, hi, step):
            # exact start/end in params: the library would round them to whole seconds
            params = {"start": repr(a), "end": repr(b)}
            result = self._call(
                query,
                self.client.custom_query_range,
                datetime.fromtimestamp(a, UTC),
                datetime.fromtimestamp(b, UTC),
                repr(step),
                params=params,
            )
            frames.append(to_frame(result))
        frames = [f for f in frames if not f.empty]
        if not frames:
            return _empty()
        if len(frames) == 1:
            return frames[0]
        labels = sorted({c for f in frames for c in f.columns} - {"timestamp", "value"})
        for name in labels:  # one category set per label, so concat keeps the categoricals
            union = sorted(
                {c for f in frames if name in f for c in f[name].cat.categories}, key=natural_key
            )
            for f in frames:
                f[name] = (
                    f[name].cat.set_categories(union)
                    if name in f
                    else pd.Categorical([None] * len(f), categories=union)
                )
        joined = pd.concat(frames, ignore_index=True)
        return joined.sort_values([*labels, "timestamp"], ignore_index=True)


def _prometheus_message(text: str) -> str:
    """Prometheus' own error out of the library's "HTTP Status Code 400 (b'{...}')"."""
    match = re.search(r"\((b(['\"]).*\2)\)\s*$", text, flags=re.S)
    if match:
        try:
            body = json.loads(ast.literal_eval(match.group(1)))
            return str(body.get("error", body))
        except (ValueError, SyntaxError):
            pass
    return text
