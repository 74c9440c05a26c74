"""The Alertmanager view's logic: silence validation, distinguishing labels, amtool command
lines and HTML (pure), then against the real Alertmanager of the shared lab: bad input creates
nothing, a silence's life (create, suppress, expire), and the amtool commands run for real.

Live tests post their own alerts to Alertmanager (an alertname of their own, severity info),
so they neither wait for nor disturb the node faults other tests inject."""

from __future__ import annotations

import json
import math
import shlex
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from labkit import alertview as av
from labkit import alertview_html as html_view
from labkit.amtool import Amtool, prom_duration
from labkit.client import request_json
from labkit.errors import InvalidInput, LabkitError, ServiceUnreachable
from labkit.journal import iso
from tests.conftest import free_ports, wait_for

AMTOOL = "/usr/bin/amtool"

# -- validation before anything is sent ---------------------------------------------------------

GOOD = ("alertname=HighCPUUsage node=6", 600, "learner", "noisy during the drill")
BAD_SILENCES = [
    # (matchers, duration_seconds, creator, comment, the field the error names, its value)
    ("", 600, "learner", "why", "matchers", ""),
    ([], 600, "learner", "why", "matchers", []),
    ("=HighCPUUsage", 600, "learner", "why", "matcher name", ""),
    ("alert name=X", 600, "learner", "why", "matchers", "alert name=X"),
    ("node=~[", 600, "learner", "why", "regular expression of node=~", "["),
    ('node!~"(6"', 600, "learner", "why", "regular expression of node!~", "(6"),
    ('node!="6"', 600, "learner", "why", "matchers", 'node!="6"'),  # would silence everything
    ('node=~".*"', 600, "learner", "why", "matchers", 'node=~".*"'),
    (GOOD[0], 0, "learner", "why", "duration_seconds", 0),
    (GOOD[0], -60, "learner", "why", "duration_seconds", -60),
    (GOOD[0], 0.5, "learner", "why", "duration_seconds", 0.5),
    (GOOD[0], math.nan, "learner", "why", "duration_seconds", math.nan),
    (GOOD[0], math.inf, "learner", "why", "duration_seconds", math.inf),
    (GOOD[0], 7 * 86400 + 1, "learner", "why", "duration_seconds", 7 * 86400 + 1),
    (GOOD[0], "10m", "learner", "why", "duration_seconds", "10m"),
    (GOOD[0], True, "learner", "why", "duration_seconds", True),
    (GOOD[0], 600, "", "why", "creator", ""),
    (GOOD[0], 600, "   ", "why", "creator", "   "),
    (GOOD[0], 600, None, "why", "creator", None),
    (GOOD[0], 600, "learner", "", "comment", ""),
    (GOOD[0], 600, "learner", " \t", "comment", " \t"),
]


def same(a: Any, b: Any) -> bool:
    return a == b or (
        isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)
    )


@pytest.mark.parametrize(
    ("matchers", "duration", "creator", "comment", "field", "value"), BAD_SILENCES
)
def test_bad_silences_are_refused_naming_the_field_and_the_value(
    matchers: Any, duration: Any, creator: Any, comment: Any, field: str, value: Any
) -> None:
    with pytest.raises(InvalidInput) as caught:
        av.silence_request(matchers, duration, creator, comment)
    assert caught.value.field == field and same(caught.value.value, value)
    assert caught.value.allowed in str(caught.value)


def test_a_good_silence_request_and_its_body() -> None:
    request = av.silence_request(*GOOD)
    body = request.body(now=1_800_000_000.0)
    assert body["startsAt"] == "2027-01-15T08:00:00.000Z"
    assert body["endsAt"] == "2027-01-15T08:10:00.000Z"
    assert body["matchers"] == [
        {"name": "alertname", "value": "HighCPUUsage", "isRegex": False, "isEqual": True},
        {"name": "node", "value": "6", "isRegex": False, "isEqual": True},
    ]
    assert (body["createdBy"], body["comment"]) == ("learner", "noisy during the drill")


# -- amtool command lines --------------------------------------------------------------------------


