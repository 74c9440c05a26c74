"""The control panel, driven headless: set widget values, click, check the state and calls.
The logic functions (labkit.lessons.panel) are tested directly too."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from labkit.alerts import INTENDED, alert_details
from labkit.client import FleetClient
from labkit.errors import InvalidInput
from labkit.journal import iso
from labkit.lessons import panel
from labkit.lessons import panel_html as view
from labkit.lessons.widgets import ControlPanel
from labkit.words import epoch


def wait_until(check: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.3)
    return result


# -- pure logic ---------------------------------------------------------------------------------


def alert(name: str, node: int, active_at: str, state: str = "firing") -> dict[str, Any]:
    return {"labels": {"alertname": name, "node": str(node), "severity": "warning"},
            "state": state, "activeAt": active_at}  # fmt: skip


def test_detection_times_take_this_injections_alert_only() -> None:
    started = epoch("2026-11-26T10:00:00.000Z")
    injection = panel.Injection("cpu_spike", {2: started, 3: started})
    alerts = [
        alert("HighCPUUsage", 2, "2026-11-26T10:00:01.250123456Z"),
        alert("LowReliabilityScore", 3, "2026-11-26T10:00:01Z"),  # not the intended alert
        alert("HighCPUUsage", 5, "2026-11-26T10:00:01Z"),  # not an injected node
        alert("HighCPUUsage", 3, "2026-11-26T09:50:00Z"),  # an older episode
    ]
    assert panel.detection_times(injection, alerts) == {2: pytest.approx(1.250123), 3: None}


def test_a_detection_time_is_kept_after_the_alert_resolves() -> None:
    started = epoch("2026-11-26T10:00:00Z")
    injection = panel.Injection("cpu_spike", {3: started}, 30.0, {3: started + 30})
    history = panel.remember([], injection)
    panel.update(history, [alert("HighCPUUsage", 3, "2026-11-26T10:00:00.450Z")])
    assert history[0].detected == {3: pytest.approx(0.45)} and history[0].firing == {3}
    assert view.describe(history[0], started + 2) == (
        "cpu_spike on node 3, 10:00:00 UTC, 30 s: HighCPUUsage fired after 0.45 s, firing"
    )
    panel.recovered(history, {3: ["cpu_spike"]}, started + 5)
    panel.update(history, [])  # the alert resolved: its detection time stays
    assert history[0].detected == {3: pytest.approx(0.45)} and history[0].firing == set()
    assert view.describe(history[0], started + 15).endswith(
        "HighCPUUsage fired after 0.45 s, resolved after recovery"
    )
    expired = panel.remember([], injection)
    panel.update(expired, [alert("HighCPUUsage", 3, "2026-11-26T10:00:00.450Z")])
    panel.update(expired, [])
    assert view.describe(expired[0], started + 40).endswith("resolved when the fault ended")


def test_a_newer_injection_of_the_same_mode_takes_the_newer_alert() -> None:
    t0 = epoch("2026-11-26T10:00:00Z")
    history: list[panel.Record] = []
    for start in (t0, t0 + 60):
        history = panel.remember(history, panel.Injection("cpu_spike", {3: start}, 5.0,
                                                          {3: start + 5}))  # fmt: skip
    panel.update(history, [alert("HighCPUUsage", 3, "2026-11-26T10:01:00.800Z")])
    assert history[0].detected == {3: None} and history[0].firing == set()
    assert history[1].detected == {3: pytest.approx(0.8)}
    assert view.describe(history[0], t0 + 61).endswith("HighCPUUsage did not fire")


def test_only_the_last_five_injections_are_kept_newest_first() -> None:
    history: list[panel.Record] = []
    for node in range(1, 8):
        history = panel.remember(history, panel.Injection("cpu_spike", {node: float(node)}))
    assert [r.injection.nodes for r in history] == [[3], [4], [5], [6], [7]]
    items = view.history_list(history, 10.0).split("<li")[1:]
    assert [i.split(" on ")[1].split(",")[0] for i in items] == [
        f"node {n}" for n in (7, 6, 5, 4, 3)
    ]


def test_several_nodes_in_one_sentence() -> None:
    injection = panel.Injection("cpu_spike", {n: 0.0 for n in range(1, 7)}, 30.0)
    record = panel.Record(injection, detected={n: n / 10 for n in range(1, 6)}, firing={1, 2})
    text = view.describe(record, 1.0)
    assert text.startswith("cpu_spike on nodes 1-6, 00:00:00 UTC, 30 s: ")
    assert "HighCPUUsage fired on 5 of 6 nodes after 0.10-0.50 s" in text
    assert "resolved on 3" in text and "firing on 2" in text and "not fired yet on 1" in text
    assert (
        view.node_words([2, 5]) == "nodes 2, 5" and view.node_words([1, 2, 3, 6]) == "nodes 1-3, 6"
    )


def am_alert(name: str, node: int, starts_at: str, state: str = "active") -> dict[str, Any]:
    return {"labels": {"alertname": name, "node": str(node), "severity": "warning"},
            "startsAt": starts_at, "status": {"state": state}}  # fmt: skip


def test_one_row_per_alert_saying_where_it_is() -> None:
    now = epoch("2026-11-26T10:00:10Z")
    prometheus = [
        alert("HighCPUUsage", 1, "2026-11-26T10:00:00Z"),  # in both
        alert("HighCPUUsage", 2, "2026-11-26T10:00:09Z"),  # not in Alertmanager yet
        alert("HighLatency", 4, "2026-11-26T10:00:05Z", state="pending"),
    ]  # not firing
    alertmanager = [am_alert("HighCPUUsage", 1, "2026-11-26T10:00:00.2Z"),
                    am_alert("HighErrorRate", 3, "2026-11-26T10:00:01Z", "suppressed")]  # fmt: skip
    rows = panel.merge_alerts(prometheus, alertmanager, now)
    assert [(r["alertname"], r["node"], r["where"], r["silenced"]) for r in rows] == [
        ("HighCPUUsage", "2", "Prometheus", False),  # newest first
        ("HighErrorRate", "3", "Alertmanager", True),
        ("HighCPUUsage", "1", "both", False),
    ]
    assert rows[-1]["age_seconds"] == pytest.approx(10.0)
    page = view.alerts_table(panel.PanelState(alerts=rows))
    assert page.count("<tr class='labkit-alert'>") == 3 and "Alertmanager (silenced)" in page


def test_render_escapes_every_value() -> None:
    state = panel.PanelState(
        nodes=[{"node": 1, "health": "<i>ok</i>",
                "active": [{"failure": "cpu_spike", "seconds_left": 12.4}]}],
        alerts=[{"alertname": "<b>x</b>", "node": "1", "details": "", "severity": "warning",
                 "where": "both", "age_seconds": 3.0}],
    )  # fmt: skip
    page = "".join(view.everything(state, [], {1}).values())
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page
    assert "&lt;i&gt;ok&lt;/i&gt;" in page and "cpu_spike 12 s" in page
    assert "labkit-node-down labkit-node-chosen" in page  # "<i>ok</i>" is not ok


@pytest.mark.parametrize("value", [5000, 0, -3, 0.5, 3600.5, float("nan")])
def test_an_out_of_range_duration_is_refused_with_a_sentence(value: float) -> None:
    with pytest.raises(InvalidInput) as refused:
        panel.check_seconds(value)
    assert str(refused.value).startswith("duration must be a number of seconds from 1 to 3600")
    assert panel.check_seconds(3600) == 3600.0 and panel.check_seconds(1) == 1.0


def slo_alert(severity: str, sloth: str, seen: str) -> dict[str, Any]:
    """A burn-rate alert as the generated rules label it (.lab/prometheus/rules/slo-edge.yml)."""
    labels = {"alertname": "NodeAvailabilityBudgetBurn", "node": "4", "severity": severity,
              "sloth_severity": sloth, "sloth_slo": "node-availability",
              "sloth_id": "edge-node-availability", "sloth_service": "edge",
              "category": "availability", "owner": "sre-lab"}  # fmt: skip
    return {"labels": labels, "state": "firing", "activeAt": seen, "startsAt": seen,
            "status": {"state": "active"}}  # fmt: skip


class AlertsOnlyLab:
    """Just what `panel.collect` reads of a Lab: two SLO alerts of one name, both firing."""

    dashboard_url = "http://127.0.0.1:9096/"

    def prometheus_page(self, page: str) -> str:
        return f"http://127.0.0.1:9090/classic/{page}"

    def status(self) -> list[dict[str, Any]]:
        return [{"node": 4, "health": "ok", "active": []}]

    def prometheus_alerts(self) -> list[dict[str, Any]]:
        return [slo_alert("warning", "ticket", "2026-11-26T10:00:00Z"),
                slo_alert("critical", "page", "2026-11-26T10:00:01Z")]  # fmt: skip

    def alertmanager_alerts(self) -> list[dict[str, Any]]:
        return self.prometheus_alerts()


def test_slo_alerts_of_one_name_are_two_readable_rows() -> None:
    state = panel.collect(AlertsOnlyLab(), now=epoch("2026-11-26T10:00:10Z"))  # type: ignore[arg-type]
    assert [(a["alertname"], a["details"], a["severity"], a["where"]) for a in state.alerts] == [
        ("NodeAvailabilityBudgetBurn", "SLO node-availability, page", "critical", "both"),
        ("NodeAvailabilityBudgetBurn", "SLO node-availability, ticket", "warning", "both"),
    ]
    parts = view.everything(state, [], set())
    rows = [r for r in parts["alerts"].split("<tr") if "NodeAvailabilityBudgetBurn" in r]
    assert len(rows) == 2 and len(set(rows)) == 2  # page and ticket, each once
    assert "<th>details</th>" in parts["alerts"]
    # and the panel links to pages that exist on this Prometheus, and to the dashboard page
    assert "href='http://127.0.0.1:9090/classic/alerts'" in parts["links"]
    assert "href='http://127.0.0.1:9096/'" in parts["links"]


def test_the_seeds_alerts_need_no_details() -> None:
    assert alert_details({"alertname": "HighCPUUsage", "node": "3"}) == ""


# -- the widgets without a lab ------------------------------------------------------------------


def test_without_a_lab_the_panel_says_how_to_start_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABKIT_STATE_DIR", str(tmp_path))  # nothing runs there
    monkeypatch.delenv("LABKIT_PROMETHEUS_URL", raising=False)
    cp = ControlPanel(auto_refresh=False)
    assert cp.lab is None
    assert (
        "No lab is running" in cp.parts["problem"].value and "make lab" in cp.parts["problem"].value
    )
    cp.inject_button.click()
    assert "make lab" in cp.message.value and "Traceback" not in cp.message.value


class FakeLab:
    """What the panel reads and does to a Lab, in memory: 12 nodes, faults that fire their
    alert `fires_after` seconds after the injection; `resolve()` clears the alerts."""

    dashboard_url = "http://127.0.0.1:1/"

    def __init__(self) -> None:
        self.fleet = FleetClient({i: f"http://127.0.0.1:{i}" for i in range(1, 13)})
        self.injected: list[tuple[list[int], str, float]] = []
        self.alerts: list[dict[str, Any]] = []
        self.active: dict[int, list[str]] = {}

    def prometheus_page(self, page: str) -> str:
        return f"http://127.0.0.1:2/{page}"

    def inject(self, nodes: list[int], failure: str, seconds: float) -> list[dict[str, Any]]:
        self.injected.append((nodes, failure, seconds))
        now = time.time()
        for n in nodes:
            self.active.setdefault(n, []).append(failure)
            self.alerts.append(alert(INTENDED[failure], n, iso(now + 0.45)))
        return [{"node": n, "started_at": iso(now), "ends_at": iso(now + seconds),
                 "restarted": False} for n in nodes]  # fmt: skip

    def recover(self, nodes: list[int], failure: str | None) -> dict[int, list[str]]:
        return {n: self.active.pop(n, []) for n in nodes}

    def status(self) -> list[dict[str, Any]]:
        return [{"node": n, "health": "ok",
                 "active": [{"failure": f, "seconds_left": 9.0} for f in self.active.get(n, [])]}
                for n in self.fleet.urls]  # fmt: skip

    def prometheus_alerts(self) -> list[dict[str, Any]]:
        return list(self.alerts)

    def alertmanager_alerts(self) -> list[dict[str, Any]]:
        return [{**a, "startsAt": a["activeAt"], "status": {"state": "active"}}
                for a in self.alerts]  # fmt: skip


def test_the_panel_refuses_a_duration_out_of_range_and_injects_nothing() -> None:
    lab = FakeLab()
    cp = ControlPanel(lab, auto_refresh=False)  # type: ignore[arg-type]
    cp.duration.value = 5000
    refused = "duration must be a number of seconds from 1 to 3600; got 5000."
    assert f"{refused} Inject will refuse it." in cp.message.value  # said as it is typed
    cp.inject_button.click()
    assert lab.injected == [] and cp.history == []
    assert f"{refused} Nothing was injected." in cp.message.value
    cp.duration.value = 3600
    assert cp.message.value == ""
    cp.inject_button.click()
    assert lab.injected == [([1], "cpu_spike", 3600.0)]


def test_the_panel_keeps_the_detection_after_recovery_and_lists_each_alert_once() -> None:
    lab = FakeLab()
    cp = ControlPanel(lab, auto_refresh=False)  # type: ignore[arg-type]
    cp.nodes.value = ("6",)
    assert "chosen: <b>node 6</b>" in cp.nodes.words.value and cp.nodes.chosen == [6]
    assert [t.button_style for t in cp.nodes.toggles.values()].count("info") == 1
    cp.duration.value = 30
    cp.inject_button.click()
    assert "Injected cpu_spike on node 6 for 30 s; watch for HighCPUUsage" in cp.message.value
    assert "HighCPUUsage fired after 0.45 s, firing" in cp.parts["history"].value
    assert cp.parts["alerts"].value.count("<tr class='labkit-alert'>") == 1
    assert "<td>both</td>" in cp.parts["alerts"].value
    assert "labkit-node-fault labkit-node-chosen" in cp.parts["grid"].value
    cp.recover_button.click()
    assert "Recovered node 6: cpu_spike" in cp.message.value
    lab.alerts.clear()
    cp.refresh()
    assert "HighCPUUsage fired after 0.45 s, resolved after recovery" in cp.parts["history"].value
    assert "<i>none</i>" in cp.parts["alerts"].value
    cp.nodes.value = ("all",)
    assert "chosen: <b>all 12 nodes</b>" in cp.nodes.words.value
    cp.nodes.none_button.click()
    cp.inject_button.click()
    assert "nodes must be at least one node" in cp.message.value and len(lab.injected) == 1


def test_the_panel_fetches_only_while_a_page_shows_it() -> None:
    """On a running loop: one refresh for the first page to read, then none until a page's
    heartbeat says it is there; then it sends its whole state again and keeps refreshing."""
    lab = FakeLab()
    fetched: list[str] = []
    redrawn: list[str] = []

    async def run() -> tuple[int, int]:
        cp = ControlPanel(lab, refresh_seconds=0.05)  # type: ignore[arg-type]
        collect, redraw = cp.pacer.fetch, cp.pacer.connected
        assert redraw is not None

        def counted() -> panel.PanelState:
            fetched.append("fetch")
            return collect()

        def counted_redraw() -> None:
            redrawn.append("redraw")
            redraw()

        cp.pacer.fetch, cp.pacer.connected = counted, counted_redraw
        await asyncio.sleep(0.5)
        unwatched = len(fetched)
        cp.pacer.widget.beat = 1.0  # a page shows it
        await asyncio.sleep(0.5)
        cp.stop()
        return unwatched, len(fetched)

    unwatched, watched = asyncio.run(run())
    assert unwatched <= 1 and watched > unwatched + 1 and redrawn == ["redraw"]


# -- the widgets against a live lab ------------------------------------------------------------


@pytest.mark.live
@pytest.mark.timeout(120)
def test_inject_from_the_panel_shows_the_alert_and_keeps_its_detection_time(
    shared_lab: Any,
) -> None:
    cp = ControlPanel(shared_lab, auto_refresh=False)
    cp.nodes.value = ("3",)
    cp.failure.value = "cpu_spike"
    cp.duration.value = 20
    injection = cp.inject()
    assert "Injected cpu_spike on node 3 for 20 s" in cp.message.value
    assert injection is not None and injection.nodes == [3]
    record = cp.history[-1]
    wait_until(lambda: cp.refresh() and record.detected[3] is not None)
    assert 0 <= (record.detected[3] or 0) < 5
    assert "HighCPUUsage fired after" in cp.parts["history"].value
    row = next(n for n in cp.state.nodes if n["node"] == 3)
    assert [a["failure"] for a in row["active"]] == ["cpu_spike"]

    def where() -> list[str]:
        return [a["where"] for a in cp.refresh().alerts
                if a["alertname"] == "HighCPUUsage" and a["node"] == "3"]  # fmt: skip

    assert wait_until(lambda: where() == ["both"])  # one row, in both places
    cp.recover_button.click()
    assert "Recovered node 3: cpu_spike" in cp.message.value
    assert shared_lab.status(3)[0]["active"] == []
    wait_until(lambda: where() == [])
    detected = f"HighCPUUsage fired after {record.detected[3]:.2f} s, resolved after recovery"
    assert detected in cp.parts["history"].value


@pytest.mark.live
def test_a_bad_choice_and_a_crashed_node_show_as_sentences(shared_lab: Any) -> None:
    cp = ControlPanel(shared_lab, auto_refresh=False)
    cp.nodes.value = ()
    cp.inject_button.click()
    assert "nodes must be at least one node" in cp.message.value
    cp.nodes.value = ("4",)
    cp.failure.value = "node_crash"
    cp.duration.value = 30
    cp.inject_button.click()
    state = cp.refresh()
    assert next(n for n in state.nodes if n["node"] == 4)["health"] == "down"
    assert "<b>4</b> down" in cp.parts["grid"].value
    cp.recover_button.click()
    assert "node_crash" in cp.message.value


@pytest.mark.live
def test_selecting_all_reaches_every_node(shared_lab: Any) -> None:
    cp = ControlPanel(shared_lab, auto_refresh=False)
    cp.nodes.value = ("all",)
    cp.failure.value = "latency_spike"
    cp.duration.value = 5
    cp.inject_button.click()
    assert cp.history and cp.history[-1].injection.nodes == sorted(shared_lab.fleet.urls)
    cp.recover_button.click()
