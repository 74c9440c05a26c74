"""Prometheus' JSON answers read strictly, and fast, straight from the response body.

`decode(body)` checks the whole answer and returns the shape json.loads gives, except that a
matrix series' "values" is a `Samples` (two float64 arrays), which labkit.query.to_frame takes
as it is. Two routes, one result:

- fast (labkit.matrixscan), for a successful matrix written as Prometheus writes it: labels
  decoded with json, all the numbers read by pandas' C CSV reader in one piece, after numpy has
  checked every byte of punctuation; empty series and series with NaN/Inf included;
- plain, for anything else and for whatever the fast route does not take: json.loads, then
  the same checks (`read_series`, which to_frame also uses on results decoded elsewhere).

The fast route never decides that a body is bad: it hands it to the plain route, so the result
or the error is the same whichever route reads a body. Errors (labkit.errors):

- UnreadableAnswer: a body that is not UTF-8 or not JSON (cut short, garbage after it, a bad
  token such as a bare NaN), named by its byte position; a sample that is not a pair
  [timestamp, "value"], named by its series' labels and the value; a field not of Prometheus'
  shape, named by its path (data.result[2].metric); native histograms (a series with
  "histogram"/"histograms", Prometheus 2.40+), which labkit does not read, named by the series.
- QueryError: "status": "error" (Prometheus' errorType and error), which a proxy or an older
  Prometheus can send with HTTP 200.

A timestamp is a JSON number of seconds within the years a DataFrame holds (1677-09-21 to
2262-04-11); a value is a string holding a decimal number ("42", "-0.5", "1e-9"), "NaN", "+Inf",
"-Inf" or "Inf" (`VALUE`), as Prometheus writes them and Go and Python read them.

`FastSession` is a requests.Session whose responses' .json() is `decode`; PrometheusConnect
takes it through its `session=` parameter and still mounts its own retries on it.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import Any

import requests

from labkit import matrixscan
from labkit.errors import QueryError, UnreadableAnswer

# seconds a datetime64[ns] column holds (pandas.Timestamp.min and .max, whole seconds inside)
EARLIEST_SECONDS = -9_223_372_036
LATEST_SECONDS = 9_223_372_036
VALUE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|NaN|[+-]?Inf")
VALUES = '"42.1", "1e-9", "NaN", "+Inf" or "-Inf"'


@dataclass(frozen=True)
class Samples:
    """One series' points, column-wise: epoch seconds and values (NaN/inf included)."""

    timestamps: Any  # numpy float64 array
    values: Any  # numpy float64 array

    def __len__(self) -> int:
        return len(self.timestamps)


class _Unexpected(ValueError):
    """The fast route does not take this body; the plain route reads it."""


def decode(body: bytes) -> Any:
    """The checked answer, with matrix values as Samples (see the module's docstring)."""
    try:
        return _decode_matrix(body)
    except (ValueError, IndexError, TypeError, OverflowError, RecursionError, QueryError):
        return check_answer(load(body))


def load(body: bytes) -> Any:
    """json.loads, strict: not UTF-8, not JSON or a bare NaN/Infinity names the byte."""
    if not body.strip():
        raise UnreadableAnswer("the body is empty", position=len(body))
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableAnswer(
            f"byte {exc.start} is not UTF-8 ({_near(body, exc.start)})", position=exc.start
        ) from None
    try:
        return json.loads(text, parse_constant=_bare_constant, parse_int=_integer)
    except json.JSONDecodeError as exc:
        at = len(text[: exc.pos].encode("utf-8"))
        if exc.pos >= len(text):
            what = f"it ends at byte {at} in the middle of the JSON (cut short?)"
        elif exc.msg == "Extra data":
            what = f"the JSON ends at byte {at} and more follows ({_near(body, at)})"
        else:
            what = f"{exc.msg} at byte {at} ({_near(body, at)})"
        raise UnreadableAnswer(f"not valid JSON: {what}", position=at) from None
    except _BareConstant as exc:
        at = _constant_position(text)
        raise UnreadableAnswer(
            f"not valid JSON: {exc.args[0]} at byte {at} ({_near(body, at)}) is not a JSON "
            f'value; Prometheus writes special values as strings ("NaN", "+Inf")',
            position=at,
        ) from None
    except RecursionError:
        raise UnreadableAnswer("not Prometheus' JSON: nested too deeply to read") from None


