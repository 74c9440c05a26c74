"""The alert receiver's journal, for people: `labkit notifications`.

    newest(path, 20)           the 20 newest records, newest first
    table(records, now)        them as an aligned text table
    follow(path, out)          print new ones as they arrive, until Ctrl-C

The journal (`.lab/journal/notifications.jsonl`, written by labkit.receiver) holds one JSON
object per alert per notification, with the time it arrived; it outlives `labkit down`, so it
also answers "what was notified in an earlier lab".
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from labkit.words import duration

HEAD = ("RECEIVED (UTC)", "AGO", "STATUS", "ALERT", "NODE", "SEVERITY", "ROUTE", "WHAT")
POLL_SECONDS = 0.5


def _records(lines: list[str]) -> list[dict[str, Any]]:
    out = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:  # a line cut by a crash mid-write: skip it
            continue
        if isinstance(record, dict):
            out.append(record)
    return out


def newest(path: Path, limit: int = 20) -> list[dict[str, Any]]:
    """The `limit` newest records, newest first ([] when there is no journal yet)."""
    try:
        with path.open(encoding="utf-8") as f:
            tail = deque(f, maxlen=limit)
    except FileNotFoundError:
        return []
    return _records(list(tail))[::-1]


def _received(record: dict[str, Any], now: float) -> str:
    moment = datetime.fromtimestamp(float(record.get("ts", 0)), UTC)
    today = datetime.fromtimestamp(now, UTC).date()
    return moment.strftime("%H:%M:%S" if moment.date() == today else "%b %d %H:%M:%S")


def row(record: dict[str, Any], now: float) -> tuple[str, ...]:
    """One record's cells, as HEAD names them (the date only when not `now`'s day)."""
    ts = float(record.get("ts", 0))
    notes = record.get("annotations") or {}
    what = notes.get("description") or notes.get("summary") or ""
    return (
        _received(record, now),
        f"{duration(max(now - ts, 0))} ago",
        str(record.get("status") or "-"),
        str(record.get("alertname") or "-"),
        str(record.get("node") or "-"),
        str(record.get("severity") or "-"),
        str(record.get("route") or "-"),
        str(what),
    )


def table(records: list[dict[str, Any]], now: float | None = None) -> str:
    """The records as an aligned table, in the order given, with a header."""
    now = time.time() if now is None else now
    rows = [HEAD, *(row(r, now) for r in records)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEAD) - 1)]
    return "\n".join(
        "  ".join([*(c.ljust(w) for c, w in zip(r, widths, strict=False)), r[-1]]).rstrip()
        for r in rows
    )


_FOLLOW_WIDTHS = (14, 8, 28, 5, 8, 10)  # RECEIVED, STATUS, ALERT, NODE, SEVERITY, ROUTE


def _follow_line(record: dict[str, Any] | None) -> str:
    cells = HEAD if record is None else row(record, time.time())
    cells = (cells[0], *cells[2:])  # no AGO: the line stays as printed
    shown = [c.ljust(w) for c, w in zip(cells, _FOLLOW_WIDTHS, strict=False)]
    return "  ".join([*shown, cells[-1]]).rstrip()


def follow(
    path: Path,
    out: TextIO,
    *,
    limit: int = 20,
    as_json: bool = False,
    stop: Callable[[], bool] = lambda: False,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Print the `limit` newest records oldest first (like tail -f), then every new one as
    it is journalled, until Ctrl-C (or `stop()`); returns the exit code, 0."""

    def emit(record: dict[str, Any]) -> None:
        print(json.dumps(record) if as_json else _follow_line(record), file=out, flush=True)

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # SIGTERM (a supervisor, `timeout`, `kill`) ends it as cleanly as Ctrl-C does
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, interrupted)
    try:
        if not as_json:
            print(_follow_line(None), file=out, flush=True)
        offset = 0
        if path.exists():  # the newest up to a known size; what comes after, as it comes
            with path.open("rb") as f:
                head = f.read()
            offset = head.rfind(b"\n") + 1  # a line half-written now is read with the next
            lines = head[:offset].decode("utf-8", errors="replace").splitlines()
            for record in _records(lines[-limit:]):
                emit(record)
        pending = ""
        while not stop():
            size = path.stat().st_size if path.exists() else 0
            if size < offset:  # the journal was replaced: start again from its top
                offset, pending = 0, ""
            if size > offset:
                with path.open("rb") as f:
                    f.seek(offset)
                    chunk = f.read(size - offset)
                offset = size
                pending += chunk.decode("utf-8", errors="replace")
                *complete, pending = pending.split("\n")
                for record in _records(complete):
                    emit(record)
            sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0
