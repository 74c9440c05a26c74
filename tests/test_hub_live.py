"""A class on JupyterHub (issue 17): a real hub (deploy/jupyterhub/jupyterhub_config.py) with
configurable-http-proxy on free loopback ports, three learners. As root (as here and in CI),
each learner's server runs as a uid of its own (tests/hub_spawner.py: SimpleLocalProcessSpawner
with a uid per learner, as a class's LocalProcessSpawner runs each as their system user).

Two learners are made and started through the hub's REST API with an admin token, the third
signs in with Chromium. Each server starts its own lab (every target up, its own ports and
secret), reachable through the hub with jupyter-server-proxy; code run in each learner's kernel
sees that learner's lab only; a fault injected by one is in no other lab's alerts; one learner
can neither read nor inject another's lab, through the hub (403) or on loopback (its secret
unreadable, 401 without it); stopping a server stops its lab and frees its ports, and so does
the idle culler culling one. In Chromium, a learner signs in, opens lesson 2 through the hub,
injects with the panel and sees the alert (screenshots in .lab/screenshots/hub-*.png)."""

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
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from labkit.processes import port_open
from labkit.stack import LabPaths, running
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, LABKIT, REPO, free_ports, wait_for
from tests.test_browser import dismiss_news

CHP = REPO / "node_modules" / ".bin" / "configurable-http-proxy"
CONFIG = REPO / "deploy" / "jupyterhub" / "jupyterhub_config.py"
MISSING = [name for name in ("jupyterhub", "jupyter_server_proxy", "jupyterhub_idle_culler")
           if importlib.util.find_spec(name) is None]  # fmt: skip
if not CHP.exists():
    MISSING.append("configurable-http-proxy (npm)")
if shutil.which("prometheus") is None:
    MISSING.append("prometheus")
NODES = 3  # per learner: three labs, a hub and a browser on two cores
CULL_SECONDS = 75  # an idle server is culled after this (the culler looks every 10 s)
LEARNERS = ("ada", "grace", "hedy")  # hedy signs in with the browser
SEPARATE_UIDS = os.geteuid() == 0  # each learner as a uid of their own (root can setuid)
FIRST_UID = 41001  # the learners' uids: no /etc/passwd entry (the test adds no system users)
SHOTS = REPO / ".lab" / "screenshots"

pytestmark = [
    pytest.mark.live,
    pytest.mark.timeout(600),
    pytest.mark.skipif(bool(MISSING), reason=f"`make hub-packages` installs {MISSING}"),
]