def check_answer(answer: Any) -> dict[str, Any]:
    """A decoded answer, checked: Prometheus' error raised, matrix values as Samples."""
    if not isinstance(answer, dict):
        raise UnreadableAnswer(f"the answer must be an object with a status; got {_kind(answer)}")
    status = answer.get("status")
    if status == "error":
        message, error_type = answer.get("error", "(no message)"), answer.get("errorType", "")
        raise QueryError(None, str(message), str(error_type))
    if status != "success":
        raise UnreadableAnswer(f'status must be "success" or "error"; got {status!r}')
    data = answer.get("data")
    if not isinstance(data, dict):
        raise UnreadableAnswer(f"data must be an object; got {_kind(data)}")
    kind, result = data.get("resultType"), data.get("result")
    if kind in ("matrix", "vector"):
        series = read_series(result)
        if kind == "matrix":
            result = [{"metric": m, "values": s} for m, s in series]
    elif kind in ("scalar", "string"):
        _read_pairs([("data.result", {})], [[result]], numbers=kind == "scalar")
    else:
        raise UnreadableAnswer(
            f'data.resultType must be "matrix", "vector", "scalar" or "string"; got {kind!r}'
        )
    return {**answer, "data": {**data, "result": result}}


def read_series(result: Any) -> list[tuple[dict[str, str], Samples]]:
    """Each series of a matrix or vector result (json.loads' lists, or Samples from decode)
    as its labels and its Samples; every sample checked."""
    if not isinstance(result, list):
        raise UnreadableAnswer(f"data.result must be a list of series; got {_kind(result)}")
    metrics: list[dict[str, str]] = []
    columns: list[Samples | None] = []  # None: to read from todo
    todo: list[list[Any]] = []
    where: list[tuple[str, dict[str, str]]] = []
    for index, series in enumerate(result):
        path = f"data.result[{index}]"
        if not isinstance(series, dict):
            raise UnreadableAnswer(f"{path} must be an object (a series); got {_kind(series)}")
        metric = series.get("metric")
        if not isinstance(metric, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metric.items()
        ):
            raise UnreadableAnswer(f"{path}.metric must be an object of label names to strings; "
                                   f"got {_short(metric)}")  # fmt: skip
        name = f"series {index + 1} of {len(result)}, {_clip(series_name(metric), 200)}"
        if "histograms" in series or "histogram" in series:
            x = metric.get("__name__", "x")
            raise UnreadableAnswer(
                f"{name} holds native histograms, which labkit does not read; ask for floats "
                f"instead, such as histogram_quantile(0.9, rate({x}[5m])), "
                f"histogram_count(rate({x}[5m])) or histogram_sum(rate({x}[5m]))",
                series=metric,
            )
        if "values" in series:
            points = series["values"]
        elif "value" in series:
            points = [series["value"]]
        else:
            raise UnreadableAnswer(f'{path} ({name}) has neither "values" nor "value"')
        metrics.append(metric)
        if isinstance(points, Samples):
            columns.append(points)
            continue
        if not isinstance(points, list):
            raise UnreadableAnswer(f"{path}.values ({name}) must be a list of "
                                   f'[timestamp, "value"] pairs; got {_short(points)}',
                                   series=metric)  # fmt: skip
        columns.append(None)
        todo.append(points)
        where.append((name, metric))
    read = iter(_read_pairs(where, todo, numbers=True))
    return [(m, c if c is not None else next(read)) for m, c in zip(metrics, columns, strict=True)]


def series_name(metric: dict[str, str]) -> str:
    """A series as PromQL writes it: name{label="value", ...}."""
    labels = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in metric.items()
                       if k != "__name__")  # fmt: skip
    return f"{metric.get('__name__', '')}{{{labels}}}"


def _read_pairs(
    where: list[tuple[str, dict[str, str]]], point_lists: list[list[Any]], numbers: bool
) -> list[Samples]:
    """Each list of [timestamp, "value"] pairs as Samples: column-wise when every pair is
    right (the usual case), else one pair at a time to name the first bad one."""
    fast = _columns(point_lists) if numbers else None
    if fast is None:
        return [_one_by_one(name, metric, points, numbers)
                for (name, metric), points in zip(where, point_lists, strict=True)]  # fmt: skip
    stamps, values = fast
    out, at = [], 0
    for points in point_lists:
        out.append(Samples(stamps[at : at + len(points)], values[at : at + len(points)]))
        at += len(points)
    return out


