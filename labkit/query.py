"""PromQL to pandas: tidy DataFrames from Prometheus, on prometheus-api-client.

    prom = Prom(lab.prometheus_url)
    cpu = prom.range("node_cpu_usage_percent", start=now - 300, end=now, step=1)
    wide(cpu)                        # one column per node, for plotting

A tidy frame has a `timestamp` column (datetime64, UTC), a float `value` column, and one
categorical column per label. An empty result is an empty frame with those two columns, never
None. PrometheusConnect owns HTTP, retries and auth; this module always passes start, end and
a timeout explicitly (the library's own start/end defaults are computed once, at import), and
splits long ranges so no request asks for more than Prometheus' 11,000 points per series.

Label columns are named after their labels, except that no label can take a sample column's
name: a label named `timestamp` or `value`, or either behind one or more `label_` prefixes,
gets one more `label_` in front (`value` -> `label_value`, `label_value` ->
`label_label_value`). The rule looks at one label name only, so a label has the same column
in every frame, whatever other labels come with it (`label_column`).

Errors (labkit.errors tree): QueryError (Prometheus rejected the PromQL, with HTTP 400 or with
"status": "error" and HTTP 200: carries its message, its errorType and the query),
UnreadableAnswer (the answer is not JSON, has a bad sample or native histograms: see
labkit.promjson; names the query, the byte or the series), QueryTimeout and
PrometheusUnreachable (nobody answered at the URL).
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from labkit import auth
from labkit.errors import (
    InvalidInput,
    PrometheusUnreachable,
    QueryError,
    QueryTimeout,
    UnreadableAnswer,
)
from labkit.promjson import FastSession, read_series
from labkit.words import natural_key

if TYPE_CHECKING:
    import pandas as pd

MAX_POINTS = 11_000  # Prometheus refuses a range query with more points per series
_SAMPLE_NAMES = re.compile(r"(?:label_)*(?:timestamp|value)")  # labels that get label_ in front


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


def label_column(label: str) -> str:
    """The column of a label: its name, or one more `label_` in front of `timestamp`, `value`
    and `label_..._timestamp`/`label_..._value`, so no label takes a sample's column."""
    return f"label_{label}" if _SAMPLE_NAMES.fullmatch(label) else label


def to_frame(result: list[Any]) -> pd.DataFrame:
    """A Prometheus `result` (matrix, vector or scalar) as a tidy DataFrame, column-wise.
    Every sample is checked (labkit.promjson.read_series): UnreadableAnswer names a bad one."""
    import numpy as np
    import pandas as pd

    if isinstance(result, list) and result and not isinstance(result[0], dict):
        _not_a_string(result)
        result = [{"metric": {}, "value": result}]  # a scalar result: [ts, "v"]
    series = read_series(result)
    if not series:
        return _empty()
    stamps = np.concatenate([s.timestamps for _, s in series])
    values = np.concatenate([s.values for _, s in series])
    ms = np.rint(stamps * 1000).astype(np.int64)  # Prometheus keeps milliseconds
    frame: dict[str, Any] = {
        "timestamp": pd.to_datetime(ms, unit="ms", utc=True).as_unit("ns"),
        "value": values,
    }
    repeat = np.asarray([len(s) for _, s in series])
    for name in sorted({k for metric, _ in series for k in metric}, key=label_column):
        per_series = [metric.get(name) for metric, _ in series]
        categories = sorted({v for v in per_series if v is not None}, key=natural_key)
        index = {c: i for i, c in enumerate(categories)}
        codes = np.array([index.get(v, -1) if v is not None else -1 for v in per_series])
        frame[label_column(name)] = pd.Categorical.from_codes(
            np.repeat(codes, repeat), categories=categories
        )
    return pd.DataFrame(frame)


def _not_a_string(pair: list[Any]) -> None:
    """A scalar's [ts, "v"] whose value is no number is a string result (a query such as
    `"text"`): said as such, not as a broken sample."""
    value = pair[1] if len(pair) == 2 else None
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            shown = value if len(value) <= 80 else value[:77] + "..."
            raise UnreadableAnswer(
                f"the answer is the string {shown!r}, not numbers: a query whose "
                "result is a string has no series or value to tabulate"
            ) from None


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
            url=self.url, disable_ssl=True, timeout=timeout, session=FastSession(),
            headers=auth.headers(self.url) or None,  # a lab started with --auth
        )  # fmt: skip

    def _call(self, query: str, fn: Any, *args: Any, **kw: Any) -> list[Any]:
        import requests
        from prometheus_api_client.exceptions import PrometheusApiClientException

        try:
            return list(fn(query, *args, timeout=self.timeout, **kw))
        except PrometheusApiClientException as exc:
            if "Status Code 401" in str(exc):
                raise auth.refused(self.url) from None
            raise QueryError(query, *_prometheus_message(str(exc))) from None
        except QueryError as exc:  # "status": "error" with HTTP 200 (promjson.decode)
            raise QueryError(query, exc.message, exc.error_type) from None
        except UnreadableAnswer as exc:
            raise exc.to(query) from None
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


def _prometheus_message(text: str) -> tuple[str, str]:
    """Prometheus' own error and errorType out of the library's "HTTP Status Code 400
    (b'{...}')"."""
    match = re.search(r"\((b(['\"]).*\2)\)\s*$", text, flags=re.S)
    if match:
        try:
            body = json.loads(ast.literal_eval(match.group(1)))
            return str(body.get("error", body)), str(body.get("errorType", ""))
        except (ValueError, SyntaxError, AttributeError):
            pass
    return text, ""
