"""Lesson 6's exercise as plain functions: a noisy alert, a silence, and what the receiver got
while the silence held.

check_silence('alertname=... node=...', node=6)    -> Feedback: right, or what else it silences
check_route("critical", {"severity": "critical"}, tree)  -> Feedback: right, or why not
lab_routes()                   the lab's routing tree, from alertmanager/alertmanager.yml (no lab)
prepare(lab, node)             the node at rest, its noisy alert gone, no silence left on it
fire_and_resolve(lab, node)    the noisy fault once: its firing and resolved notifications
watch(lab, node, seconds)      what the receiver got for the node meanwhile, with a summary
held(watched)                  whether the silence held, in one sentence
notified_after(lab, node, t)   wait for the noisy alert's notification after time t

The graders are pure: they test the answer against every alert the lab can fire (`lab_alerts`,
the seed's seven per node and the SLO burn-rate alerts), with Alertmanager's matching.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from labkit import alerts, slo_spec
from labkit import alertview as av
from labkit.alerts import INTENDED
from labkit.errors import LabkitError
from labkit.lessons import grading
from labkit.lessons.grading import Feedback, Finding
from labkit.matchers import labels_text, matchers_text, matches_all
from labkit.routing import Route, parse_routes, receivers_for
from labkit.words import plural

if TYPE_CHECKING:
    import pandas as pd

    from labkit.lab import Lab

NODE = 6  # lessons 1-3 use nodes 1 to 5; this one stays out of their way
FAILURE = "cpu_spike"  # the noisy fault
ALERT = INTENDED[FAILURE]  # and the alert it fires


def seed_alerts() -> dict[str, str]:
    """The seed's alerts (prometheus/rules/alerts.yml) and their severities: one per node."""
    return {a.name: a.severity for a in alerts.seed()}


def slo_alerts() -> dict[str, tuple[str, bool]]:
    """The SLO alerts generated from slo/edge.yml: alertname -> (sloth_slo, one per node)."""
    return {s.alert_name: (s.name, "by (node)" in s.error_query)
            for s in slo_spec.load(slo_spec.LAB_SPEC)}  # fmt: skip


def noisy_labels(node: int = NODE) -> dict[str, str]:
    return {
        "alertname": ALERT,
        "node": str(node),
        "severity": alerts.named(ALERT).severity,
        "instance": f"127.0.0.1:{8000 + node}",
        "job": "edge-nodes",
    }


def lab_alerts(nodes: int = 12) -> list[dict[str, str]]:
    """The label sets of every alert the lab can fire (instance as in the default layout)."""
    out = []
    for node in range(1, nodes + 1):
        base = {**noisy_labels(node)}
        out += [{**base, "alertname": name, "severity": sev} for name, sev in seed_alerts().items()]
    for name, (slo, per_node) in slo_alerts().items():
        for severity, sloth in (("critical", "page"), ("warning", "ticket")):
            labels = {
                "alertname": name,
                "severity": severity,
                "sloth_severity": sloth,
                "sloth_slo": slo,
                "sloth_service": "edge",
                "category": slo.split("-")[-1],
            }
            out += (
                [{**labels, "node": str(n)} for n in range(1, nodes + 1)] if per_node else [labels]
            )
    return out


def _name(labels: Mapping[str, str]) -> str:
    where = f" on node {labels['node']}" if labels.get("node") else " (fleet)"
    sloth = f" ({labels['sloth_severity']})" if labels.get("sloth_severity") else ""
    return f"{labels['alertname']}{sloth}{where}"


SILENCE_POINTS = 2.0
ROUTE_POINTS = 1.0


