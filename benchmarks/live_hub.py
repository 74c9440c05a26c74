"""A real JupyterHub for benchmarks: deploy/jupyterhub/jupyterhub_config.py on free loopback
ports (SimpleLocalProcessSpawner, as `make hub` runs it), an admin token, the learners' homes
in a folder given; learners started and stopped through its REST API, kernels run through it
(as tests/test_hub_live.py does); and the CPU the processes of a start have used.

    with running_hub(tmp) as hub:       # stopped on the way out, whatever happens: SIGTERM
        hub.api("POST", "/users/ada")   # (every server, whose watchers stop the labs), then
        ...                             # every lab checked stopped

Used by benchmarks/class_capacity.py.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from benchmarks.capacity import COMPONENTS, MIB, Group, cmdline, tree
from labkit.processes import free_port_block
from labkit.settings import Settings
from labkit.stack import LabPaths, down, read_pid, running

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "deploy" / "jupyterhub" / "jupyterhub_config.py"


# -- processes ----------------------------------------------------------------------------------


def cpu_seconds(p: psutil.Process) -> float:
    """A process's CPU, its reaped children's included (a `labkit up` it waited for)."""
    t = p.cpu_times()
    return t.user + t.system + t.children_user + t.children_system


def processes_cpu(processes: list[psutil.Process]) -> float:
    total = 0.0
    for p in processes:
        with contextlib.suppress(psutil.Error):
            total += cpu_seconds(p)
    return total


def lab_processes(state: Path) -> list[psutil.Process]:
    found = []
    for name in COMPONENTS:
        pid = read_pid(LabPaths(state), name)
        if pid is not None:
            with contextlib.suppress(psutil.Error):
                found += tree(psutil.Process(pid))
    return found


def lab_pids(state: Path) -> list[int]:
    """The lab's processes still alive, by their pid files (labkit's own reading of them)."""
    return [pid for pid in running(LabPaths(state)).values() if pid is not None]


def stopped(state: Path) -> bool:
    return not lab_pids(state)


def disk_mib(folder: Path) -> float:
    """What `du` says: the blocks of every file under `folder`."""
    used = 0
    for path in folder.rglob("*"):
        with contextlib.suppress(OSError):
            if not path.is_symlink():
                used += path.stat().st_blocks * 512
    return used / MIB


def wait_until(what: str, check: Callable[[], Any], timeout: float, every: float = 0.2) -> Any:
    """`check()`'s first true result, polled; TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def child_env() -> dict[str, str]:
    """The environment of the commands started here: this checkout's labkit first (the
    hub's config keeps PYTHONPATH for the servers), no lab or learner of this process's."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}  # fmt: skip
    env.pop("LABKIT_STATE_DIR", None)
    env.pop("JUPYTERHUB_USER", None)
    return env


# -- the hub ------------------------------------------------------------------------------------


@dataclass
class Hub:
    url: str
    token: str
    homes: Path
    log: Path
    process: psutil.Process

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, str]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"token {self.token}", "Content-Type": "application/json"}
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method,
                                         headers=headers)  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=120) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def api(self, method: str, path: str, body: Any = None) -> Any:
        status, text = self.request(method, f"/hub/api{path}", body)
        if status >= 300:
            raise RuntimeError(f"{method} {path}: {status} {text[:500]}\n{self.tail()}")
        return json.loads(text) if text else None

    def server(self, user: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.api("GET", f"/users/{user}")["servers"].get("")
        return found

    def wait_ready(self, user: str, timeout: float = 400) -> None:
        """Until `user`'s server is ready, by the hub's progress stream (the events the spawn
        page in a learner's browser waits for; its last says ready or failed): one request,
        no polling to load the hub."""
        request = urllib.request.Request(
            f"{self.url}/hub/api/users/{user}/server/progress",
            headers={"Authorization": f"token {self.token}"},
        )
        deadline = time.monotonic() + timeout
        with urllib.request.urlopen(request, timeout=60) as r:  # a keepalive every 8 s
            for raw in r:
                line = raw.decode().strip()
                if line.startswith("data:"):
                    event = json.loads(line.removeprefix("data:"))
                    if event.get("ready"):
                        return
                    if event.get("failed"):
                        raise RuntimeError(f"{user}'s server failed: {event.get('message')}\n"
                                           f"{self.tail()}")  # fmt: skip
                if time.monotonic() > deadline:
                    break
        raise RuntimeError(f"{user}'s server not ready after {timeout:.0f} s:\n{self.tail()}")

    def state(self, user: str) -> Path:
        return self.homes / user / ".lab"

    def server_process(self, user: str) -> psutil.Process:
        """The learner's single-user server (a child of the hub; labkit.hub before its exec)."""
        for p in self.process.children():
            if "jupyterhub.singleuser" in cmdline(p):
                with contextlib.suppress(psutil.Error):
                    if p.environ().get("JUPYTERHUB_USER") == user:
                        return p
        raise RuntimeError(f"no server process of {user} under the hub")

    def own(self) -> dict[str, Group]:
        """The hub's own processes: jupyterhub, configurable-http-proxy (node), the culler."""

        def child(word: str) -> Group:
            def found() -> list[psutil.Process]:
                with contextlib.suppress(psutil.Error):
                    return [p for p in self.process.children() if word in cmdline(p)]
                return []

            return found

        return {"jupyterhub": lambda: [self.process],
                "proxy": child("configurable-http-proxy"),
                "culler": child("jupyterhub_idle_culler")}  # fmt: skip

    def own_cpu(self) -> float:
        return sum(processes_cpu(group()) for group in self.own().values())

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@contextlib.contextmanager
def running_hub(tmp: Path) -> Iterator[Hub]:
    """The hub on free loopback ports; on the way out SIGTERM (it stops every server, whose
    watchers stop the labs), then every lab checked stopped (stopped here if one is not)."""
    base = free_port_block(3)
    homes = tmp / "homes"
    homes.mkdir()
    env = {**child_env(), "LABKIT_HUB_DIR": str(tmp / "hub"), "LABKIT_HUB_PORT": str(base),
           "LABKIT_HUB_API_PORT": str(base + 1), "LABKIT_HUB_PROXY_API_PORT": str(base + 2),
           "LABKIT_HUB_HOMES": str(homes / "{username}"),
           "LABKIT_HUB_ADMIN_TOKEN": secrets.token_hex(16),
           "LABKIT_HUB_PASSWORD": secrets.token_urlsafe(12)}  # fmt: skip
    env.pop("LABKIT_HUB_NODES", None)  # the class default: 12
    log = tmp / "hub.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(CONFIG)],
                                cwd=tmp, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    hub = Hub(f"http://127.0.0.1:{base}", env["LABKIT_HUB_ADMIN_TOKEN"], homes, log,
              psutil.Process(proc.pid))  # fmt: skip
    try:
        wait_until("the hub's API", lambda: answers(hub) or proc.poll() is not None, 90)
        if proc.poll() is not None:
            raise RuntimeError(f"the hub did not start:\n{hub.tail()}")
        yield hub
    finally:
        print("stopping the hub, its servers and their labs")
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        pid_file = tmp / "hub" / "jupyterhub-proxy.pid"
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
        for state in homes.glob("*/.lab"):
            try:
                wait_until(f"the lab in {state} to stop", functools.partial(stopped, state), 60)
            except TimeoutError:
                print(f"  the lab in {state} was left running: stopping it here")
                down(Settings(state), quiet=True)


def answers(hub: Hub) -> bool:
    try:
        return hub.request("GET", "/hub/api/")[0] == 200
    except OSError:
        return False


def stop_server(hub: Hub, user: str) -> float:
    """`user`'s server stopped from the hub, until its lab is down: seconds."""
    started = time.monotonic()
    hub.api("DELETE", f"/users/{user}/server")
    wait_until(f"{user}'s server to stop", lambda: hub.server(user) is None, 90)
    state = hub.state(user)
    wait_until(f"{user}'s lab to stop", lambda: not lab_pids(state), 90)
    wait_until(f"{user}'s lab record to go", lambda: not (state / "lab.json").exists(), 30)
    return time.monotonic() - started


def open_kernel(hub: Hub, user: str, code: str) -> tuple[str, float]:
    """A kernel of `user`'s server through the hub that ran `code` (the kernel is kept): its
    id and the seconds from asking for it to the end of the code."""
    from tornado import httpclient, ioloop, websocket

    started = time.monotonic()
    status, body = hub.request("POST", f"/user/{user}/api/kernels", {"name": "python3"})
    if status != 201:
        raise RuntimeError(f"no kernel for {user}: {status} {body[:300]}")
    kernel = json.loads(body)["id"]
    msg_id, failed = secrets.token_hex(8), []

    async def execute() -> None:
        url = f"ws{hub.url.removeprefix('http')}/user/{user}/api/kernels/{kernel}/channels"
        ws = await websocket.websocket_connect(httpclient.HTTPRequest(
            url, headers={"Authorization": f"token {hub.token}", "Origin": hub.url}))  # fmt: skip
        header = {"msg_id": msg_id, "msg_type": "execute_request", "session": msg_id,
                  "username": user, "version": "5.3", "date": ""}  # fmt: skip
        content = {"code": code, "silent": False, "store_history": False,
                   "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}  # fmt: skip
        await ws.write_message(json.dumps({"header": header, "parent_header": {}, "metadata": {},
                                           "content": content, "channel": "shell"}))  # fmt: skip
        while True:
            text = await ws.read_message()
            if text is None:
                raise RuntimeError("the kernel's websocket closed")
            msg = json.loads(text)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg["header"]["msg_type"]
            if kind == "error":
                failed.append("\n".join(msg["content"]["traceback"]))
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                break
        ws.close()

    ioloop.IOLoop().run_sync(execute, timeout=180)
    if failed:
        raise RuntimeError(f"{user}'s first cell failed: {failed[0]}")
    return kernel, time.monotonic() - started


def kernel_process(server: psutil.Process, kernel: str) -> psutil.Process:
    for p in server.children(recursive=True):
        if kernel in cmdline(p):
            return p
    raise RuntimeError(f"kernel {kernel} is not under server {server.pid}")