@dataclass
class Hub:
    url: str
    token: str
    homes: Path
    log: Path
    password: str  # the learners' shared password

    def api(self, method: str, path: str, body: Any = None) -> Any:
        status, _, text = self.request(method, f"/hub/api{path}", body)
        assert status < 300, (method, path, status, text)
        return json.loads(text) if text else None

    def request(self, method: str, path: str, body: Any = None, token: str | None = None,
                follow: bool = True) -> tuple[int, str, str]:  # fmt: skip
        """A request through the hub (its proxy, the user's server) with `token` (the admin's
        by default): status, content type (or where a redirect goes, when not followed),
        body."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"token {token or self.token}",
                   "Content-Type": "application/json"}  # fmt: skip
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method,
                                         headers=headers)  # fmt: skip
        opener = urllib.request.build_opener(*([] if follow else [_Stay()]))
        try:
            with opener.open(request, timeout=60) as r:
                return r.status, r.headers.get("Content-Type", ""), r.read().decode()
        except urllib.error.HTTPError as exc:
            said = exc.headers.get("Location" if exc.code in (301, 302) else "Content-Type", "")
            return exc.code, said, exc.read().decode()

    def get(self, path: str, follow: bool = True, token: str | None = None) -> tuple[int, str, str]:
        return self.request("GET", path, token=token, follow=follow)

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

    def run(self, user: str, code: str) -> str:
        """`code` run in a new kernel of `user`'s server, through the hub (Jupyter's REST API
        and the kernel's websocket, as JupyterLab does): what it printed. An error in the code
        fails with its traceback."""
        from tornado import httpclient, ioloop, websocket

        status, _, body = self.request("POST", f"/user/{user}/api/kernels", {"name": "python3"})
        assert status == 201, (status, body)
        kernel = json.loads(body)["id"]
        msg_id, printed, failed = secrets.token_hex(8), [], []

        async def execute() -> None:
            url = f"ws{self.url.removeprefix('http')}/user/{user}/api/kernels/{kernel}/channels"
            request = httpclient.HTTPRequest(
                url, headers={"Authorization": f"token {self.token}", "Origin": self.url}
            )
            ws = await websocket.websocket_connect(request)
            header = {"msg_id": msg_id, "msg_type": "execute_request", "session": msg_id,
                      "username": user, "version": "5.3", "date": ""}  # fmt: skip
            content = {"code": code, "silent": False, "store_history": False,
                       "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}  # fmt: skip
            await ws.write_message(json.dumps({"header": header, "parent_header": {},
                                               "metadata": {}, "content": content,
                                               "channel": "shell"}))  # fmt: skip
            while True:
                text = await ws.read_message()
                assert text is not None, "the kernel's websocket closed"
                msg = json.loads(text)
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind = msg["header"]["msg_type"]
                if kind == "stream":
                    printed.append(msg["content"]["text"])
                elif kind == "error":
                    failed.append("\n".join(msg["content"]["traceback"]))
                elif kind == "status" and msg["content"]["execution_state"] == "idle":
                    break
            ws.close()

        try:
            ioloop.IOLoop().run_sync(execute, timeout=120)
        finally:
            self.request("DELETE", f"/user/{user}/api/kernels/{kernel}")
        assert not failed, failed[0]
        return "".join(printed)

    def learner_token(self, user: str) -> str:
        """An API token of `user`'s own, with the learner's own rights."""
        return str(self.api("POST", f"/users/{user}/tokens", {"note": "test"})["token"])

    def server(self, user: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.api("GET", f"/users/{user}")["servers"].get("")
        return found

    def state(self, user: str) -> Path:
        return self.homes / user / ".lab"

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


class _Stay(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _reachable(command: list[str], scratch: Path) -> list[str]:
    """`command` (the hub) so that other uids can run this Python: where the interpreter or
    the checkout lies in a folder others cannot enter (here /root/.pyenv), the hub runs in a
    mount namespace of its own (unshare) in which that folder is an empty tmpfs (0755) with
    only those trees bound back. Nothing changes outside the namespace."""
    needed = sorted({Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), REPO})
    masks: dict[Path, list[Path]] = {}
    for path in needed:
        closed = [p for p in reversed(path.parents) if not p.stat().st_mode & 0o001]
        if closed:
            masks.setdefault(closed[0], []).append(path)
    if not masks:
        return command
    lines = ["set -e"]
    for n, (mask, keep) in enumerate(masks.items()):
        for m, path in enumerate(keep):
            lines += [f"mkdir -p {scratch}/keep-{n}-{m}",
                      f"mount --bind {path} {scratch}/keep-{n}-{m}"]  # fmt: skip
        lines.append(f"mount -t tmpfs -o mode=0755 labkit-test {mask}")
        for m, path in enumerate(keep):
            lines += [f"mkdir -p {path}", f"mount --bind {scratch}/keep-{n}-{m} {path}"]
    lines.append('exec "$@"')
    return ["unshare", "--mount", "--propagation", "private", "--",
            "sh", "-c", "\n".join(lines), "sh", *command]  # fmt: skip


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    root = tmp_path_factory.mktemp("hub")  # the hub's own: root's alone
    homes = Path(tempfile.mkdtemp(prefix="labkit-hub-homes-"))  # each learner's: theirs
    homes.chmod(0o711)
    base = free_ports(3)
    token = secrets.token_hex(16)
    config = root / "jupyterhub_config.py"
    lines = [f"load_subconfig({str(CONFIG)!r})"]
    if SEPARATE_UIDS:
        uids = {name: FIRST_UID + n for n, name in enumerate(LEARNERS)}
        lines += ['c.JupyterHub.spawner_class = "tests.hub_spawner.SeparateUidSpawner"',
                  f"c.SeparateUidSpawner.uids = {uids!r}"]  # fmt: skip
    config.write_text("\n".join(lines) + "\n")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "LABKIT_HUB_DIR": str(root / "hub"),
        "LABKIT_HUB_PORT": str(base),
        "LABKIT_HUB_API_PORT": str(base + 1),
        "LABKIT_HUB_PROXY_API_PORT": str(base + 2),
        "LABKIT_HUB_HOMES": str(homes / "{username}"),
        "LABKIT_HUB_ADMIN_TOKEN": token,
        "LABKIT_HUB_NODES": str(NODES),
        "LABKIT_HUB_CULL_TIMEOUT": str(CULL_SECONDS),
        "LABKIT_HUB_CULL_EVERY": "10",
        "LABKIT_HUB_PASSWORD": secrets.token_urlsafe(12),
    }
    env.pop("LABKIT_STATE_DIR", None)
    command = [sys.executable, "-m", "jupyterhub", "-f", str(config)]
    if SEPARATE_UIDS:
        command = _reachable(command, root)
    log = root / "hub.log"
    with log.open("w") as out:
        proc = subprocess.Popen(command, cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    print(f"the hub's log (its servers' and labs' too): {log}")
    running = Hub(f"http://127.0.0.1:{base}", token, homes, log, env["LABKIT_HUB_PASSWORD"])
    try:
        wait_for("the hub's API", lambda: _answers(running) or proc.poll() is not None, timeout=60)
        assert proc.poll() is None, f"the hub did not start:\n{running.tail()}"
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
        shutil.rmtree(homes, ignore_errors=True)


def _wait_ready(hub: Hub, user: str) -> None:
    try:
        wait_for(f"{user}'s server", lambda: (hub.server(user) or {}).get("ready"), timeout=200)
    except AssertionError as exc:
        raise AssertionError(f"{user}'s server did not start; the log:\n{hub.tail()}") from exc


def _answers(hub: Hub) -> bool:
    try:
        return bool(hub.api("GET", "/"))
    except (OSError, AssertionError):
        return False


def _lab_pids(state: Path) -> list[int]:
    """The lab's processes still alive, by their pid files (labkit's own reading of them)."""
    return [pid for pid in running(LabPaths(state)).values() if pid is not None]


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


def _journal(state: Path) -> list[str]:
    """The lines of the lab's injection journal (what was injected, recovered, expired)."""
    path = state / "journal" / "injections.jsonl"
    return path.read_text().splitlines() if path.exists() else []


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