@pytest.mark.parametrize(("seconds", "text"), [(600, "10m"), (5400, "1h30m"), (20, "20s"), (90, "1m30s"),
                                               (1.5, "1s500ms"), (7 * 86400, "168h")])  # fmt: skip
def test_durations_as_amtool_takes_them(seconds: float, text: str) -> None:
    assert prom_duration(seconds) == text


def test_amtool_commands_are_quoted_for_a_shell() -> None:
    amtool = Amtool("http://127.0.0.1:9093")
    request = av.silence_request(
        'alertname=HighCPUUsage node=~"3|4"', 600, "a learner", "it's noisy"
    )
    line = amtool.silence_add(request)
    assert line == ("amtool --alertmanager.url=http://127.0.0.1:9093 silence add alertname=HighCPUUsage "
                    "'node=~\"3|4\"' --duration=10m '--author=a learner' '--comment=it'\"'\"'s noisy'")  # fmt: skip
    assert shlex.split(line)[4:] == ["alertname=HighCPUUsage", 'node=~"3|4"', "--duration=10m",
                                     "--author=a learner", "--comment=it's noisy"]  # fmt: skip
    assert amtool.silence_expire("x-1").endswith(" silence expire x-1")
    assert amtool.routes_test({"severity": "critical"}).endswith(
        " config routes test severity=critical"
    )
    assert amtool.alert_query().endswith(
        " alert query --active --silenced --inhibited --output=extended"
    )


# -- what the view shows ------------------------------------------------------------------------


def slo_alert(severity: str, sloth: str, node: str = "6") -> dict[str, str]:
    return {"alertname": "NodeAvailabilityBudgetBurn", "node": node, "severity": severity,
            "sloth_severity": sloth, "sloth_slo": "node-availability", "category": "availability"}  # fmt: skip


def test_alerts_sharing_an_alertname_are_told_apart() -> None:
    labels = [
        slo_alert("critical", "page"),
        slo_alert("warning", "ticket"),
        {
            "alertname": "HighCPUUsage",
            "node": "6",
            "severity": "warning",
            "instance": "h:8006",
            "job": "edge-nodes",
        },
        {"alertname": "Custom", "node": "1", "team": "db"},
        {"alertname": "Custom", "node": "1", "team": "web"},
    ]
    assert av.distinguishing_labels(labels) == [
        {"severity": "critical", "sloth_severity": "page"},
        {"severity": "warning", "sloth_severity": "ticket"},
        {"severity": "warning"},
        {"team": "db"},
        {"team": "web"},
    ]


def raw_alert(
    labels: dict[str, str], state: str = "active", silenced_by: tuple[str, ...] = ()
) -> dict[str, Any]:
    return {"labels": labels, "annotations": {"summary": "<i>sum</i>"}, "startsAt": "2027-01-15T08:00:00.123456789Z",
            "fingerprint": "f", "status": {"state": state, "silencedBy": list(silenced_by), "inhibitedBy": []}}  # fmt: skip


def test_the_groups_table_shows_state_and_escapes_every_value() -> None:
    alert = av.parse_alert(raw_alert({"alertname": "<b>X</b>", "node": "6", "severity": "warning"},
                                     "suppressed", ("0f2a64de-aaaa-bbbb-cccc-000000000000",)))  # fmt: skip
    assert alert.starts_at == pytest.approx(1_800_000_000.123457)
    state = av.ViewState("http://am", "http://rx", now=1_800_000_042.0,
                         groups=[av.Group({"alertname": "<b>X</b>", "node": "6"}, "warning", (alert,))])  # fmt: skip
    page = html_view.render_groups(state)
    assert "<b>X</b>" not in page and "&lt;b&gt;X&lt;/b&gt;" in page
    assert "suppressed" in page and "silenced by" in page and "0f2a64de" in page
    assert "08:00:00 UTC (42 s ago)" in page and "&lt;i&gt;sum&lt;/i&gt;" in page
    assert "labkit-am-state-suppressed" in page and "<code class='labkit-amtool'>" in page


