"""`labkit up` on half a lab, for real: a component killed (or hung) is started again alone,
the others keep running with their pids and state (an alert firing in Prometheus stays firing,
from the same moment); a lab whose config files changed since it started restarts whole.
The tests run in file order on one lab; the whole-lab restart comes last."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labkit.errors import PortInUse
from labkit.journal import read_journal
from labkit.lab import Lab
from labkit.processes import alive, http_ok
from labkit.stack import (
    NAMES,
    LabPaths,
    config_digest,
    config_files,
    read_pid,
    status_rows,
    up,
)
from tests.conftest import running_lab, wait_for

pytestmark = pytest.mark.live
NODES = 3


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(NODES, tmp_path_factory.mktemp("lab")) as lab:
        yield lab


def pids(lab: Lab) -> dict[str, int | None]:
    paths = LabPaths(lab.settings.state_dir)
    return {name: read_pid(paths, name) for name in NAMES}


def kill(lab: Lab, name: str) -> int:
    paths = LabPaths(lab.settings.state_dir)
    pid = read_pid(paths, name)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_for(f"{name} to be gone", lambda: read_pid(paths, name) is None)
    return pid


def up_again(lab: Lab) -> str:
    out = io.StringIO()
    up(lab.config, lab.settings, out=out)
    return out.getvalue()


def others(found: dict[str, int | None], *names: str) -> dict[str, int | None]:
    return {name: pid for name, pid in found.items() if name not in names}


def argv(pid: int | None) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


def firing(lab: Lab, alertname: str, node: int) -> list[dict[str, Any]]:
    return [a for a in lab.prometheus_alerts() if a["labels"]["alertname"] == alertname
            and a["labels"].get("node") == str(node) and a["state"] == "firing"]  # fmt: skip


def held(lab: Lab, alertname: str) -> bool:
    return any(a["labels"]["alertname"] == alertname for a in lab.alertmanager_alerts())


@pytest.mark.timeout(240)
def test_a_dead_alertmanager_restarts_alone_and_prometheus_keeps_its_alerts(lab: Lab) -> None:
    lab.inject(1, "error_burst", 300)
    alert = wait_for("HighErrorRate firing on node 1", lambda: firing(lab, "HighErrorRate", 1))[0]
    wait_for("Alertmanager to hold it", lambda: held(lab, "HighErrorRate"))
    lab_json = lab.settings.state_dir / "lab.json"
    recorded = lab_json.read_text()
    before = pids(lab)
    kill(lab, "alertmanager")

    restarted = time.time()
    said = up_again(lab)
    after = pids(lab)
    assert after["alertmanager"] not in (None, before["alertmanager"])
    assert others(after, "alertmanager") == others(before, "alertmanager")  # Prometheus' too
    assert ("labkit up: receiver, fleet, prometheus and dashboard are running; "
            "restarting alertmanager\n") in said  # fmt: skip
    assert "  alertmanager  ready" in said and "  fleet " not in said
    assert "labkit up: alertmanager restarted in" in said and "/api/v2/alerts" in said
    assert http_ok(lab.alertmanager_url + "/-/ready")
    still = firing(lab, "HighErrorRate", 1)
    assert still and still[0]["activeAt"] == alert["activeAt"]  # the same alert, not a new one
    assert lab_json.read_text() == recorded  # the lab's config stays valid
    # Prometheus sends it to the new Alertmanager on its next resend (every minute), and with
    # no notification log the new one notifies it again: never swallowed
    wait_for("the new Alertmanager to hold it", lambda: held(lab, "HighErrorRate"), timeout=90)

    def notified_again() -> bool:
        return any(n["alertname"] == "HighErrorRate" and n["node"] == "1"
                   and n["status"] == "firing" for n in lab.notifications(since=restarted))  # fmt: skip

    wait_for("its firing notification from the new Alertmanager", notified_again)
    lab.recover(1)


@pytest.mark.timeout(180)
def test_a_dead_fleet_restarts_alone_without_its_past(lab: Lab) -> None:
    before = pids(lab)
    assert "--past" in argv(before["fleet"])  # the first start carried on from the past
    lab.inject(2, "cpu_spike", 300)
    time.sleep(1.2)  # a heartbeat after the injection
    kill(lab, "fleet")
    killed = time.time()
    wait_for("Prometheus to see every node down",
             lambda: all(t["health"] == "down" for t in lab.targets()))  # fmt: skip

    said = up_again(lab)
    after = pids(lab)
    assert after["fleet"] not in (None, before["fleet"])
    assert others(after, "fleet") == others(before, "fleet")
    assert ("labkit up: receiver, alertmanager, prometheus and dashboard are running; "
            "restarting fleet\n") in said  # fmt: skip
    assert "  fleet         ready" in said and f"targets       {NODES}/{NODES} nodes up" in said
    assert "--past" not in argv(after["fleet"])
    assert all(http_ok(lab.node_url(n) + "/health") for n in range(1, NODES + 1))
    # `up` returned once Prometheus scraped every node again
    targets = lab.targets()
    assert len(targets) == NODES and all(t["health"] == "up" for t in targets), targets
    # the dead fleet's fault ended with it, in the journal, when it was last alive
    journal = LabPaths(lab.settings.state_dir).journal / "injections.jsonl"
    last = list(read_journal(journal))[-1]
    assert (last["event"], last["node"], last["reason"]) == ("recover", 2, "fleet-died")
    assert killed - 1.5 <= last["ts"] <= killed
    assert lab.status([2])[0]["active"] == []  # the new fleet starts clean


def test_status_says_the_fleet_runs_while_node_1_is_down_by_node_crash(lab: Lab) -> None:
    """The fleet's ready address is node 1's /health, which answers 503 during node_crash."""
    lab.inject(1, "node_crash", 5)
    _, rows = status_rows(lab.settings)
    assert {r["component"]: r["state"] for r in rows}["fleet"] == "running"


@pytest.mark.timeout(120)
def test_a_hung_receiver_is_stopped_and_started_again(lab: Lab) -> None:
    before = pids(lab)
    hung = before["receiver"]
    assert hung is not None
    os.kill(hung, signal.SIGSTOP)  # its pid runs, nothing answers
    try:
        said = up_again(lab)
    finally:
        if read_pid(LabPaths(lab.settings.state_dir), "receiver") == hung:
            os.kill(hung, signal.SIGCONT)
    after = pids(lab)
    assert "restarting receiver (not responding)\n" in said
    assert after["receiver"] not in (None, hung)
    assert not alive(hung, sys.executable)  # every thread of it ended
    assert others(after, "receiver") == others(before, "receiver")
    assert http_ok(lab.receiver_url + "/health")


def test_a_taken_port_is_named_and_nothing_else_stops(lab: Lab) -> None:
    before = pids(lab)
    kill(lab, "receiver")
    port = lab.config.receiver_port
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind((lab.config.host, port))
        squatter.listen()
        with pytest.raises(PortInUse, match=f"port {port} .*the lab's receiver"):
            up_again(lab)
        assert others(pids(lab), "receiver") == others(before, "receiver")
        assert pids(lab)["receiver"] is None
    said = up_again(lab)  # the port is free again
    assert "restarting receiver\n" in said and pids(lab)["receiver"] is not None
    assert others(pids(lab), "receiver") == others(before, "receiver")


@pytest.mark.timeout(180)
def test_changed_config_files_restart_the_whole_lab_and_say_why(lab: Lab) -> None:
    lab_json = lab.settings.state_dir / "lab.json"
    record = json.loads(lab_json.read_text())
    assert record["config_digest"] == config_digest()
    assert record["config_files"] == config_files()
    # as if prometheus/rules/alerts.yml had been edited since the lab started
    record["config_digest"] = "0" * 64
    record["config_files"]["prometheus/rules/alerts.yml"] = "0" * 64
    lab_json.write_text(json.dumps(record))

    before = pids(lab)
    said = up_again(lab)  # a lab that runs whole goes on running, and says so
    assert "labkit up: the lab is already running" in said
    assert "the config files changed since it started (prometheus/rules/alerts.yml)" in said
    assert " down` then `" in said and pids(lab) == before

    kill(lab, "receiver")
    said = up_again(lab)
    assert ("labkit up: the lab's configuration changed since it started "
            "(prometheus/rules/alerts.yml); restarting the whole lab\n") in said  # fmt: skip
    assert "labkit up: starting 3 nodes" in said
    after = pids(lab)
    assert all(after.values())
    assert all(after[name] != before[name] for name in NAMES), (before, after)
    assert json.loads(lab_json.read_text())["config_digest"] == config_digest()
    with urllib.request.urlopen(lab.prometheus_url + "/api/v1/rules", timeout=5) as r:
        assert json.loads(r.read())["data"]["groups"]  # its rules loaded again
