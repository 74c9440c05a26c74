"""One duration grammar for everything labkit reads: scenario files, SLO specs and profiles,
PromQL ranges, and the command line.

    parse("90s")      90.0       parse("1m30s")   90.0       parse("1w")   604800.0
    parse("30")       30.0       parse(30)        30.0       (a bare number is seconds)
    parse("1.5h")     InvalidInput: ... Did you mean 1h30m?
    text(5400)        "1h30m"

It is Prometheus' own grammar (whole numbers, units y w d h m s ms, each at most once and the
largest first), so any duration labkit accepts is also one a rule file or a PromQL range
accepts; where a plain number makes sense (`duration: 30`, `--duration 30`) it counts as
seconds. Before it there were three: a scenario took `1.5h` but refused `1w`, a rule file
the reverse.
"""

from __future__ import annotations

import math
import re
from typing import Any

from labkit.errors import InvalidInput

UNITS: dict[str, float] = {
    "y": 365 * 86400.0,
    "w": 7 * 86400.0,
    "d": 86400.0,
    "h": 3600.0,
    "m": 60.0,
    "s": 1.0,
    "ms": 0.001,
}
# Each unit at most once, the largest first: one match checks the order and reads the parts.
_GRAMMAR = re.compile("".join(rf"(?:(\d+){unit})?" for unit in UNITS))
_SIZES = tuple(UNITS.values())
_SECONDS = re.compile(r"\d+(?:\.\d+)?")
ALLOWED = "a duration such as 30s, 5m, 1h30m or 1d (units y w d h m s ms, largest first)"


def parse(value: Any, field: str = "duration", *, numbers: bool = True) -> float:
    """Seconds from a duration string, or from a number of seconds when `numbers`."""
    if isinstance(value, bool):
        raise InvalidInput(field, value, ALLOWED)
    if isinstance(value, int | float):
        if not numbers:
            raise InvalidInput(field, value, ALLOWED)
        return _finite(value, field, value)
    if not isinstance(value, str):
        raise InvalidInput(field, value, ALLOWED)
    text = value.strip()
    if numbers and _SECONDS.fullmatch(text):
        return _finite(text, field, value)
    parts = _GRAMMAR.fullmatch(text) if text else None
    if parts is None:
        raise InvalidInput(field, value, ALLOWED, _hint(text))
    try:
        total = sum(
            int(n) * size for n, size in zip(parts.groups(), _SIZES, strict=True) if n is not None
        )
    except OverflowError:  # more seconds than a float holds
        total = math.inf
    return _finite(total, field, value)


def _finite(number: float | str, field: str, value: Any) -> float:
    """`number` as float seconds; a length too large for a float (1e400 s) is refused."""
    try:
        seconds = float(number)
    except OverflowError:
        seconds = math.inf
    if not math.isfinite(seconds):
        raise InvalidInput(field, value, ALLOWED)
    return seconds


def _hint(text: str) -> str:
    """A decimal such as 1.5h, said the way the grammar writes it."""
    m = re.fullmatch(r"(\d+\.\d+)(ms|[ywdhms])", text)
    if not m:
        return ""
    seconds = float(m.group(1)) * UNITS[m.group(2)]
    return f"Did you mean {text_of(seconds)}?" if seconds >= 1 else ""


def text_of(seconds: float) -> str:
    """Seconds as a duration of whole seconds, largest units first (1d2h, 48m, 10s)."""
    left = round(seconds)
    if left <= 0:
        raise InvalidInput("seconds", seconds, "at least 1 second")
    out = ""
    for unit in ("d", "h", "m", "s"):
        size = int(UNITS[unit])
        if left >= size:
            out += f"{left // size}{unit}"
            left %= size
    return out