def test_a_silence_row_says_what_when_who_and_why() -> None:
    raw = {"id": "0f2a64de-aaaa-bbbb-cccc-000000000000", "status": {"state": "active"},
           "matchers": [{"name": "node", "value": "6", "isRegex": False, "isEqual": True}],
           "startsAt": "2027-01-15T08:00:00Z", "endsAt": "2027-01-15T08:10:00Z",
           "createdBy": "<me>", "comment": "drill & test"}  # fmt: skip
    silence = av.parse_silence(raw)
    row = html_view.render_silence(silence, "http://am", now=1_800_000_060.0)
    assert "node=&quot;6&quot;" in row and "ends 08:10:00 UTC (in 9 min)" in row
    assert "&lt;me&gt;" in row and "drill &amp; test" in row
    assert "silence expire 0f2a64de-aaaa-bbbb-cccc-000000000000" in row


def test_services_that_do_not_answer_are_sentences_that_say_how_to_fix_it() -> None:
    dead = f"http://127.0.0.1:{free_ports(2)}"
    state = av.collect(dead, dead.replace(dead[-5:], str(int(dead[-5:]) + 1)))
    assert len(state.errors) == 2
    assert state.errors[0].startswith(f"Alertmanager did not answer at {dead} (")
    assert state.errors[1].startswith("The alert receiver did not answer at")
    assert all("labkit up" in e and "Traceback" not in e for e in state.errors)
    with pytest.raises(ServiceUnreachable, match="labkit up"):
        av.create_silence(dead, *GOOD)
    with pytest.raises(LabkitError, match="has no Alertmanager"):
        av.groups("")
    assert av.collect("", "").errors[1].startswith("this lab has no alert receiver")


# -- against the real Alertmanager ------------------------------------------------------------------


def post_alert(am_url: str, labels: dict[str, str], seconds: float) -> None:
    now = time.time()
    body = [{"labels": labels, "annotations": {"summary": "posted by a labkit test"},
             "startsAt": iso(now - 1), "endsAt": iso(now + seconds)}]  # fmt: skip
    status, payload = request_json("POST", f"{am_url}/api/v2/alerts", body, 5)
    assert status == 200, payload


def state_of(am_url: str, alertname: str) -> str | None:
    for group in av.groups(am_url):
        for alert in group.alerts:
            if alert.alertname == alertname:
                return alert.state
    return None


@pytest.fixture
def own_alert(shared_lab: Any) -> Iterator[dict[str, str]]:
    """An alert of this test's own in the shared lab's Alertmanager, resolved afterwards, and
    every silence that names it expired."""
    url = shared_lab.alertmanager_url
    labels = {
        "alertname": f"LabkitViewTest{uuid.uuid4().hex[:6]}",
        "node": "99",
        "severity": "info",
    }
    post_alert(url, labels, 120)
    wait_for("the posted alert", lambda: state_of(url, labels["alertname"]) == "active")
    yield labels
    post_alert(url, labels, -0.5)  # resolved
    for s in av.silences(url):
        if s.state != "expired" and labels["alertname"] in s.matchers_text:
            av.expire_silence(url, s.id)


def ids(am_url: str) -> list[str]:
    return sorted(s.id for s in av.silences(am_url))


@pytest.mark.live
def test_bad_input_creates_nothing(shared_lab: Any) -> None:
    url = shared_lab.alertmanager_url
    before = ids(url)
    for matchers, duration, creator, comment, field, _ in BAD_SILENCES:
        with pytest.raises(InvalidInput) as caught:
            av.create_silence(url, matchers, duration, creator, comment)
        assert caught.value.field == field
    # Python's re takes a lookahead, Go's does not: Alertmanager's own 400 is reported
    with pytest.raises(InvalidInput) as refused:
        av.create_silence(url, 'alertname="X" node=~"(?=6)6"', 60, "learner", "why")
    assert refused.value.field == "matchers"
    assert "Alertmanager refused it (400)" in str(refused.value) and "(?=" in str(refused.value)
    with pytest.raises(InvalidInput, match="silence id must be"):
        av.expire_silence(url, "not-an-id")
    with pytest.raises(InvalidInput, match="the id of a silence Alertmanager has"):
        av.expire_silence(url, str(uuid.uuid4()))
    assert ids(url) == before


