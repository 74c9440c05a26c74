"""Shared fixtures: a fake clock, free loopback ports, a real fleet process, and real labs on
free ports (`running_lab`, `shared_lab`)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import pytest

from labkit.exposition import render
from labkit.node import Node
from labkit.processes import free_port_block
from labkit.service import NodeApp

REPO = Path(__file__).resolve().parent.parent
LABKIT = [sys.executable, "-m", "labkit.cli"]
CHROMIUM = "/usr/bin/chromium"  # Debian's; `make test` installs it (Playwright drives it)
# no first-run, no background traffic: the machine reaches no network but package registries
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


class FakeClock:
    """A wall clock the test moves by hand."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@contextlib.contextmanager
def serving(respond: Callable[[str], tuple[int, str, bytes]]) -> Iterator[str]:
    """A stand-in HTTP server on loopback, for what cannot run here (an upstream Prometheus,
    one answering a given body): every GET is answered `respond(path)` = (status, content
    type, body). Yields its base URL; stopped on exit."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, kind, body = respond(self.path)
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def wait_for(what: str, check: Callable[[], Any], timeout: float = 30.0) -> Any:
    """`check()`'s first true result, polled every 0.2 s; AssertionError after `timeout`
    seconds (live tests wait for what a loaded machine makes slow, never for a fixed time)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


def free_ports(count: int) -> int:
    """A base port with `count` consecutive free ports on 127.0.0.1, from 20000 to 32000:
    below Linux's ephemeral range (see labkit.processes.free_port_block)."""
    return free_port_block(count)


def wait_http(url: str, timeout: float = 15.0, any_status: bool = False) -> None:
    """Until `url` answers 200 (with `any_status`, answers at all: a 401 of a node that asks
    for credentials counts)."""
    import urllib.error

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            if any_status:
                return
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@dataclass
class RunningFleet:
    process: subprocess.Popen[bytes]
    base_port: int
    nodes: int
    state_dir: Path

    def url(self, node_id: int) -> str:
        return f"http://127.0.0.1:{self.base_port + node_id - 1}"

    @property
    def journal(self) -> Path:
        return self.state_dir / "journal" / "injections.jsonl"

    def env(self) -> dict[str, str]:
        return {**os.environ, "LABKIT_STATE_DIR": str(self.state_dir)}

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*LABKIT, *args], env=self.env(), capture_output=True, text=True, timeout=60
        )


@contextlib.contextmanager
def start_fleet(
    state_dir: Path, nodes: int, seed: int = 0, extra: tuple[str, ...] | list[str] = ()
) -> Iterator[RunningFleet]:
    """`labkit fleet` on free ports (`extra`: more of its options), stopped on exit."""
    base = free_ports(nodes)
    command = [*LABKIT, "fleet", "--nodes", str(nodes), "--base-port", str(base),
               "--seed", str(seed), *extra]  # fmt: skip
    proc = subprocess.Popen(
        command,
        env={**os.environ, "LABKIT_STATE_DIR": str(state_dir)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    fleet = RunningFleet(proc, base, nodes, state_dir)
    try:
        for node_id in range(1, nodes + 1):
            wait_http(fleet.url(node_id) + "/health", any_status=bool(extra))
        yield fleet
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[RunningFleet]:
    with start_fleet(tmp_path / "lab", nodes=4) as running:
        yield running


def make_app(node: Node) -> NodeApp:
    return NodeApp({8000: node})


__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "LABKIT",
    "REPO",
    "FakeClock",
    "RunningFleet",
    "make_app",
    "render",
    "running_lab",
    "start_fleet",
]


@contextlib.contextmanager
def running_lab(nodes: int, state: Path, out: TextIO | None = None) -> Iterator[Any]:
    """A real embedded lab (`labkit up`) of `nodes` nodes on free loopback ports, its state in
    `state`; `out` gets what `up` and `down` print (default: nowhere). Stopped on exit."""
    from labkit.lab import Lab
    from labkit.settings import Settings
    from labkit.stack import LabConfig, down, up

    base = free_ports(nodes + 4)
    config = LabConfig(nodes=nodes, base_port=base, prometheus_port=base + nodes,
                       alertmanager_port=base + nodes + 1, receiver_port=base + nodes + 2,
                       dashboard_port=base + nodes + 3)  # fmt: skip
    settings = Settings(state)
    sink = out if out is not None else open(os.devnull, "w")  # noqa: SIM115
    try:
        up(config, settings, out=sink)
        sink.flush()
        yield Lab(config, settings)
    finally:
        down(settings, out=sink)
        if out is None:
            sink.close()


@pytest.fixture(scope="session")
def shared_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One embedded lab (6 nodes, free ports, temporary state) for the tests that only read
    from it or inject faults that end by themselves; stopped at the end of the session."""
    state = tmp_path_factory.mktemp("shared-lab")
    # what `labkit up` printed, for the tests of its address lines: <state>/up.txt
    with (state / "up.txt").open("w") as sink, running_lab(6, state, sink) as lab:
        yield lab