# Run in each learner's kernel: their lab (Lab.open(), as every live lesson's second cell), then the
# other learners' labs, tried directly on loopback. OTHERS: name -> (state folder, a node's
# port, Prometheus' port), given by the test.
IN_THE_KERNEL = """
import json, os, urllib.error, urllib.request
from pathlib import Path
from labkit import Lab, auth

def attempt(url, body=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={
        "Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code

def read(path):
    try:
        Path(path).read_text()
        return "read"
    except OSError as exc:
        return type(exc).__name__

lab = Lab.open()
mine = auth.read(lab.settings.state_dir).header
fault = {"failure": "cpu_spike", "duration_seconds": 60}
others = {
    name: {
        "secret": read(Path(state, "auth", "password")),
        "journal": read(Path(state, "journal", "injections.jsonl")),
        "query": attempt(f"http://127.0.0.1:{prometheus}/api/v1/query?query=up"),
        "inject": attempt(f"http://127.0.0.1:{node}/inject", fault),
        "inject with my secret": attempt(f"http://127.0.0.1:{node}/inject", fault,
                                         {"Authorization": mine}),
    }
    for name, (state, node, prometheus) in OTHERS.items()
}
print(json.dumps({"user": os.environ["JUPYTERHUB_USER"], "uid": os.getuid(),
                  "state": str(lab.settings.state_dir),
                  "targets": sorted({r["metric"]["instance"] for r in lab.query("up")}),
                  "others": others}))
"""


def _start(hub: Hub, user: str) -> None:
    """`user` made (if new) and their server started, unless it runs already."""
    if hub.request("GET", f"/hub/api/users/{user}")[0] == 404:
        hub.api("POST", f"/users/{user}")
    if hub.server(user) is None:
        hub.api("POST", f"/users/{user}/server")


