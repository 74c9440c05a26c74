"""labkit.promjson's fast route: a matrix answer as Prometheus writes it, read column-wise.

json.loads builds two Python objects per sample (a timestamp and a value string) that a
DataFrame then reads back one by one; for a million samples that is most of the cost. Here
each series' `metric` object is decoded with json, and all `values` arrays, which hold only
numbers and quoted numbers, go to pandas' C CSV reader in one piece, one number a line:

    [1795000000,"42.1"],[1795000001,"NaN"]   ->   1795000000,42.1,1795000001,NaN

First numpy checks, in a few passes over the bytes, that every quote, bracket and comma is
where JSON puts it, that each timestamp is a JSON number (without an exponent) and that each
value is a number string (promjson.VALUE). What this route takes, json.loads takes too and
reads to the same floats. It takes only Prometheus' compact layout, keys in Prometheus' order:

    {"status":"success","data":{"resultType":"matrix","result":[
     {"metric":{...},"values":[[T,"V"],...]}, ... ]} (,"warnings":[...] and the like) }

and raises ValueError for anything else (another layout, a bad token, an exponent, a body cut
short): labkit.promjson then reads the body the plain way, which either reads it or says what
is wrong. This module never decides that a body is bad.
"""

from __future__ import annotations

import io
import json
from typing import Any

PREFIX = b'{"status":"success","data":{"resultType":"matrix","result":['
_DIGITS_AND_SIGNS = b"0123456789.+-"
_LETTERS = b"eENaInf"  # the letters a number string may hold: 1e-9, NaN, +Inf
_SEPARATOR = int.from_bytes(b'"],[', "little")  # a value's closing quote, and ],[


def scan(body: bytes) -> tuple[bytes, list[dict[str, str]], Any, Any, list[int]]:
    """The answer without its result's series (PREFIX + what follows them, for the caller
    to check), each series' labels, all timestamps and values, and each series' count."""
    import numpy as np

    if not body.startswith(PREFIX):
        raise ValueError("not a compact successful matrix")
    view = memoryview(body)
    i = len(PREFIX)
    metrics: list[dict[str, str]] = []
    segments: list[memoryview] = []  # each series' pairs, without the outer [[ and ]]
    while body.startswith(b'{"metric":{', i):
        values_at = body.index(b',"values":[', i)
        metric = json.loads(body[i + 10 : values_at], parse_constant=_refuse)
        if not isinstance(metric, dict) or not all(isinstance(v, str) for v in metric.values()):
            raise ValueError("labels are not strings")
        start = values_at + 11
        if body.startswith(b"]}", start):  # a series with no points
            end = start - 2
        elif body.startswith(b"[", start):  # to the closing quote of its last value
            end = body.find(b'"]]},{"metric":{', start)
            end = end if end >= 0 else body.find(b'"]]}]', start)
            if end < 0:
                raise ValueError("no end to the series")
        else:
            raise ValueError("not a list of pairs")
        segments.append(view[start + 1 : end + 1])
        metrics.append(metric)
        i = end + 4
        if not body.startswith(b",", i):
            break
        i += 1
    if not body.startswith(b"]", i):
        raise ValueError("not the end of the result")
    filled = [s for s in segments if len(s)]
    stamps, values, opens = pairs(b"],[".join(filled))
    bounds = np.cumsum([0] + [len(s) + 3 for s in filled])
    counts = iter(np.diff(np.searchsorted(opens, bounds)).tolist())
    return PREFIX + body[i:], metrics, stamps, values, [next(counts) if len(s) else 0
                                                        for s in segments]  # fmt: skip


