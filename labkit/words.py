"""Counts, times and orders said the way a person reads them (pure functions).

plural(1, "node")              -> "1 node"
plural(3, "fault")             -> "3 faults"
plural(2, "is", "are", number=False) -> "are"
joined(["fleet", "prometheus", "receiver"]) -> "fleet, prometheus and receiver"
epoch("2026-11-27T11:02:05.5Z")  -> 1795777325.5
clock(1_795_000_925.4)         -> "11:22:05 UTC"
clock("2026-11-27T11:02:05.123456789Z") -> "11:02:05 UTC"   (Prometheus' nanoseconds)
ago(75)                        -> "1 min 15 s ago"
sorted(["10", "2", "1"], key=natural_key) -> ["1", "2", "10"]
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any


def plural(count: int, word: str, many: str | None = None, *, number: bool = True) -> str:
    """`count` and `word`, the word in the plural unless the count is one."""
    said = word if count == 1 else (many or word + "s")
    return f"{count:,} {said}" if number else said


def joined(items: list[str], last: str = "and") -> str:
    """Items as a sentence lists them: "a", "a and b", "a, b and c"."""
    if len(items) < 2:
        return "".join(items)
    return f"{', '.join(items[:-1])} {last} {items[-1]}"


def natural_key(text: object) -> tuple[Any, ...]:
    """A sort key putting "2" before "10" and "node 2" before "node 10"."""
    return tuple(int(p) if p.isdecimal() else p for p in re.split(r"(\d+)", str(text)))


def parse_time(when: float | str) -> float | None:
    """Epoch seconds from epoch seconds or an RFC 3339 time (any fraction of a second);
    None for Prometheus' zero time (never)."""
    if isinstance(when, int | float):
        return float(when)
    if not when or when.startswith("0001-01-01"):
        return None
    text = when.replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:  # Python reads at most microseconds: cut nanoseconds, keep the zone
        digits = re.match(r"\d*", rest)
        frac = digits.group(0) if digits else ""
        text = f"{head}.{frac[:6].ljust(6, '0')}{rest[len(frac) :]}"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def epoch(when: str) -> float:
    """Epoch seconds from an RFC 3339 time (Prometheus' and Alertmanager's, any fraction)."""
    ts = parse_time(when)
    if ts is None:
        raise ValueError(f"not a moment in time: {when!r}")
    return ts


def clock(when: float | str | None) -> str:
    """The UTC time of day, to the second: "11:02:05 UTC" ("never" for no time)."""
    ts = None if when is None else parse_time(when)
    if ts is None:
        return "never"
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S UTC")


def duration(seconds: float) -> str:
    """A duration to the second, or to a tenth under 10 s: "0.4 s", "42 s", "3 min 5 s",
    "2 h 10 min", "3 d 4 h"."""
    if seconds < 10:
        return f"{max(seconds, 0):.1f} s"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min" + (f" {s % 60} s" if s % 60 else "")
    if s < 86400:
        return f"{s // 3600} h" + (f" {s % 3600 // 60} min" if s % 3600 // 60 else "")
    return f"{s // 86400} d" + (f" {s % 86400 // 3600} h" if s % 86400 // 3600 else "")


def ago(seconds: float) -> str:
    """How long ago: "3.2 s ago", "1 min 15 s ago"."""
    return f"{duration(seconds)} ago"