@pytest.mark.timeout(600)
def test_a_learner_signs_in_opens_lesson_2_through_the_hub_and_sees_the_alert(hub: Hub) -> None:
    assert Path(CHROMIUM).exists(), "chromium is missing: `make test` installs it (apt chromium)"
    from playwright.sync_api import expect, sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(f"{hub.url}/hub/login")
            page.fill("#username_input", "hedy")
            page.fill("#password_input", hub.password)
            page.click("#login_submit")
            # the hub starts her server (her lab first), then opens JupyterLab's launcher
            page.wait_for_url(re.compile(r"/user/hedy/lab"), timeout=240_000)
            launcher = page.locator(".jp-Launcher-section", has_text="Notebook")
            expect(launcher).to_be_visible(timeout=60_000)
            for title in ("Prometheus", "Lab dashboard", "Alertmanager view"):
                tile = launcher.locator(".jp-LauncherCard", has_text=title)
                expect(tile).to_have_count(1)
                expect(tile.locator("img")).to_have_js_property("naturalWidth", 48)  # its picture
            page.screenshot(path=str(SHOTS / "hub-launcher.png"))

            page.goto(f"{hub.url}/user/hedy/lab/tree/02_failure_injection.ipynb")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
            expect(page.locator("#jp-main-statusbar")).to_contain_text("Idle", timeout=90_000)
            page.locator(".jp-CodeCell .jp-InputArea-editor").first.click()
            page.keyboard.press("Shift+Enter")  # the first cell: the imports
            page.keyboard.press("Shift+Enter")  # the second: her lab, and the panel
            control = page.locator(".labkit-control-panel").first
            expect(control).to_be_visible(timeout=90_000)
            control.evaluate("el => el.scrollIntoView({block: 'start'})")
            assert control.locator(".labkit-node-tile").count() == NODES  # her lab's nodes
            control.locator(".labkit-node-toggle-1").click()
            control.locator(".labkit-node-toggle-2").click()
            expect(control.locator(".labkit-chosen")).to_have_text("chosen: node 2")
            control.locator(".widget-dropdown select").select_option("cpu_spike")
            duration = control.locator(".labkit-duration input")
            duration.fill("60")
            duration.press("Tab")
            control.locator("button.labkit-inject").click()
            message = control.locator(".labkit-message")
            expect(message).to_contain_text("Injected cpu_spike on node 2 for 60 s")
            row = control.locator("tr.labkit-alert", has_text="HighCPUUsage").filter(
                has=page.locator("td", has_text=re.compile(r"^2$"))
            )
            expect(row).to_have_count(1, timeout=30_000)
            history = control.locator(".labkit-history li.labkit-injection").first
            expect(history).to_contain_text(
                re.compile(r"cpu_spike on node 2, .*HighCPUUsage fired after \d+\.\d\d s"),
                timeout=30_000,
            )
            dismiss_news(page)  # JupyterLab's "notified of news?" toast, once per learner
            page.screenshot(path=str(SHOTS / "hub-lesson2-injected.png"))
            # the alert is hers, in her lab: her Prometheus says so, through the hub
            assert "HighCPUUsage" in _alert_names(hub, "hedy", "prometheus")
            journal = (hub.state("hedy") / "journal" / "injections.jsonl").read_text()
            assert '"failure":"cpu_spike"' in journal.replace(" ", ""), journal
            # the panel's links go through the hub (her browser is not on the lab's host)
            alerts = control.locator(".labkit-links a", has_text="Prometheus' alerts")
            assert alerts.get_attribute("href") == "/user/hedy/prometheus/classic/alerts"
            control.locator("button.labkit-recover").click()
            expect(message).to_contain_text("Recovered node 2: cpu_spike")
            with page.expect_popup() as opened:
                alerts.click()
            prometheus = opened.value
            expect(prometheus.locator("body")).to_contain_text("HighCPUUsage", timeout=30_000)
            assert prometheus.url == f"{hub.url}/user/hedy/prometheus/classic/alerts"
            prometheus.screenshot(path=str(SHOTS / "hub-prometheus-alerts.png"))
        finally:
            page.screenshot(path=str(SHOTS / "hub-last.png"))
            browser.close()


