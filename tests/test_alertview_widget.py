"""The Alertmanager view, driven headless: set widget values, click, check what it shows and
what Alertmanager holds. The logic under it is tested in test_alertview.py."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from labkit import alertview as av
from labkit.alertview_widget import AlertmanagerView
from tests.test_alertview import ids, own_alert, state_of, wait_for

__all__ = ["own_alert"]  # a fixture, used by name

PARTS = ["labkit-am-status", "labkit-am-groups", "labkit-am-silences", "labkit-am-silence-form",
         "labkit-am-message", "labkit-am-routes", "labkit-am-notifications"]  # fmt: skip


def classes(widget: Any) -> set[str]:
    found = set(getattr(widget, "_dom_classes", ()))
    for child in getattr(widget, "children", ()):
        found |= classes(child)
    return found


def test_without_a_lab_the_view_says_how_to_start_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABKIT_STATE_DIR", str(tmp_path))  # nothing runs there
    monkeypatch.delenv("LABKIT_PROMETHEUS_URL", raising=False)
    view = AlertmanagerView(auto_refresh=False)
    assert view.lab is None
    assert "No lab is running" in view.status.value and "labkit up" in view.status.value
    assert {"labkit-am-view", *PARTS} <= classes(view.widget)
    view.matchers.value, view.comment.value = "alertname=X", "why"
    view.create_button.click()
    assert "No lab is running" in view.message.value and "Traceback" not in view.message.value


class DeadLab:
    alertmanager_url = "http://127.0.0.1:9"
    receiver_url = "http://127.0.0.1:9"


def test_services_down_show_as_sentences_and_actions_do_not_raise() -> None:
    view = AlertmanagerView(DeadLab(), auto_refresh=False)  # type: ignore[arg-type]
    assert "Alertmanager did not answer at http://127.0.0.1:9" in view.status.value
    assert "The alert receiver did not answer" in view.status.value
    view.matchers.value, view.comment.value = "alertname=X", "why"
    view.create_button.click()
    assert "Alertmanager did not answer" in view.message.value and "labkit up" in view.message.value
    view.expire("0f2a64de-aaaa-bbbb-cccc-000000000000")
    assert "Alertmanager did not answer" in view.message.value
    view.route_button.click()
    assert "Alertmanager did not answer" in view.route_answer.value


def test_the_form_shows_its_amtool_command_once_it_is_complete() -> None:
    view = AlertmanagerView(DeadLab(), auto_refresh=False)  # type: ignore[arg-type]
    assert "once the form is complete" in view.form_amtool.value
    view.matchers.value = 'alertname=HighCPUUsage node="6"'
    view.duration.value = 90
    view.comment.value = "noisy"
    assert ("silence add alertname=HighCPUUsage node=6 --duration=1m30s --author=learner "
            "--comment=noisy</code>") in view.form_amtool.value  # fmt: skip


# -- against the shared lab's Alertmanager ---------------------------------------------------------


@pytest.mark.live
@pytest.mark.timeout(60)
def test_create_and_expire_a_silence_from_the_form(
    shared_lab: Any, own_alert: dict[str, str]
) -> None:
    url, name = shared_lab.alertmanager_url, own_alert["alertname"]
    view = AlertmanagerView(shared_lab, auto_refresh=False)
    row = next(r for r in view.groups.value.split("<tr")[1:] if name in r)
    assert ">99<" in row and "active" in row
    view.matchers.value = f"alertname={name} node=99"
    view.duration.value = 120
    view.comment.value = "silenced from the widget"
    view.create_button.click()
    assert "Created silence " in view.message.value, view.message.value
    silence_id = view.message.value.split("Created silence ")[1].split(" ")[0]
    assert f"silence add alertname={name} node=99 --duration=2m" in view.message.value
    assert silence_id in view.expire_buttons  # its row has an Expire button
    listed = next(s for s in view.state.silences if s.id == silence_id)  # type: ignore[union-attr]
    assert (listed.state, listed.created_by, listed.comment) == (
        "active",
        "learner",
        "silenced from the widget",
    )
    row = next(r for r in view.groups.value.split("<tr")[1:] if name in r)
    assert "suppressed" in row and silence_id[:8] in row
    view.expire_buttons[silence_id].click()
    assert f"Expired silence {silence_id}" in view.message.value
    assert silence_id not in view.expire_buttons
    assert next(s for s in av.silences(url) if s.id == silence_id).state == "expired"
    wait_for("the alert to be active again", lambda: state_of(url, name) == "active", 10)


BAD_FORMS = [
    # (matchers, seconds, creator, comment, what the message names)
    ("", 60, "learner", "why", "matchers must be at least one matcher"),
    ("alertname=X node=~(6", 60, "learner", "why", "regular expression of node=~ must be"),
    ("alertname=X", 0, "learner", "why", "duration_seconds must be"),
    ("alertname=X", 60, "", "why", "creator must be"),
    ("alertname=X", 60, "learner", "", "comment must be"),
]


@pytest.mark.live
@pytest.mark.parametrize(("matchers", "seconds", "creator", "comment", "says"), BAD_FORMS)
def test_a_bad_form_says_what_is_wrong_and_creates_nothing(
    shared_lab: Any, matchers: str, seconds: float, creator: str, comment: str, says: str
) -> None:
    url = shared_lab.alertmanager_url
    before = ids(url)
    view = AlertmanagerView(shared_lab, auto_refresh=False)
    view.matchers.value, view.duration.value = matchers, seconds
    view.creator.value, view.comment.value = creator, comment
    view.create_button.click()
    assert says in view.message.value and "b00020" in view.message.value
    assert ids(url) == before


@pytest.mark.live
def test_which_receiver_follows_the_routing_tree(shared_lab: Any) -> None:
    view = AlertmanagerView(shared_lab, auto_refresh=False)
    assert "receiver critical" in view.routes.children[0].value
    view.route_labels.value = "alertname=HighErrorRate severity=critical"
    view.route_button.click()
    assert "goes to <b>critical</b>" in view.route_answer.value
    assert "config routes test alertname=HighErrorRate severity=critical" in view.route_answer.value
    view.route_labels.value = "severity=info"
    assert view.test_route() == ["default"]


@pytest.mark.live
def test_the_refresh_loop_reads_in_a_worker_thread(shared_lab: Any) -> None:
    view = AlertmanagerView(shared_lab, refresh_seconds=0.2, auto_refresh=False)
    view.state = None

    async def run() -> None:
        view.start()
        assert view.pacer.running
        await asyncio.sleep(1.0)
        view.stop()

    asyncio.run(run())
    assert view.state is not None and view.state.errors == []
    assert "Alert groups" in view.groups.value