def check_silence(answer: str | Sequence[str] | None, node: int = NODE) -> Feedback:
    """Lesson 6's exercise: do these matchers silence the noisy alert (ALERT) on `node`, and
    nothing else the lab can fire? Pure: every alert the lab can fire comes from its rule files.
    Half the points when it silences the alert and more besides."""
    if answer is None or (isinstance(answer, str) and not answer.strip()):
        return grading.not_answered(SILENCE_POINTS, "Set `answer` to your matchers, in amtool's "
                                    "syntax (name=value, name=~regex, ...), and run the cell "
                                    "again.")  # fmt: skip
    try:
        request = av.silence_request(answer, 60, "learner", "checking")
    except LabkitError as exc:
        return grading.wrong(SILENCE_POINTS, "Not yet: the matchers do not parse.",
                             Finding("malformed", str(exc)))  # fmt: skip
    ms, target = request.matchers, noisy_labels(node)
    text = matchers_text(ms)
    if any(m.name == "instance" for m in ms):
        return grading.wrong(
            SILENCE_POINTS,
            f"Almost: {text} names instance.",
            Finding(
                "wrong value",
                "instance is an address, which changes when the lab runs on other ports.",
                node=node,
                hint="Name the node with the node label instead.",
            ),
        )
    if not matches_all(ms, target):
        labels = labels_text({k: v for k, v in target.items() if k != "instance"})
        return grading.wrong(SILENCE_POINTS, f"Not yet: {text} does not silence the noisy "
                             "alert.", Finding("miss", f"{ALERT} on node {node} is not "
                                               "silenced.", node=node,
                                               hint=f"Its labels are {labels}; every matcher "
                                               "must hold for them."))  # fmt: skip
    others = [a for a in lab_alerts(max(12, node)) if a != target and matches_all(ms, a)]
    if not others:
        return grading.right(SILENCE_POINTS, f"Right: {text} silences {ALERT} on node {node} "
                             "and nothing else the lab can fire.")  # fmt: skip
    same_alert = sorted({int(a["node"]) for a in others if a["alertname"] == ALERT})
    same_node = sorted({_name(a) for a in others if a.get("node") == str(node)})
    findings = []
    if same_alert:
        nodes = "node" if len(same_alert) == 1 else "nodes"
        findings.append(
            Finding(
                "too wide",
                f"also silences {ALERT} on {nodes} {', '.join(map(str, same_alert[:5]))}"
                f"{' and more' if len(same_alert) > 5 else ''}.",
                hint="Pin the node.",
            )
        )
    if same_node:
        findings.append(
            Finding(
                "too wide",
                f"also silences {', '.join(same_node[:3])}"
                f"{' and more' if len(same_node) > 3 else ''}.",
                node=node,
                hint="Name the alert.",
            )
        )
    if not findings:
        findings.append(
            Finding(
                "too wide",
                "also silences " + ", ".join(sorted({_name(a) for a in others})[:3]) + ".",
            )
        )
    count = f"{len(others)} other alert{'s' if len(others) > 1 else ''}"
    return grading.wrong(SILENCE_POINTS, f"Not yet: {text} also silences {count}.", *findings,
                         points=SILENCE_POINTS / 2)  # fmt: skip


def lab_routes() -> Route:
    """The routing tree every lab runs: alertmanager/alertmanager.yml's `route:` (a lab renders
    its Alertmanager's configuration from that file, changing only the webhooks' addresses)."""
    from labkit.resources import PROJECT

    return parse_routes((PROJECT / "alertmanager" / "alertmanager.yml").read_text())


