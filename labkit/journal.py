"""The injection journal: one JSON object per line, appended as faults start and end.

Each line: {"time": ISO-8601 UTC, "ts": epoch seconds, "event": "inject" | "expire" |
"recover", "node": id, "failure": mode, "duration_seconds": requested duration (inject),
"ends_at": epoch seconds the fault ends (inject), "restarted": true when an active fault's
timer was restarted}. Times are wall-clock; an expiry carries the moment the fault ended, not
the moment it was noticed.
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


def read_journal(path: Path | str) -> Iterator[dict[str, Any]]:
    """The journal's records in order; a missing file is an empty journal."""
    p = Path(path)
    if not p.exists():
        return
    with p.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)
