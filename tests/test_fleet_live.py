"""A real fleet process on loopback ports, driven by the real CLI."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from labkit.journal import read_journal
from tests.conftest import LABKIT, REPO, RunningFleet, free_ports, start_fleet

pytestmark = pytest.mark.live


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def fault_flags(url: str) -> dict[str, float]:
    status, body = get(url + "/metrics")
    assert status == 200
    fams = {f.name: f for f in text_string_to_metric_families(body.decode())}
    return {s.labels["failure"]: s.value for s in fams["labkit_fault_active"].samples}


def test_each_port_serves_its_own_node(fleet: RunningFleet) -> None:
    for node_id in range(1, fleet.nodes + 1):
        status, body = get(fleet.url(node_id) + "/health")
        assert status == 200 and json.loads(body)["node"] == node_id
        assert json.loads(get(fleet.url(node_id) + "/faults")[1])["node"] == node_id
    cpus = set()
    for node_id in range(1, fleet.nodes + 1):
        text = get(fleet.url(node_id) + "/metrics")[1].decode()
        cpus.add(text.split("\nnode_cpu_usage_percent ")[1].split()[0])
    assert len(cpus) == fleet.nodes  # different nodes, different series


def test_fleet_writes_its_layout_and_removes_it_on_sigterm(tmp_path: Path) -> None:
    state = tmp_path / "lab"
    with start_fleet(state, nodes=3) as running:
        layout = json.loads((state / "fleet.json").read_text())
        assert layout["ports"] == {str(i): running.base_port + i - 1 for i in (1, 2, 3)}
        assert layout["host"] == "127.0.0.1" and layout["pid"] == running.process.pid
    assert running.process.returncode == 0
    assert not (state / "fleet.json").exists()


def test_listeners_bind_loopback_only(fleet: RunningFleet) -> None:
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout
    mine = [line for line in out.splitlines() if f"pid={fleet.process.pid}," in line]
    assert len(mine) == fleet.nodes
    assert all("127.0.0.1:" in line for line in mine), mine


def test_inject_status_recover_cycle_through_the_cli(fleet: RunningFleet) -> None:
    r = fleet.cli("inject", "--node", "2", "--failure", "error_burst", "--duration", "60")
    assert r.returncode == 0, r.stderr
    assert "node 2: error_burst for 60 s" in r.stdout
    assert fault_flags(fleet.url(2))["error_burst"] == 1
    assert fault_flags(fleet.url(1))["error_burst"] == 0

    status = fleet.cli("status")
    assert status.returncode == 0
    row = next(line for line in status.stdout.splitlines() if line.startswith("2 "))
    assert "ok" in row and "error_burst" in row and " s" in row
    assert f"{fleet.nodes} nodes: {fleet.nodes} ok" in status.stdout

    r = fleet.cli("recover", "--node", "all")
    assert r.returncode == 0
    assert "node 2: ended error_burst" in r.stdout and "node 1:" not in r.stdout
    assert (
        f"recovered 1 fault on 1 node; {fleet.nodes - 1} nodes had nothing to recover" in r.stdout
    )
    assert fault_flags(fleet.url(2))["error_burst"] == 0
    events = [(e["event"], e["node"], e["failure"]) for e in read_journal(fleet.journal)]
    assert events == [("inject", 2, "error_burst"), ("recover", 2, "error_burst")]


def test_inject_all_reaches_every_node(fleet: RunningFleet) -> None:
    r = fleet.cli("inject", "--node", "all", "--failure", "latency_spike", "--duration", "30")
    assert r.returncode == 0
    assert all(fault_flags(fleet.url(n))["latency_spike"] == 1 for n in range(1, fleet.nodes + 1))


def test_a_fault_expires_and_is_journalled_with_no_client_involved(fleet: RunningFleet) -> None:
    t0 = time.time()
    assert (
        fleet.cli("inject", "--node", "3", "--failure", "cpu_spike", "--duration", "1").returncode
        == 0
    )
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # only the journal file is read: no request to the node
        records = list(read_journal(fleet.journal))
        if [r["event"] for r in records] == ["inject", "expire"]:
            break
        time.sleep(0.1)
    inject, expire = records
    assert expire["node"] == 3 and expire["failure"] == "cpu_spike"
    assert expire["ts"] == pytest.approx(inject["ts"] + 1, abs=0.01)
    assert t0 - 1 < inject["ts"] < time.time()
    assert fault_flags(fleet.url(3))["cpu_spike"] == 0


def test_the_journal_ends_active_faults_when_the_fleet_stops_or_dies(tmp_path: Path) -> None:
    """Ground truth stays true past the fleet's end: stopped (SIGTERM) with faults active,
    the fleet journals their end then; killed (SIGKILL), the next fleet journals them ended
    when the dead one was last alive (its heartbeat, within a second), and an expiry that
    came before the death as an expiry."""
    state = tmp_path / "lab"
    with start_fleet(state, nodes=2) as running:
        assert running.cli("inject", "--node", "1", "--failure", "error_burst",
                           "--duration", "300").returncode == 0  # fmt: skip
    stopped = time.time()
    assert running.process.returncode == 0
    events = list(read_journal(running.journal))
    assert [(e["event"], e["node"], e.get("reason")) for e in events] == [
        ("inject", 1, None),
        ("recover", 1, "fleet-stopped"),
    ]
    assert stopped - 10 < events[1]["ts"] <= stopped
    assert not (running.journal.parent / "fleet.alive").exists()  # a clean stop leaves none

    with start_fleet(state, nodes=2) as running:
        for node, failure, seconds in ((1, "cpu_spike", "300"), (2, "memory_leak", "1")):
            assert running.cli("inject", "--node", str(node), "--failure", failure,
                               "--duration", seconds).returncode == 0  # fmt: skip
        time.sleep(2.5)  # node 2's fault expires before the fleet dies
        running.process.kill()  # SIGKILL: no chance to journal anything
        running.process.wait()
        killed = time.time()
    # the sweeper journalled node 2's expiry while alive; node 1's fault is an orphan
    assert [e["event"] for e in read_journal(running.journal)][-3:] == [
        "inject",
        "inject",
        "expire",
    ]
    time.sleep(1.5)
    with start_fleet(state, nodes=2) as again:
        last = list(read_journal(again.journal))[-1]
        said = again.process.stdout
    assert last["event"] == "recover" and last["reason"] == "fleet-died"
    assert (last["node"], last["failure"]) == (1, "cpu_spike")
    assert killed - 1.5 <= last["ts"] <= killed  # its heartbeat, not the restart
    assert said is not None and b"ended with 1 fault active" in said.read()


def test_crash_over_http_and_early_recovery_through_the_cli(fleet: RunningFleet) -> None:
    fleet.cli("inject", "--node", "1", "--failure", "node_crash", "--duration", "600")
    assert get(fleet.url(1) + "/metrics")[0] == 503
    status = fleet.cli("status", "--node", "1")
    assert "down" in status.stdout and "node_crash" in status.stdout
    assert fleet.cli("recover", "--node", "1", "--failure", "node_crash").returncode == 0
    assert get(fleet.url(1) + "/metrics")[0] == 200


def test_the_seed_script_keeps_its_flags(fleet: RunningFleet) -> None:
    script = REPO / "scripts" / "inject_failure.py"
    r = subprocess.run(
        [sys.executable, str(script), "--node", "4", "--failure", "memory_leak", "--duration", "45"],
        env=fleet.env(), capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert fault_flags(fleet.url(4))["memory_leak"] == 1
    bad = subprocess.run(
        [sys.executable, str(script), "--node", "4", "--failure", "meltdown"],
        env=fleet.env(), capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert bad.returncode == 2 and "cpu_spike" in bad.stderr


def test_a_taken_port_is_named_in_a_clear_error(tmp_path: Path) -> None:
    base = free_ports(3)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", base + 1))
        squatter.listen()
        r = subprocess.run(
            [*LABKIT, "fleet", "--nodes", "3", "--base-port", str(base)],
            env={**os.environ, "LABKIT_STATE_DIR": str(tmp_path)},
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    assert r.returncode == 2  # other ports are the cure: bad input
    assert f"port {base + 1}" in r.stderr and "node 2" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "fleet.json").exists()


def test_a_single_node_for_containers(tmp_path: Path) -> None:
    port = free_ports(1)
    proc = subprocess.Popen(
        [*LABKIT, "node", "--id", "9", "--port", str(port)],
        env={**os.environ, "LABKIT_STATE_DIR": str(tmp_path)},
    )
    try:
        from tests.conftest import wait_http

        wait_http(f"http://127.0.0.1:{port}/health")
        assert json.loads(get(f"http://127.0.0.1:{port}/health")[1])["node"] == 9
    finally:
        proc.terminate()
        proc.wait(timeout=10)