def check_route(
    answer: str | None, labels: Mapping[str, str], tree: Route | None = None
) -> Feedback:
    """Which receiver does an alert with these labels go to? Graded against the real tree (by
    default the lab's: `lab_routes()`, so a submission is graded with no lab running)."""
    tree = lab_routes() if tree is None else tree
    truth = receivers_for(tree, labels)
    if not answer:
        return grading.not_answered(ROUTE_POINTS, "Set `prediction` to a receiver's name and "
                                    "run the cell again.")  # fmt: skip
    if not isinstance(answer, str):
        return grading.wrong(ROUTE_POINTS, "Not yet: the prediction is not a name.",
                             Finding("malformed", "The prediction should be a receiver's name, "
                                     f"as a string; got {answer!r}."))  # fmt: skip
    if [answer.strip()] == truth:
        return grading.right(ROUTE_POINTS, f"Right: {labels_text(labels)} goes to {truth[0]}. "
                             "Alertmanager tries the root's children top to bottom and stops at "
                             "the first whose matchers all hold.")  # fmt: skip
    known = sorted({r.receiver for r in _walk(tree)})
    if answer.strip() not in known:
        return grading.wrong(ROUTE_POINTS, f"Not yet: {answer!r} is not a receiver here.",
                             Finding("wrong value", f"This tree's receivers are "
                                     f"{', '.join(known)}."))  # fmt: skip
    return grading.wrong(
        ROUTE_POINTS,
        f"Not yet: not {answer.strip()}.",
        Finding(
            "wrong value",
            f"{labels_text(labels)} goes to another receiver.",
            hint="Try the children of the root in order; which is the first whose matchers all "
            "hold? Only if none does, the root's own receiver takes it.",
        ),
    )


def _walk(route: Route) -> list[Route]:
    return [route, *(r for child in route.routes for r in _walk(child))]


# -- the live steps ------------------------------------------------------------------------------