def test_each_learner_gets_a_lab_of_their_own_stopped_with_their_server(hub: Hub) -> None:
    learners = list(LEARNERS)
    for user in learners:  # at once (hedy's may run since she signed in)
        _start(hub, user)
    for user in learners:
        _wait_ready(hub, user)

    # every learner's lab: up with every target, on ports of its own, with its own secret, in
    # a folder of the learner's alone
    ports = {}
    for n, user in enumerate(learners):
        state = hub.state(user)
        assert not (state / "start-problem.txt").exists(), (state / "start-problem.txt").read_text()
        doc = wait_for(f"every target of {user}'s lab up", lambda s=state: _all_up(s), timeout=60)
        assert len([t for t in doc["targets"] if t["job"] == "edge-nodes"]) == NODES
        assert (state / "auth" / "password").exists()  # --auth
        assert state.stat().st_mode & 0o777 == 0o700
        if SEPARATE_UIDS:
            assert state.stat().st_uid == FIRST_UID + n
        ports[user] = _ports(state)
        assert (hub.homes / user / "01_fleet_tour.ipynb").exists()  # the lessons, copied in
    assert len({p for user in learners for p in ports[user]}) == sum(map(len, ports.values()))

    # code in each learner's kernel sees their lab alone, and cannot read nor inject another's
    # lab on loopback: its secret cannot be read (another uid's), and without it a node and
    # Prometheus answer 401 (the learner's own secret too)
    journals = {user: _journal(hub.state(user)) for user in learners}
    for user in learners:
        others = {other: (str(hub.state(other)), ports[other][0], ports[other][NODES])
                  for other in learners if other != user}  # fmt: skip
        seen = json.loads(hub.run(user, f"OTHERS = {others!r}\n{IN_THE_KERNEL}"))
        assert seen["user"] == user and Path(seen["state"]) == hub.state(user)
        assert seen["targets"] == sorted(f"127.0.0.1:{p}" for p in ports[user][: NODES + 2])
        for other, tried in seen["others"].items():
            assert tried["query"] == tried["inject"] == tried["inject with my secret"] == 401, (
                user, other, tried)  # fmt: skip
            if SEPARATE_UIDS:
                assert seen["uid"] == FIRST_UID + learners.index(user)
                assert tried["secret"] == tried["journal"] == "PermissionError", (user, tried)
    for user in learners:  # nothing was injected anywhere
        assert _journal(hub.state(user)) == journals[user], user

    # through the hub with a learner's own token: their server answers, another's refuses
    ada = hub.learner_token("ada")
    assert hub.get("/user/ada/prometheus/api/v1/alerts", token=ada)[0] == 200
    for path in ("/user/grace/prometheus/api/v1/alerts", "/user/grace/alertmanager/api/v2/alerts",
                 "/user/grace/labkit/voila/render/dashboard.ipynb", "/user/grace/api/kernels"):  # fmt: skip
        assert hub.get(path, token=ada)[0] == 403, path
    status, _, _ = hub.request("POST", "/user/grace/api/kernels", {"name": "python3"}, token=ada)
    assert status == 403

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

    # a fault injected in ada's kernel: in her alerts, in no one else's
    hub.run("ada", "from labkit import Lab\nLab.open().inject(1, 'cpu_spike', 60)")
    wait_for("HighCPUUsage in ada's Alertmanager",
             lambda: "HighCPUUsage" in _alert_names(hub, "ada", "alertmanager"), timeout=30)  # fmt: skip
    assert "cpu_spike" in _journal(hub.state("ada"))[-1]
    for other in ("grace", "hedy"):
        for api in ("prometheus", "alertmanager"):
            assert "HighCPUUsage" not in _alert_names(hub, other, api), other
        assert _journal(hub.state(other)) == journals[other], other

    # ada stops her server: her lab stops, its ports are free; grace's runs on
    started = time.monotonic()
    hub.api("DELETE", "/users/ada/server")
    wait_for("ada's server to stop", lambda: hub.server("ada") is None, timeout=60)
    wait_for("ada's lab to stop", lambda: not _lab_pids(hub.state("ada")), timeout=60)
    wait_for("ada's ports to be free",
             lambda: not any(port_open("127.0.0.1", p, timeout=0.2) for p in ports["ada"]),
             timeout=30)  # fmt: skip
    wait_for("ada's lab record to go", lambda: not (hub.state("ada") / "lab.json").exists())
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
