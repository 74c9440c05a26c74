"""The five failure modes, their bounds, and a node's fault schedule.

The schedule is pure data: windows of (failure, start, end) in model seconds. The node model
reads it; the node runtime (labkit.node) writes it as faults are injected, expire or are
recovered. Nothing here reads a clock.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Any

from labkit.errors import InvalidInput

#: The seed's failure modes, in its order, with the effect each has on a node.
FAILURE_EFFECTS: dict[str, str] = {
    "cpu_spike": "CPU jumps to 95-100%",
    "memory_leak": "memory climbs steadily: past 85% within 10 s, then to 95% and more",
    "latency_spike": "request latency increases 10x",
    "error_burst": "error rate jumps to 20-50%",
    "node_crash": "the node returns 503 on /metrics and /health (control endpoints stay up)",
}
FAILURE_MODES: tuple[str, ...] = tuple(FAILURE_EFFECTS)

DEFAULT_DURATION_SECONDS = 30.0
MIN_DURATION_SECONDS = 1.0
MAX_DURATION_SECONDS = 3600.0
DURATION_RULE = f"a number of seconds from {MIN_DURATION_SECONDS:g} to {MAX_DURATION_SECONDS:g}"


def check_failure(value: Any, field_name: str = "failure") -> str:
    """Return `value` if it names a failure mode, else raise InvalidInput listing them."""
    if isinstance(value, str) and value in FAILURE_EFFECTS:
        return value
    hint = ""
    if isinstance(value, str):
        close = [m for m in FAILURE_MODES if value.lower().replace("-", "_") in m]
        if close:
            hint = f"Did you mean {close[0]}?"
    raise InvalidInput(field_name, value, "one of " + ", ".join(FAILURE_MODES), hint)


def check_duration(value: Any, field_name: str = "duration_seconds") -> float:
    """Return `value` as float seconds if it is within bounds, else raise InvalidInput."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(field_name, value, DURATION_RULE)
    seconds = float(value)
    if not math.isfinite(seconds) or not MIN_DURATION_SECONDS <= seconds <= MAX_DURATION_SECONDS:
        raise InvalidInput(field_name, value, DURATION_RULE)
    return seconds


@dataclass(frozen=True)
class FaultWindow:
    """One fault on one node: active on [start, end) in model seconds."""

    failure: str
    start: float
    end: float

    def covers(self, t: float) -> bool:
        return self.start <= t < self.end


@dataclass
class FaultSchedule:
    """Fault windows per failure mode, sorted and non-overlapping within a mode.

    Modes are independent: several can be active at once. `active_window(mode, t)` is a
    binary search, so a long history costs nothing at scrape time.
    """

    _windows: dict[str, list[FaultWindow]] = field(
        default_factory=lambda: {m: [] for m in FAILURE_MODES}
    )

    @classmethod
    def of(cls, windows: list[FaultWindow]) -> FaultSchedule:
        schedule = cls()
        for w in sorted(windows, key=lambda w: w.start):
            schedule.add(w)
        return schedule

    def add(self, window: FaultWindow) -> None:
        check_failure(window.failure)
        if window.end <= window.start:
            raise InvalidInput("end", window.end, f"after the start ({window.start})")
        lane = self._windows[window.failure]
        if lane and window.start < lane[-1].end:
            raise InvalidInput(
                "start",
                window.start,
                f"at or after the end of the previous {window.failure} ({lane[-1].end})",
            )
        lane.append(window)

    def set_end(self, failure: str, end: float) -> FaultWindow:
        """Move the end of `failure`'s latest window (restart its timer, or recover early)."""
        lane = self._windows[failure]
        old = lane[-1]
        lane[-1] = FaultWindow(failure, old.start, max(end, old.start))
        return lane[-1]

    def latest(self, failure: str) -> FaultWindow | None:
        lane = self._windows[failure]
        return lane[-1] if lane else None

    def active_window(self, failure: str, t: float) -> FaultWindow | None:
        lane = self._windows[failure]
        if not lane:
            return None
        if lane[-1].start <= t:  # the common case: now, at the newest window
            return lane[-1] if t < lane[-1].end else None
        i = bisect.bisect_right(lane, t, key=lambda w: w.start) - 1
        return lane[i] if i >= 0 and lane[i].covers(t) else None

    def is_active(self, failure: str, t: float) -> bool:
        return self.active_window(failure, t) is not None

    def last_ended_before(self, failure: str, t: float) -> FaultWindow | None:
        """The latest window of `failure` that ended at or before `t`."""
        lane = self._windows[failure]
        i = bisect.bisect_right(lane, t, key=lambda w: w.end) - 1
        return lane[i] if i >= 0 else None

    def windows(self) -> list[FaultWindow]:
        return sorted((w for lane in self._windows.values() for w in lane), key=lambda w: w.start)