def _wait(what: str, check: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        if time.monotonic() > deadline:
            raise LabkitError(f"gave up waiting for {what} after {timeout:.0f} s")
        time.sleep(0.25)
    return found


def noisy_alert(lab: Lab, node: int = NODE) -> av.Alert | None:
    """The noisy alert as Alertmanager holds it now (None when it holds none)."""
    for group in av.groups(lab.alertmanager_url):
        for alert in group.alerts:
            if (alert.alertname, alert.node) == (ALERT, str(node)):
                return alert
    return None


def _notes(lab: Lab, node: int, since: float) -> list[dict[str, Any]]:
    notes = av.notifications(lab.receiver_url, limit=10_000, since=since)
    return [n for n in reversed(notes) if n.get("node") == str(node)]  # oldest first


def _frame(notes: list[dict[str, Any]], since: float) -> pd.DataFrame:
    import pandas as pd

    rows = [
        {
            "after_seconds": round(float(n["ts"]) - since, 2),
            "receiver": n.get("route"),
            "status": n.get("status"),
            "alertname": n.get("alertname"),
            "node": n.get("node"),
            "severity": n.get("severity"),
        }
        for n in notes
    ]
    columns = ["after_seconds", "receiver", "status", "alertname", "node", "severity"]
    return pd.DataFrame(rows, columns=columns)


def prepare(lab: Lab, node: int = NODE, timeout: float = 60) -> str:
    """Start clean: expire any silence that covers the noisy alert, recover the node, and wait
    until Alertmanager no longer holds the alert."""
    expired = 0
    for s in av.silences(lab.alertmanager_url):
        if s.state != "expired" and matches_all(s.matchers, noisy_labels(node)):
            av.expire_silence(lab.alertmanager_url, s.id)
            expired += 1
    lab.recover(node)
    _wait(f"{ALERT} on node {node} to resolve", lambda: noisy_alert(lab, node) is None, timeout)
    return f"Node {node} is at rest and Alertmanager holds no {ALERT} for it" + (
        f"; {plural(expired, 'earlier silence')} of it expired." if expired else "."
    )


def fire_and_resolve(lab: Lab, node: int = NODE, timeout: float = 30) -> pd.DataFrame:
    """Inject the noisy fault, wait for the firing notification, recover, wait for the resolved
    one; the node's notifications meanwhile (seconds after the injection)."""
    for attempt in (1, 2):
        start = time.time()
        lab.inject(node, FAILURE, 60)

        def got(status: str, since: float = start) -> bool:
            return any(
                (n["alertname"], n["status"]) == (ALERT, status) for n in _notes(lab, node, since)
            )

        try:
            _wait(f"a notification of {ALERT} on node {node}", lambda: got("firing"), 15)
        except LabkitError:
            if attempt == 2 or noisy_alert(lab, node) is None:
                raise
            # Alertmanager holds the alert but sends nothing: its notification log says the
            # receiver already knows it fires (its resolution was silenced in an earlier run).
            # Resolving it is notified and clears that; then the next firing is notified again.
            print(f"Alertmanager holds {ALERT} on node {node} but notified nobody: it believes "
                  "the receiver already knows (a silence swallowed the last resolution). "
                  "Recovering once clears that; trying again.")  # fmt: skip
        lab.recover(node)
        _wait(f"the resolved notification of {ALERT}", lambda: got("resolved"), timeout)
        if got("firing"):
            return _frame(_notes(lab, node, start), start)
    raise LabkitError(f"{ALERT} on node {node} was never notified")  # not reached


def watch(
    lab: Lab, node: int = NODE, seconds: float = 8, since: float | None = None
) -> pd.DataFrame:
    """Wait until Alertmanager holds the noisy alert, then `seconds` more; print what it held
    and what the receiver got for the node."""
    since = time.time() if since is None else since
    alert = _wait(f"{ALERT} on node {node} in Alertmanager", lambda: noisy_alert(lab, node), 20)
    time.sleep(seconds)
    how = (
        f"suppressed, silenced by {', '.join(alert.silenced_by)}"
        if alert.silenced_by
        else alert.state
    )
    notes = _notes(lab, node, since)
    noisy = [n for n in notes if n["alertname"] == ALERT]
    others = sorted({str(n["alertname"]) for n in notes} - {ALERT})
    print(f"Alertmanager holds {ALERT} on node {node}: {how}.")
    print(
        f"In the {time.time() - since:.0f} s watched (the last {seconds:.0f} s of them with the "
        f"alert held), the receiver got {plural(len(noisy), 'notification')} of {ALERT} on node "
        f"{node}"
        + (f"; it got some of node {node}'s other alerts: {', '.join(others)}." if others else ".")
    )
    frame = _frame(notes, since)
    frame.attrs.update(node=node, silenced=bool(alert.silenced_by), noisy=len(noisy))
    return frame


def held(watched: pd.DataFrame) -> str:
    """One sentence on what `watch` saw: whether the silence held (Alertmanager held the
    noisy alert as suppressed and the receiver got no notification of it), the same on every
    run where it did."""
    node, noisy = watched.attrs["node"], watched.attrs["noisy"]
    if not watched.attrs["silenced"]:
        return f"not silenced: Alertmanager holds {ALERT} on node {node} as active"
    if noisy:
        return (f"the silence leaked: {plural(noisy, 'notification')} of {ALERT} on node "
                f"{node} came while it held")  # fmt: skip
    return f"the silence held: {ALERT} on node {node} suppressed, and no notification of it came"


def notified_after(
    lab: Lab, node: int = NODE, since: float | None = None, timeout: float = 15
) -> pd.DataFrame:
    """Wait for a firing notification of the noisy alert after `since`; print how long after."""
    since = time.time() if since is None else since

    def firing() -> list[dict[str, Any]]:
        return [
            n
            for n in _notes(lab, node, since)
            if (n["alertname"], n["status"]) == (ALERT, "firing")
        ]

    try:
        first = _wait(f"a notification of {ALERT} on node {node}", firing, timeout)[0]
    except LabkitError:
        alert = noisy_alert(lab, node)
        if alert is None:
            raise LabkitError(
                f"{ALERT} on node {node} is no longer firing (its fault ended), so "
                "there is nothing to notify: inject it again, then rerun."
            ) from None
        if alert.silenced_by:
            raise LabkitError(
                f"{ALERT} on node {node} is still silenced, by "
                f"{', '.join(alert.silenced_by)}: expire that silence too."
            ) from None
        raise
    print(
        f"The receiver got {ALERT} on node {node} ({first['status']}) "
        f"{float(first['ts']) - since:.1f} s after the silence ended."
    )
    return _frame(_notes(lab, node, since), since)
