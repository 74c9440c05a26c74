"""The control panel, driven headless: set widget values, click, check the state and calls.
The logic functions (labkit.panel) are tested directly too."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from labkit import panel
from labkit.widgets import ControlPanel


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
    started = panel.epoch("2026-11-26T10:00:00.000Z")
    injection = panel.Injection("cpu_spike", {2: started, 3: started})
    alerts = [
        alert("HighCPUUsage", 2, "2026-11-26T10:00:01.250123456Z"),
        alert("LowReliabilityScore", 3, "2026-11-26T10:00:01Z"),  # not the intended alert
        alert("HighCPUUsage", 5, "2026-11-26T10:00:01Z"),  # not an injected node
        alert("HighCPUUsage", 3, "2026-11-26T09:50:00Z"),  # an older episode
    ]
    assert panel.detection_times(injection, alerts) == {2: pytest.approx(1.250123), 3: None}


def test_render_escapes_and_shows_the_detection() -> None:
    state = panel.PanelState(
        nodes=[
            {"node": 1, "health": "ok", "active": [{"failure": "cpu_spike", "seconds_left": 12.4}]}
        ],
        alerts=[
            {
                "alertname": "<b>x</b>",
                "node": "1",
                "severity": "warning",
                "seen_by": "Prometheus",
                "age_seconds": 3.0,
            }
        ],
        detection={1: 0.93},
        injection=panel.Injection("cpu_spike", {1: 0.0}),
    )
    page = panel.render(state)
    assert "cpu_spike on node 1: HighCPUUsage fired after <b>0.93 s</b>" in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page
    assert "cpu_spike (12 s left)" in page


def slo_alert(severity: str, sloth: str, seen: str) -> dict[str, Any]:
    """A burn-rate alert as the generated rules label it (.lab/prometheus/rules/slo-edge.yml)."""
    labels = {"alertname": "NodeAvailabilityBudgetBurn", "node": "4", "severity": severity,
              "sloth_severity": sloth, "sloth_slo": "node-availability",
              "sloth_id": "edge-node-availability", "sloth_service": "edge",
              "category": "availability", "owner": "sre-lab"}  # fmt: skip
    return {"labels": labels, "state": "firing", "activeAt": seen, "startsAt": seen}


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
    state = panel.collect(AlertsOnlyLab(), now=panel.epoch("2026-11-26T10:00:10Z"))  # type: ignore[arg-type]
    prometheus = [a for a in state.alerts if a["seen_by"] == "Prometheus"]
    assert [(a["alertname"], a["details"], a["severity"]) for a in prometheus] == [
        ("NodeAvailabilityBudgetBurn", "SLO node-availability, page", "critical"),
        ("NodeAvailabilityBudgetBurn", "SLO node-availability, ticket", "warning"),
    ]
    page = panel.render(state)
    rows = [r for r in page.split("<tr>") if "NodeAvailabilityBudgetBurn" in r]
    assert len(rows) == 4 and len(set(rows)) == 4  # Prometheus and Alertmanager, page and ticket
    assert "<th style='text-align:left;padding:2px 10px'>details</th>" in page
    # and the panel links to pages that exist on this Prometheus, and to the dashboard page
    assert "href='http://127.0.0.1:9090/classic/alerts'" in page
    assert "href='http://127.0.0.1:9096/'" in page


def test_the_seeds_alerts_need_no_details() -> None:
    assert panel.alert_details({"alertname": "HighCPUUsage", "node": "3"}) == ""


# -- the widgets without a lab ------------------------------------------------------------------


def test_without_a_lab_the_panel_says_how_to_start_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABKIT_STATE_DIR", str(tmp_path))  # nothing runs there
    monkeypatch.delenv("LABKIT_PROMETHEUS_URL", raising=False)
    cp = ControlPanel(auto_refresh=False)
    assert cp.lab is None
    assert "No lab is running" in cp.view.value and "make lab" in cp.view.value
    cp.inject_button.click()
    assert "make lab" in cp.message.value and "Traceback" not in cp.message.value


# -- the widgets against a live lab ------------------------------------------------------------


@pytest.mark.live
@pytest.mark.timeout(120)
def test_inject_from_the_panel_shows_the_alert_and_its_detection_time(shared_lab: Any) -> None:
    cp = ControlPanel(shared_lab, auto_refresh=False)
    cp.nodes.value = ("3",)
    cp.failure.value = "cpu_spike"
    cp.duration.value = 20
    cp.inject_button.click()
    assert "Injected cpu_spike on node 3 for 20 s" in cp.message.value
    assert cp.injection is not None and set(cp.injection.started_at) == {3}
    state = wait_until(lambda: (s := cp.refresh()).detection.get(3) is not None and s)
    assert 0 <= state.detection[3] < 5
    assert "HighCPUUsage fired after" in cp.view.value
    row = next(n for n in state.nodes if n["node"] == 3)
    assert [a["failure"] for a in row["active"]] == ["cpu_spike"]
    seen = wait_until(lambda: {a["seen_by"] for a in cp.refresh().alerts
                               if a["alertname"] == "HighCPUUsage" and a["node"] == "3"} == {"Prometheus", "Alertmanager"})  # fmt: skip
    assert seen
    cp.recover_button.click()
    assert "Recovered node 3: cpu_spike" in cp.message.value
    assert shared_lab.status(3)[0]["active"] == []


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
    cp.recover_button.click()
    assert "node_crash" in cp.message.value


@pytest.mark.live
def test_selecting_all_reaches_every_node(shared_lab: Any) -> None:
    cp = ControlPanel(shared_lab, auto_refresh=False)
    cp.nodes.value = ("all",)
    cp.failure.value = "latency_spike"
    cp.duration.value = 5
    cp.inject_button.click()
    assert cp.injection is not None and sorted(cp.injection.started_at) == sorted(
        shared_lab.fleet.urls
    )
    cp.recover_button.click()