def pairs(text: bytes) -> tuple[Any, Any, Any]:
    """Pairs written `T,"V"],[T,"V"],...,[T,"V"` as timestamps, values and the position of
    each value's opening quote; ValueError unless each T is a JSON number (no exponent) and
    each V a number string, with exactly the quotes, brackets and commas JSON puts between."""
    import numpy as np

    if not text:
        empty = np.array([], dtype=np.float64)
        return empty, empty, np.array([], dtype=np.int64)
    a = np.frombuffer(text, dtype=np.uint8)
    quotes = np.flatnonzero(a == ord('"'))
    n = len(quotes) // 2
    opens, closes = quotes[0::2], quotes[1::2]
    if len(quotes) != 2 * n or closes[-1] != len(a) - 1 or opens[0] < 2:
        raise ValueError("quotes")
    if not (closes - opens > 1).all():
        raise ValueError("an empty value")
    # unaligned windows on the bytes: 8 from each closing quote but the last (`"],[` and the
    # next timestamp's first 4), 4 from 2 before each opening quote (the timestamp's last, `,"`
    # and the value's first)
    ahead = np.ndarray((max(len(a) - 7, 0),), "<u8", text, 0, (1,))[closes[:-1]]
    behind = np.ndarray((len(a) - 3,), "<u4", text, 0, (1,))[opens - 2].view(np.uint8)
    if not (
        (ahead.view(np.uint32)[0::2] == _SEPARATOR).all()
        and (behind[1::4] == ord(",")).all()
        and _is_digit(behind[0::4]).all()  # a timestamp ends with a digit (so is not empty)
    ):
        raise ValueError("punctuation")
    heads = ahead.view(np.uint8).reshape(-1, 8)[:, 4:7]
    heads = np.concatenate([a[None, :3], heads])  # each timestamp's first 3 bytes
    minus = heads[:, 0] == ord("-")
    first = np.where(minus, heads[:, 1], heads[:, 0])  # the first digit
    second = np.where(minus, heads[:, 2], heads[:, 1])
    if not _is_digit(first).all() or ((first == ord("0")) & _is_digit(second)).any():
        raise ValueError("a timestamp not a JSON number")  # +1, .5, -.5, 01
    tokens = text.translate(None, b'"[]')
    if len(text) - len(tokens) != 4 * n - 2:  # the quotes, and ],[ between pairs
        raise ValueError("a bracket inside a token")
    digits = np.frombuffer(tokens, dtype=np.uint8)
    letters = b""
    if digits.min() < ord("+") or digits.max() > ord("9") or b"/" in tokens:
        letters = tokens.translate(None, _DIGITS_AND_SIGNS + b",")
        lettered = np.flatnonzero((a >= ord("A")) & (a != ord("[")) & (a != ord("]")))
        if (np.searchsorted(quotes, lettered) % 2 == 0).any():  # not inside quotes
            raise ValueError("a letter in a timestamp")
    column = numbers(tokens, 2 * n, letters)  # counts the commas too
    if column is None:
        raise ValueError("a token not a number")
    return column[0::2], column[1::2], opens


def numbers(text: bytes, count: int, letters: bytes | None = None) -> Any:
    """`count` comma-separated number strings parsed in C by pandas' CSV reader (the same
    floats as float() on each), or None unless each is a number string: a decimal number,
    NaN or [+-]Inf. `letters`: the bytes of `text` other than digits, signs, dots and commas,
    if known."""
    import numpy as np
    import pandas as pd

    if letters is None:
        letters = text.translate(None, _DIGITS_AND_SIGNS + b",")
    if letters.translate(None, _LETTERS) or b"IN" in letters:
        return None  # a byte no number has, or "INf", which the reader takes as inf
    if count == 0:
        return np.array([], dtype=np.float64) if not text else None
    nan = {"na_values": ["NaN"], "keep_default_na": False} if b"N" in letters else {}
    if nan and (b",," in text or text.startswith(b",") or text.endswith(b",")):
        return None  # an empty token, which would be NaN (without NaN, the reader refuses it)
    try:
        column = pd.read_csv(
            io.BytesIO(text), header=None, names=["v"], dtype=np.float64, engine="c", sep=";",
            lineterminator=",", skip_blank_lines=False, na_filter=bool(nan), **nan,
        )["v"].to_numpy()  # fmt: skip
    except (ValueError, OverflowError):
        return None
    return column if len(column) == count else None


def _is_digit(codes: Any) -> Any:
    return (codes >= ord("0")) & (codes <= ord("9"))


def _refuse(name: str) -> Any:
    raise ValueError(f"a bare {name}")