def _columns(point_lists: list[list[Any]]) -> tuple[Any, Any] | None:
    """Timestamps and values of all pairs at once, or None if any pair is not right."""
    import numpy as np

    pairs = list(chain.from_iterable(point_lists))
    try:
        if not set(map(type, pairs)) <= {list, tuple} or not set(map(len, pairs)) <= {2}:
            return None
        stamps = list(map(itemgetter(0), pairs))
        if not set(map(type, stamps)) <= {int, float}:  # not bool, str or None
            return None
        times = np.fromiter(stamps, np.float64, len(stamps))
        text = ",".join(map(itemgetter(1), pairs)).encode()
    except (TypeError, UnicodeError, OverflowError):
        return None
    if b",," in text or text.startswith(b",") or text.endswith(b","):
        return None  # an empty value
    values = matrixscan.numbers(text, len(pairs))
    if values is None or not _in_range(times):
        return None
    return times, values


def _one_by_one(name: str, metric: dict[str, str], points: list[Any], numbers: bool) -> Samples:
    import numpy as np

    stamps, values = [], []
    for i, pair in enumerate(points):
        sample = f"{name}: sample {i + 1} of {len(points)}"
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            problem = f'is {_short(pair)}; a sample is a pair [timestamp, "value"]'
        elif isinstance(pair[0], bool) or not isinstance(pair[0], int | float):
            problem = (f"has the timestamp {_short(pair[0])}; a timestamp is a number of "
                       "seconds, such as 1795000000.123")  # fmt: skip
        elif not EARLIEST_SECONDS < pair[0] < LATEST_SECONDS:  # NaN too
            problem = (f"has the timestamp {_short(pair[0])}, outside the years a DataFrame holds "
                       f"({EARLIEST_SECONDS} to {LATEST_SECONDS} s)")  # fmt: skip
        elif not isinstance(pair[1], str) or (numbers and not VALUE.fullmatch(pair[1])):
            problem = f"has the value {_short(pair[1])}, not a number string such as {VALUES}"
        else:
            stamps.append(float(pair[0]))
            values.append(float(pair[1]) if numbers else math.nan)
            continue
        raise UnreadableAnswer(f"{sample} {problem}", series=metric)
    return Samples(np.array(stamps, dtype=np.float64), np.array(values, dtype=np.float64))


def _in_range(stamps: Any) -> bool:
    return bool(((stamps > EARLIEST_SECONDS) & (stamps < LATEST_SECONDS)).all())


def _decode_matrix(body: bytes) -> dict[str, Any]:
    """The fast route (labkit.matrixscan); a ValueError for whatever it does not take."""
    rest, metrics, stamps, values, counts = matrixscan.scan(body)
    if not _in_range(stamps):
        raise _Unexpected("a timestamp out of range")
    # the answer around the series, checked as the plain route checks it
    answer = json.loads(rest, object_pairs_hook=_unique, parse_constant=_bare_constant)
    envelope = check_answer(answer)
    result, at = [], 0
    for metric, n in zip(metrics, counts, strict=True):
        result.append({"metric": metric, "values": Samples(stamps[at : at + n],
                                                           values[at : at + n])})  # fmt: skip
        at += n
    envelope["data"]["result"] = result
    return envelope


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object without repeated keys: json.loads keeps the last, which would be a status or
    a result the fast route has not seen."""
    if len({k for k, _ in pairs}) != len(pairs):
        raise _Unexpected("a key twice")
    return dict(pairs)


class _BareConstant(ValueError):
    pass


def _bare_constant(name: str) -> Any:
    raise _BareConstant(name)


def _integer(digits: str) -> int | float:
    """JSON integers; past Python's 4300-digit limit, a float (inf), refused later."""
    return int(digits) if len(digits) < 4000 else float(digits)


def _constant_position(text: str) -> int:
    """The byte of the first bare NaN/Infinity outside a string."""
    for match in re.finditer(r'"(?:[^"\\]|\\.)*"|(-?Infinity|NaN)', text):
        if match.group(1):
            return len(text[: match.start(1)].encode("utf-8"))
    return 0


def _near(body: bytes, at: int) -> str:
    return f"near {body[max(0, at - 24) : at]!r} >> {body[at : at + 24]!r}"


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
             int: "a number", float: "a number", type(None): "null"}  # fmt: skip
    return names.get(type(value), type(value).__name__)


def _short(value: Any) -> str:
    return _clip(json.dumps(value, ensure_ascii=False) if _jsonable(value) else repr(value), 80)


def _clip(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 3] + "..."


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


class FastSession(requests.Session):
    """A Session whose responses' .json() uses `decode`."""

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        response = super().request(*args, **kwargs)
        response.json = lambda **_: decode(response.content)  # type: ignore[method-assign]
        return response
