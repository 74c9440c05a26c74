"""A running node: the pure model, its fault schedule, a clock and the journal.

This is where wall-clock time meets model time (seconds since the node started). Every
change to the schedule is journalled: an injection, an early recovery, and an expiry (with
the time the fault actually ended, whenever it is noticed: on the next request to the node or
by the fleet's expiry sweeper, whichever comes first).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from labkit.failures import (
    DEFAULT_DURATION_SECONDS,
    FAILURE_MODES,
    FaultSchedule,
    FaultWindow,
    check_duration,
    check_failure,
)
from labkit.journal import Journal, iso
from labkit.model import ModelParams, NodeModel, Origin, Snapshot

Clock = Callable[[], float]


@dataclass
class FaultRecord:
    """One injection as the node's history shows it (wall-clock epoch seconds)."""

    failure: str
    started_at: float
    ends_at: float
    duration_seconds: float
    ended_by: str | None = None  # "expired" | "recovered" | None while active

    def as_dict(self) -> dict[str, Any]:
        return {
            "failure": self.failure,
            "started_at": iso(self.started_at),
            "ends_at": iso(self.ends_at),
            "duration_seconds": self.duration_seconds,
            "ended_by": self.ended_by,
        }


class Node:
    """One simulated node as served over HTTP. Not thread-safe: one event loop drives it."""

    def __init__(
        self,
        node_id: int,
        *,
        seed: int = 0,
        journal: Journal | None = None,
        clock: Clock = time.time,
        params: ModelParams | None = None,
        started_at: float | None = None,
        origin: Origin | None = None,
    ) -> None:
        """`started_at` (wall-clock epoch, default now) is the model's time zero; a node
        that continues a backfilled past starts at the past's beginning, with its counters
        from `origin` (see labkit.past)."""
        self.node_id = node_id
        self.clock = clock
        self.started_at = clock() if started_at is None else started_at
        self.schedule = FaultSchedule()
        self.model = NodeModel(
            node_id, seed=seed, schedule=self.schedule, params=params, origin=origin
        )
        self.journal = journal or Journal(None)
        self.history: list[FaultRecord] = []
        self._open: dict[str, FaultRecord] = {}  # active (not yet journalled as ended)

    # -- time ------------------------------------------------------------------------------

    def model_time(self, wall: float) -> float:
        return wall - self.started_at

    def wall_time(self, t: float) -> float:
        return self.started_at + t

    # -- faults ----------------------------------------------------------------------------

    def expire_due(self, now: float | None = None) -> list[str]:
        """Journal every fault whose time is up; returns the modes that expired."""
        now = self.clock() if now is None else now
        expired = [m for m, rec in self._open.items() if rec.ends_at <= now]
        for mode in expired:
            rec = self._open.pop(mode)
            rec.ended_by = "expired"
            self.journal.append(
                "expire", rec.ends_at, self.node_id, mode, duration_seconds=rec.duration_seconds
            )
        return expired

    def next_expiry(self) -> float | None:
        """Wall-clock time of the next fault to expire, None when nothing is active."""
        return min((rec.ends_at for rec in self._open.values()), default=None)

    def inject(
        self, failure: str, duration_seconds: float = DEFAULT_DURATION_SECONDS
    ) -> dict[str, Any]:
        """Start `failure` now for `duration_seconds`; restarts its timer if already active."""
        failure = check_failure(failure)
        duration = check_duration(duration_seconds)
        now = self.clock()
        self.expire_due(now)
        t = self.model_time(now)
        restarted = failure in self._open
        if restarted:
            window = self.schedule.set_end(failure, t + duration)
            rec = self._open[failure]
            rec.ends_at, rec.duration_seconds = self.wall_time(window.end), duration
        else:
            self.schedule.add(FaultWindow(failure, t, t + duration))
            rec = FaultRecord(failure, now, now + duration, duration)
            self._open[failure] = rec
            self.history.append(rec)
        self.journal.append(
            "inject",
            now,
            self.node_id,
            failure,
            duration_seconds=duration,
            ends_at=round(rec.ends_at, 3),
            restarted=restarted,
        )
        return {
            "node": self.node_id,
            "failure": failure,
            "duration_seconds": duration,
            "started_at": iso(rec.started_at),
            "ends_at": iso(rec.ends_at),
            "restarted": restarted,
        }

    def recover(self, failure: str | None = None) -> list[str]:
        """End `failure` (or every active fault) now; returns the modes that were ended."""
        if failure is not None:
            check_failure(failure)
        now = self.clock()
        self.expire_due(now)
        modes = [m for m in FAILURE_MODES if m in self._open and failure in (None, m)]
        for mode in modes:
            rec = self._open.pop(mode)
            self.schedule.set_end(mode, self.model_time(now))
            rec.ends_at, rec.ended_by = now, "recovered"
            self.journal.append(
                "recover", now, self.node_id, mode, duration_seconds=rec.duration_seconds
            )
        return modes

    def stop(self, reason: str = "fleet-stopped") -> list[str]:
        """End every active fault now because the node itself stops (its fleet is shutting
        down): journalled as a recovery with `reason`, so the journal's ground truth does not
        claim a fault ran on a node that no longer served. Returns the modes ended."""
        now = self.clock()
        self.expire_due(now)
        modes = [m for m in FAILURE_MODES if m in self._open]
        for mode in modes:
            rec = self._open.pop(mode)
            rec.ends_at, rec.ended_by = now, reason
            self.journal.append(
                "recover",
                now,
                self.node_id,
                mode,
                duration_seconds=rec.duration_seconds,
                reason=reason,
            )
        return modes

    def faults(self) -> dict[str, Any]:
        """Active faults with their time left, and the node's whole fault history."""
        now = self.clock()
        self.expire_due(now)
        active = [
            {
                "failure": m,
                "started_at": iso(self._open[m].started_at),
                "ends_at": iso(self._open[m].ends_at),
                "seconds_left": round(self._open[m].ends_at - now, 3),
            }
            for m in FAILURE_MODES
            if m in self._open
        ]
        return {
            "node": self.node_id,
            "now": iso(now),
            "active": active,
            "history": [rec.as_dict() for rec in self.history],
        }

    # -- series ----------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        now = self.clock()
        if self._open:
            self.expire_due(now)
        return self.model.at(self.model_time(now))

    def crash_seconds_left(self) -> float | None:
        rec = self._open.get("node_crash")
        if rec is None:
            return None
        left = rec.ends_at - self.clock()
        return left if left > 0 else None
