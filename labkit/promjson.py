"""A fast decoder for Prometheus' range-query answers, straight from the response body.

json.loads builds two Python objects per sample (a timestamp and a value string) that a
DataFrame then has to read back one by one; for a million samples that is most of the cost.
Here each series' `metric` object is decoded with json, and its `values` array, which holds
only numbers and quoted numbers, goes to pandas' C CSV reader in one piece:

    [1795000000,"42.1"],[1795000001,"NaN"]   ->   1795000000,42.1\\n1795000001,NaN

The result has the shape json.loads gives, except that a series' "values" is a `Samples`
(two float64 arrays), which labkit.query.to_frame takes as it is. Anything unexpected (not a
matrix, native histograms, a label that confuses the scan) falls back to json.loads, so the
answer is always right and usually fast.

`FastSession` is a requests.Session whose responses decode this way; PrometheusConnect takes
it through its `session=` parameter and still mounts its own retries on it.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import requests


@dataclass(frozen=True)
class Samples:
    """One series' points, column-wise: epoch seconds and values (NaN/inf included)."""

    timestamps: Any  # numpy float64 array
    values: Any  # numpy float64 array

    def __len__(self) -> int:
        return len(self.timestamps)


class _Unexpected(ValueError):
    pass


def decode(body: bytes) -> Any:
    """The decoded answer, with matrix values as Samples when the body allows it."""
    try:
        return _decode_matrix(body)
    except (_Unexpected, ValueError, IndexError):
        return json.loads(body)


def _expect(body: bytes, at: int, token: bytes) -> int:
    if not body.startswith(token, at):
        raise _Unexpected(f"expected {token!r} at {at}")
    return at + len(token)


def _decode_matrix(body: bytes) -> Any:
    import numpy as np
    import pandas as pd

    head = body[:200]
    if b'"status":"success"' not in head or b'"resultType":"matrix"' not in head:
        raise _Unexpected("not a successful matrix answer")
    i = _expect(body, body.index(b'"result":['), b'"result":[')
    metrics: list[dict[str, str]] = []
    segments: list[bytes] = []
    while body[i : i + 1] == b"{":
        i = _expect(body, i, b'{"metric":')
        values_at = body.index(b',"values":[', i)
        metric = json.loads(body[i:values_at])  # fails loudly if the scan cut a label
        if not isinstance(metric, dict):
            raise _Unexpected("metric is not an object")
        start = values_at + len(b',"values":[')
        end = body.index(b"]]", start)
        segments.append(body[start + 1 : end])
        metrics.append(metric)
        i = _expect(body, end, b"]]}")
        if body[i : i + 1] == b",":
            i += 1
    _expect(body, i, b"]")
    counts = [segment.count(b"],[") + 1 if segment else 0 for segment in segments]
    text = b"\n".join(s for s in segments if s).replace(b"],[", b"\n").replace(b'"', b"")
    if text:
        table = pd.read_csv(
            io.BytesIO(text), header=None, names=["t", "v"], dtype=np.float64, engine="c",
            na_values=["NaN"], keep_default_na=False,
        )  # fmt: skip
        stamps, values = table["t"].to_numpy(), table["v"].to_numpy()
    else:
        stamps = values = np.array([], dtype=np.float64)
    if len(stamps) != sum(counts):
        raise _Unexpected("sample count mismatch")
    result, at = [], 0
    for metric, n in zip(metrics, counts, strict=True):
        result.append(
            {"metric": metric, "values": Samples(stamps[at : at + n], values[at : at + n])}
        )
        at += n
    return {"status": "success", "data": {"resultType": "matrix", "result": result}}


class FastSession(requests.Session):
    """A Session whose responses' .json() uses `decode`."""

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        response = super().request(*args, **kwargs)
        response.json = lambda **_: decode(response.content)  # type: ignore[method-assign]
        return response