@pytest.mark.live
@pytest.mark.timeout(60)
def test_a_silence_suppresses_its_alert_until_it_is_expired(
    shared_lab: Any, own_alert: dict[str, str]
) -> None:
    url, name = shared_lab.alertmanager_url, own_alert["alertname"]
    group = next(g for g in av.groups(url) if g.labels.get("alertname") == name)
    assert group.labels == {"alertname": name, "node": "99"} and group.receiver == "default"
    silence_id = av.create_silence(url, f'alertname="{name}" node=99', 120, "learner", "a test")
    listed = next(s for s in av.silences(url) if s.id == silence_id)
    assert (listed.state, listed.created_by, listed.comment) == ("active", "learner", "a test")
    assert listed.matchers_text == f'alertname="{name}", node="99"'
    assert listed.ends_at - listed.starts_at == pytest.approx(120, abs=2)
    alert = next(a for g in av.groups(url) for a in g.alerts if a.alertname == name)
    assert alert.state == "suppressed" and alert.silenced_by == (silence_id,)  # at once
    expired = av.expire_silence(url, silence_id)
    assert expired.state == "expired"
    assert next(s for s in av.silences(url) if s.id == silence_id).state == "expired"
    assert av.expire_silence(url, silence_id).state == "expired"  # again: harmless
    wait_for("the alert to be active again", lambda: state_of(url, name) == "active", 10)


@pytest.mark.live
def test_notifications_are_newest_first(shared_lab: Any, own_alert: dict[str, str]) -> None:
    wait_for("a notification", lambda: av.notifications(shared_lab.receiver_url, limit=1))
    newest = av.notifications(shared_lab.receiver_url, limit=50)
    oldest_first = shared_lab.notifications()  # read after: it may hold more at its end
    start = oldest_first.index(newest[-1])
    assert oldest_first[start : start + len(newest)] == list(reversed(newest))
    assert [n["ts"] for n in newest] == sorted((n["ts"] for n in newest), reverse=True)


def amtool(line: str) -> str:
    args = shlex.split(line)
    assert args[0] == "amtool"
    run = subprocess.run([AMTOOL, *args[1:]], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, f"{line}\n{run.stderr}"
    return run.stdout


@pytest.mark.live
@pytest.mark.timeout(90)
def test_the_amtool_commands_do_what_the_view_does(
    shared_lab: Any, own_alert: dict[str, str]
) -> None:
    url, name = shared_lab.alertmanager_url, own_alert["alertname"]
    tool = Amtool(url)
    request = av.silence_request(
        [f"alertname={name}", 'node=~"98|99"'], 300, "learner", "amtool's turn"
    )
    silence_id = amtool(tool.silence_add(request)).strip()  # amtool prints the new id
    listed = next(s for s in av.silences(url) if s.id == silence_id)
    assert (listed.matchers, listed.created_by, listed.comment) == (
        request.matchers,
        "learner",
        "amtool's turn",
    )
    assert listed.ends_at - listed.starts_at == pytest.approx(300, abs=2)
    assert silence_id in amtool(tool.silence_query())
    wait_for("the alert to be silenced", lambda: state_of(url, name) == "suppressed", 10)
    extended = [
        line for line in amtool(tool.alert_query()).splitlines() if f'alertname="{name}"' in line
    ]
    assert len(extended) == 1 and extended[0].rstrip().endswith("suppressed")
    assert 'node="99"' in extended[0] and 'severity="info"' in extended[0]
    before = {labels_of(a.labels) for g in av.groups(url) for a in g.alerts}
    listed_by_amtool = {line.split("  ")[0] for line in amtool(tool.alert_query()).splitlines()[1:]}
    after = {labels_of(a.labels) for g in av.groups(url) for a in g.alerts}
    assert before & after <= listed_by_amtool <= before | after  # the same alerts as the view
    assert amtool(tool.silence_expire(silence_id)) == ""
    assert next(s for s in av.silences(url) if s.id == silence_id).state == "expired"
    assert silence_id in amtool(tool.silence_query(expired=True))
    wait_for("the alert to be active again", lambda: state_of(url, name) == "active", 10)


def labels_of(labels: dict[str, str]) -> str:
    """Labels as amtool's extended output prints them."""
    return " ".join(f"{k}={json.dumps(v)}" for k, v in sorted(labels.items()))
