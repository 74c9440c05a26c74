"""The injection journal: one JSON object per line, appended as faults start and end.

Each line: {"time": ISO-8601 UTC, "ts": epoch seconds, "event": "inject" | "expire" |
"recover", "node": id, "failure": mode, "duration_seconds": requested duration (inject),
"ends_at": epoch seconds the fault ends (inject), "restarted": true when an active fault's
timer was restarted, "reason" (recover, when no one asked for it): "fleet-stopped" (the fleet
was stopped with the fault active) or "fleet-died" (the fleet ended without stopping, found by
the next fleet: the fault ended when it was last seen alive, within HEARTBEAT_SECONDS)}.
Times are wall-clock; an expiry carries the moment the fault ended, not the moment it was
noticed.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Journal:
    """Append-only JSON-lines file; safe to share between the nodes of one process."""

    def __init__(self, path: Path | str | None) -> None:
        self.path = Path(path) if path is not None else None
        self._lock = threading.Lock()
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, event: str, ts: float, node: int, failure: str, **fields: Any) -> None:
        if self.path is None:
            return
        record = {"time": iso(ts), "ts": round(ts, 3), "event": event, "node": node}
        record["failure"] = failure
        record.update(fields)
        line = json.dumps(record, separators=(",", ":")) + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as f:
            f.write(line)


#: How often a running fleet touches its heartbeat file (close_orphans reads it).
HEARTBEAT_SECONDS = 1.0


def _is_event(e: dict[str, Any]) -> bool:
    return (
        isinstance(e.get("node"), int)
        and isinstance(e.get("ts"), int | float)
        and (e.get("event") in ("inject", "expire", "recover"))
    )


def open_faults(events: list[dict[str, Any]]) -> dict[tuple[int, str], dict[str, Any]]:
    """The faults a journal holds as not ended: {(node, failure): their latest inject}."""
    active: dict[tuple[int, str], dict[str, Any]] = {}
    for e in events:
        key = (int(e["node"]), str(e["failure"]))
        if e["event"] == "inject":
            active[key] = e
        elif e["event"] in ("expire", "recover"):
            active.pop(key, None)
    return active


def close_orphans(journal: Journal, last_alive: float | None, now: float) -> int:
    """End in `journal` the faults an earlier fleet left open because it ended without
    stopping (killed, out of memory, the machine rebooted): a fault whose planned end came
    before the fleet was last alive expired then; any other ended when the fleet was last
    alive (`last_alive`, its heartbeat; `now` when unknown). Returns how many were ended."""
    if journal.path is None:
        return 0
    events: list[Any] = []
    text = (
        journal.path.read_text(encoding="utf-8", errors="replace") if journal.path.exists() else ""
    )
    if text and not text.endswith("\n"):  # cut short by a kill: what follows on a line of its own
        with journal.path.open("a", encoding="utf-8") as f:
            f.write("\n")
    for line in text.splitlines():
        try:  # a line cut short by a kill is no reason for the next fleet not to start
            events.append(json.loads(line))
        except ValueError:
            continue
    orphans = open_faults([e for e in events if isinstance(e, dict) and _is_event(e)])
    gone = min(last_alive, now) if last_alive is not None else now
    endings = []
    for (node, failure), e in orphans.items():
        ends_at = float(e.get("ends_at", gone))
        extra = {"duration_seconds": e.get("duration_seconds")}
        if ends_at <= gone:
            endings.append((ends_at, "expire", node, failure, extra))
        else:
            end = max(gone, float(e["ts"]))
            endings.append((end, "recover", node, failure, {**extra, "reason": "fleet-died"}))
    for ts, event, node, failure, extra in sorted(endings, key=lambda x: (x[0], x[2])):
        journal.append(event, ts, node, failure, **extra)
    return len(orphans)


def read_journal(path: Path | str) -> Iterator[dict[str, Any]]:
    """The journal's records in order; a missing file is an empty journal."""
    p = Path(path)
    if not p.exists():
        return
    with p.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)
