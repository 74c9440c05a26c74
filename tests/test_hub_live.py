"""A class on JupyterHub (issue 17): a real hub (deploy/jupyterhub/jupyterhub_config.py) with
configurable-http-proxy and SimpleLocalProcessSpawner on free loopback ports, two learners
made and started through the hub's REST API with an admin token. Each server starts its own
lab (every target up, its own ports and secret), reachable through the hub with
jupyter-server-proxy; a fault in one lab is in no other lab's alerts; stopping a server stops
its lab and frees its ports, and so does the idle culler culling one."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from labkit.processes import port_open
from tests.conftest import LABKIT, REPO, free_ports, wait_for

CHP = REPO / "node_modules" / ".bin" / "configurable-http-proxy"
CONFIG = REPO / "deploy" / "jupyterhub" / "jupyterhub_config.py"
MISSING = [name for name in ("jupyterhub", "jupyter_server_proxy", "jupyterhub_idle_culler")
           if importlib.util.find_spec(name) is None]  # fmt: skip
if not CHP.exists():
    MISSING.append("configurable-http-proxy (npm)")
if shutil.which("prometheus") is None:
    MISSING.append("prometheus")
NODES = 3  # per learner: two labs and a hub on two cores
CULL_SECONDS = 75  # an idle server is culled after this (the culler looks every 10 s)

pytestmark = [
    pytest.mark.live,
    pytest.mark.timeout(330),
    pytest.mark.skipif(bool(MISSING), reason=f"`make hub-packages` installs {MISSING}"),
]


@dataclass
class Hub:
    url: str
    token: str
    homes: Path
    log: Path

    def api(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.url}/hub/api{path}", data=data, method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=30) as r:
            text = r.read()
        return json.loads(text) if text else None

    def get(self, path: str, follow: bool = True) -> tuple[int, str, str]:
        """A GET through the hub (its proxy, the user's server): status, content type (or
        where a redirect goes, when not followed), body."""
        request = urllib.request.Request(f"{self.url}{path}",
                                         headers={"Authorization": f"token {self.token}"})  # fmt: skip
        opener = urllib.request.build_opener(*([] if follow else [_Stay()]))
        try:
            with opener.open(request, timeout=60) as r:
                return r.status, r.headers.get("Content-Type", ""), r.read().decode()
        except urllib.error.HTTPError as exc:
            said = exc.headers.get("Location" if exc.code in (301, 302) else "Content-Type", "")
            return exc.code, said, exc.read().decode()

    def websocket(self, path: str) -> None:
        """A websocket through the hub, as a browser of the hub's origin opens one."""
        from tornado import httpclient, ioloop, websocket

        async def connect() -> None:
            url = f"ws{self.url.removeprefix('http')}{path}"
            request = httpclient.HTTPRequest(
                url, headers={"Authorization": f"token {self.token}", "Origin": self.url}
            )
            (await websocket.websocket_connect(request)).close()

        ioloop.IOLoop().run_sync(connect, timeout=30)

    def server(self, user: str) -> dict[str, Any] | None:
        return self.api("GET", f"/users/{user}").get("servers", {}).get("")

    def state(self, user: str) -> Path:
        return self.homes / user / ".lab"

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


class _Stay(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    root = tmp_path_factory.mktemp("hub")
    base = free_ports(3)
    token = secrets.token_hex(16)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "LABKIT_HUB_DIR": str(root / "hub"),
        "LABKIT_HUB_PORT": str(base),
        "LABKIT_HUB_API_PORT": str(base + 1),
        "LABKIT_HUB_PROXY_API_PORT": str(base + 2),
        "LABKIT_HUB_HOMES": str(root / "homes" / "{username}"),
        "LABKIT_HUB_ADMIN_TOKEN": token,
        "LABKIT_HUB_NODES": str(NODES),
        "LABKIT_HUB_CULL_TIMEOUT": str(CULL_SECONDS),
        "LABKIT_HUB_CULL_EVERY": "10",
    }
    env.pop("LABKIT_STATE_DIR", None)
    log = root / "hub.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(CONFIG)],
                                cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    print(f"the hub's log (its servers' and labs' too): {log}")
    running = Hub(f"http://127.0.0.1:{base}", token, root / "homes", log)
    try:
        wait_for("the hub's API", lambda: _answers(running), timeout=60)
        yield running
    finally:
        proc.send_signal(signal.SIGTERM)  # the hub stops every server: their watchers, the labs
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for state in running.homes.glob("*/.lab"):  # whatever is left: stopped all the same
            wait_for(f"the lab in {state} to stop", lambda s=state: not _lab_pids(s), timeout=30)
        proxy = root / "hub" / "jupyterhub-proxy.pid"
        if proxy.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(proxy.read_text()), signal.SIGTERM)


