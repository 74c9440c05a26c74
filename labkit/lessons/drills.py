"""Lesson 2's exercise as plain functions: predict, inject, time the detection, recover.

check_predictions({"cpu_spike": "<an alert>", ...})       -> a verdict per failure mode
drill(lab, "cpu_spike", node=1)                          -> how long detection took
at_rest(lab)                                             -> "Recovered ...; no drill alert
                                                            firing: ready." (the known state
                                                            a rerun starts from)
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from labkit import alerts
from labkit.alerts import INTENDED
from labkit.errors import LabkitError
from labkit.failures import FAILURE_MODES
from labkit.lessons.panel import detection_times, inject

if TYPE_CHECKING:
    import pandas as pd

    from labkit.lab import Lab


def check_predictions(predictions: dict[str, str | None]) -> pd.DataFrame:
    """One row per failure mode: your answer and whether it is the alert the mode is meant to
    fire, with a hint when it is not."""
    import pandas as pd

    rows = []
    for failure in FAILURE_MODES:
        answer = predictions.get(failure)
        expected = INTENDED[failure]
        if answer is None or answer == "":
            verdict = "not answered yet"
        elif answer == expected:
            verdict = "right"
        elif answer not in alerts.names():
            verdict = f"{answer!r} is not one of the lab's alerts: {', '.join(alerts.names())}"
        else:
            verdict = f"not quite: {answer} may fire too, but {failure} is meant for another"
        rows.append({"failure": failure, "your answer": answer, "verdict": verdict})
    return pd.DataFrame(rows).set_index("failure")


def _wait(what: str, check: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise LabkitError(f"gave up waiting for {what} after {timeout:.0f} s")
        time.sleep(0.2)


def drill_nodes() -> dict[str, int]:
    """The node each failure mode is drilled on: node 1 for the first mode, and so on."""
    return {failure: node for node, failure in enumerate(FAILURE_MODES, start=1)}


RESOLUTION_SECONDS = 5.0  # how long a resolution takes to reach the receiver, at most


def held(lab: Lab, pairs: set[tuple[str, str]]) -> list[str]:
    """The (alertname, node) pairs firing in Prometheus or still held by Alertmanager."""
    labels = [a["labels"] for a in lab.prometheus_alerts() + lab.alertmanager_alerts()]
    found = {(n["alertname"], n.get("node", "")) for n in labels} & pairs
    return sorted(f"{alert} on node {node}" for alert, node in found)


def unresolved(lab: Lab, pairs: set[tuple[str, str]]) -> list[str]:
    """The pairs whose last notification (within Alertmanager's repeat interval) says firing."""
    last: dict[tuple[str, str], str] = {}
    for note in lab.notifications(since=time.time() - 3600):
        last[(note["alertname"], str(note["node"]))] = note["status"]
    return sorted(f"{a} on node {n}" for (a, n), status in last.items()
                  if status == "firing" and (a, n) in pairs)  # fmt: skip


def settle(lab: Lab, pairs: set[tuple[str, str]], timeout: float = 60) -> None:
    """Wait until none of `pairs` fires, and the receiver has had each one's resolution.

    The second half matters: Alertmanager flushes a group once per group_interval, and an alert
    that resolves and fires again within one flush is, to Alertmanager, an alert that never
    stopped, already notified: the new firing would not be notified until repeat_interval (1 h).
    A resolution that does not come within RESOLUTION_SECONDS (say, one an earlier lab owed)
    is not waited for longer."""
    try:
        _wait("the alerts to clear", lambda: not held(lab, pairs), timeout)
    except LabkitError:
        raise LabkitError(
            f"still firing after {timeout:.0f} s: {', '.join(held(lab, pairs))}. Is a scenario or "
            "another notebook injecting faults? Stop it, then rerun this cell."
        ) from None
    deadline = time.monotonic() + RESOLUTION_SECONDS
    while unresolved(lab, pairs) and time.monotonic() < deadline:
        time.sleep(0.2)


def at_rest(lab: Lab, timeout: float = 60) -> str:
    """Recover every node, then wait until no drill alert (a mode's intended alert on its drill
    node) fires or waits for its resolution to be notified, so a drill measures its own alert,
    not one an earlier run left firing. A short summary; LabkitError after `timeout`."""
    ended = {node: modes for node, modes in lab.recover("all").items() if modes}
    settle(lab, {(INTENDED[f], str(n)) for f, n in drill_nodes().items()}, timeout)
    done = "; ".join(f"{', '.join(m)} on node {n}" for n, m in sorted(ended.items()))
    return (f"Recovered {done}. " if done else "No fault was active. ") + (
        "No drill alert is firing: ready."
    )


def drill(lab: Lab, failure: str, node: int, timeout: float = 40) -> dict[str, Any]:
    """Inject `failure` on `node`, wait for its intended alert in Prometheus and at the
    receiver, recover, wait for the alert to clear; return the times. A fault of this mode
    still active on the node (injected from the panel, say) is ended first, and its alert
    waited out (`settle`, cheap when there is none), so the times are this drill's own."""
    lab.recover([node], failure)
    settle(lab, {(INTENDED[failure], str(node))}, timeout)
    injection = inject(lab, [node], failure, 120)
    started = injection.started_at[node]
    alert = injection.alert

    def fired() -> tuple[float] | None:  # a tuple: a detection after 0.0 s is still found
        seconds = detection_times(injection, lab.prometheus_alerts())[node]
        return None if seconds is None else (seconds,)

    def notified() -> tuple[float] | None:
        for note in lab.notifications(since=started):
            if (note["alertname"], note["node"], note["status"]) == (alert, str(node), "firing"):
                return (float(note["ts"]) - started,)
        return None

    def cleared() -> bool:
        return not any(
            a["labels"]["alertname"] == alert and a["labels"].get("node") == str(node)
            for a in lab.prometheus_alerts()
        )

    (detected,) = _wait(f"{alert} on node {node}", fired, timeout)
    (at_receiver,) = _wait(f"a notification of {alert}", notified, timeout)
    lab.recover([node], failure)
    _wait(f"{alert} on node {node} to resolve", cleared, timeout)
    return {
        "failure": failure,
        "node": node,
        "alert": alert,
        "detected_after_seconds": round(detected, 2),
        "notified_after_seconds": round(at_receiver, 2),
    }