def _wait_ready(hub: Hub, user: str) -> None:
    try:
        wait_for(f"{user}'s server", lambda: (hub.server(user) or {}).get("ready"), timeout=200)
    except AssertionError as exc:
        raise AssertionError(f"{user}'s server did not start; the log:\n{hub.tail()}") from exc


def _answers(hub: Hub) -> bool:
    try:
        return bool(hub.api("GET", "/"))
    except OSError:
        return False


def _lab_pids(state: Path) -> list[int]:
    """The lab's processes still alive, by their pid files."""
    alive = []
    for pid_file in (state / "run").glob("*.pid"):
        with contextlib.suppress(OSError, ValueError, KeyError):
            pid = json.loads(pid_file.read_text())["pid"]
            os.kill(pid, 0)
            alive.append(pid)
    return alive


def _status(state: Path) -> dict[str, Any] | None:
    done = subprocess.run([*LABKIT, "--state-dir", str(state), "status", "--json"],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    return json.loads(done.stdout) if done.returncode == 0 else None


def _all_up(state: Path) -> dict[str, Any] | None:
    doc = _status(state)
    if doc is None or not doc.get("targets"):
        return None
    return doc if all(t["health"] == "up" for t in doc["targets"]) else None


def _ports(state: Path) -> list[int]:
    config = json.loads((state / "lab.json").read_text())["config"]
    nodes = list(range(config["base_port"], config["base_port"] + config["nodes"]))
    return [*nodes, config["prometheus_port"], config["alertmanager_port"],
            config["receiver_port"], config["dashboard_port"]]  # fmt: skip


def _alert_names(hub: Hub, user: str, api: str) -> set[str]:
    """The alerts firing or pending in `user`'s Prometheus, or in their Alertmanager, asked
    through the hub."""
    if api == "prometheus":
        status, _, body = hub.get(f"/user/{user}/prometheus/api/v1/alerts")
        assert status == 200, body
        return {a["labels"]["alertname"] for a in json.loads(body)["data"]["alerts"]}
    status, _, body = hub.get(f"/user/{user}/alertmanager/api/v2/alerts")
    assert status == 200, body
    return {a["labels"]["alertname"] for a in json.loads(body)}


def test_each_learner_gets_a_lab_of_their_own_stopped_with_their_server(hub: Hub) -> None:
    learners = ["ada", "grace"]
    hub.api("POST", "/users", {"usernames": learners})
    for user in learners:  # both start at once
        hub.api("POST", f"/users/{user}/server")
    for user in learners:
        _wait_ready(hub, user)

    # every learner's lab: up with every target, on ports of its own, with its own secret
    ports = {}
    for user in learners:
        state = hub.state(user)
        assert not (state / "start-problem.txt").exists(), (state / "start-problem.txt").read_text()
        doc = wait_for(f"every target of {user}'s lab up", lambda s=state: _all_up(s), timeout=60)
        assert len([t for t in doc["targets"] if t["job"] == "edge-nodes"]) == NODES
        assert (state / "auth" / "password").exists()  # --auth
        ports[user] = _ports(state)
        assert (hub.homes / user / "01_fleet_tour.ipynb").exists()  # the lessons, copied in
    assert not set(ports["ada"]) & set(ports["grace"])

    # through the hub: Prometheus (its pages under the proxy's path), the pages, Alertmanager
    for user in learners:
        status, _, body = hub.get(f"/user/{user}/prometheus/api/v1/targets")
        assert status == 200, body
        seen = {t["labels"]["instance"] for t in json.loads(body)["data"]["activeTargets"]}
        assert seen == {f"127.0.0.1:{p}" for p in ports[user][: NODES + 2]}  # nodes, itself, AM
    status, kind, body = hub.get("/user/ada/prometheus/classic/graph")
    assert status == 200 and "text/html" in kind, body[:500]
    assert "/user/ada/prometheus/classic/static/" in body  # its links go through the hub
    # its redirects too, the prefix once (Prometheus knows it, and the proxy adds it)
    assert hub.get("/user/ada/prometheus/", follow=False)[:2] == (
        302, "/user/ada/prometheus/classic/graph")  # fmt: skip
    status, _, body = hub.get("/user/ada/labkit/voila/render/alertmanager.ipynb")
    assert status == 200, body[:500]
    assert '"baseUrl": "/user/ada/labkit/"' in body  # Voilà's client addresses: the hub's path
    kernel = re.findall(r'"kernelId": "([0-9a-f-]{36})"', body)
    assert kernel, body[:500]  # the page's kernel, and its channels through the hub
    hub.websocket(f"/user/ada/labkit/api/kernels/{kernel[0]}/channels")
    status, _, body = hub.get("/user/ada/alertmanager/api/v2/status")
    assert status == 200 and "cluster" in json.loads(body), body
    status, _, body = hub.get("/user/ada/server-proxy/servers-info")
    assert status == 200, body
    tiles = {s["launcher_entry"]["title"] for s in json.loads(body)["server_processes"]}
    assert tiles == {"Prometheus", "Lab dashboard", "Alertmanager view"}

    # a fault in ada's lab: in her alerts, in none of grace's
    injected = subprocess.run([*LABKIT, "--state-dir", str(hub.state("ada")), "inject",
                               "--node", "1", "--failure", "cpu_spike", "--duration", "60"],
                              capture_output=True, text=True, timeout=60)  # fmt: skip
    assert injected.returncode == 0, injected.stderr
    wait_for("HighCPUUsage in ada's Alertmanager",
             lambda: "HighCPUUsage" in _alert_names(hub, "ada", "alertmanager"), timeout=30)  # fmt: skip
    for api in ("prometheus", "alertmanager"):
        assert "HighCPUUsage" not in _alert_names(hub, "grace", api)
    journal = hub.state("grace") / "journal" / "injections.jsonl"
    assert "cpu_spike" not in (journal.read_text() if journal.exists() else "")

    # ada stops her server: her lab stops, its ports are free; grace's runs on
    started = time.monotonic()
    hub.api("DELETE", "/users/ada/server")
    wait_for("ada's server to stop", lambda: hub.server("ada") is None, timeout=60)
    wait_for("ada's lab to stop", lambda: not _lab_pids(hub.state("ada")), timeout=60)
    wait_for("ada's ports to be free",
             lambda: not any(port_open("127.0.0.1", p, timeout=0.2) for p in ports["ada"]),
             timeout=30)  # fmt: skip
    assert not (hub.state("ada") / "lab.json").exists()
    print(f"ada's server and lab stopped in {time.monotonic() - started:.1f} s")
    assert _all_up(hub.state("grace")) is not None

    # ada comes back: her lab on her last ports again (the same series); then stopped and
    # started again at once: the new server waits for the old lab to be down, and keeps its own
    hub.api("POST", "/users/ada/server")
    _wait_ready(hub, "ada")
    wait_for("every target of ada's lab up", lambda: _all_up(hub.state("ada")), timeout=60)
    assert _ports(hub.state("ada")) == ports["ada"]
    hub.api("DELETE", "/users/ada/server")
    wait_for("ada's server to stop", lambda: hub.server("ada") is None, timeout=60)
    hub.api("POST", "/users/ada/server")
    _wait_ready(hub, "ada")
    wait_for("every target of ada's lab up", lambda: _all_up(hub.state("ada")), timeout=60)
    said = hub.log.read_text()
    lab = hub.state("ada")
    assert said.rindex(f"stopping the lab in {lab}") < said.rindex(f"starting the lab in {lab}")
    assert _lab_pids(lab) and _all_up(lab) is not None

    # grace is idle: the culler stops her server, and so her lab
    wait_for("grace's server to be culled", lambda: hub.server("grace") is None,
             timeout=CULL_SECONDS + 90)  # fmt: skip
    wait_for("grace's lab to stop", lambda: not _lab_pids(hub.state("grace")), timeout=60)
    wait_for("grace's ports to be free",
             lambda: not any(port_open("127.0.0.1", p, timeout=0.2) for p in ports["grace"]),
             timeout=30)  # fmt: skip
    assert "Culling server grace" in hub.log.read_text()  # the culler's doing, not a crash
