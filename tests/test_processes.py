"""labkit.processes with real short-lived processes: spawn, pid files, readiness, stop, ports."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from labkit.errors import PortInUse, StartTimeout
from labkit.processes import (
    Component,
    ProcessFiles,
    check_port_free,
    first_free_port,
    free_port_block,
    read_pid,
    spawn,
    stop,
    wait_ready,
    write_pid,
)
from tests.conftest import free_ports, wait_for

SERVE = (
    "import http.server, sys\n"
    "http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])),"
    " http.server.SimpleHTTPRequestHandler).serve_forever()"
)
# each prints a line its command (in the log's header line) does not hold
SLEEP = "import time; print('asleep', 'now', flush=True); time.sleep(60)"
DEAF = (  # ignores SIGTERM, says so once it does
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
    " print('deaf', 'now', flush=True); time.sleep(60)"
)


@pytest.fixture
def files(tmp_path: Path) -> Iterator[ProcessFiles]:
    """Where the test's processes keep their files; whatever is still running at the end is
    killed (a failing test leaves nothing behind)."""
    folder = ProcessFiles(pids=tmp_path / "run", logs=tmp_path / "logs", cwd=tmp_path)
    folder.make()
    yield folder
    for pid_file in folder.pids.glob("*.pid"):
        pid = json.loads(pid_file.read_text())["pid"]
        if read_pid(pid_file) is not None:
            os.kill(pid, signal.SIGKILL)
            _reap(pid, 5.0)


def python(name: str, code: str, *args: str, ready: str = "tcp://127.0.0.1:1") -> Component:
    return Component(name, [sys.executable, "-c", code, *args], ready)


def _reap(pid: int, timeout: float) -> int | None:
    """The wait status of our child `pid` once it has exited, None if it is still running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return None  # reaped elsewhere
        if done:
            return status
        time.sleep(0.02)
    return None


def _log_says(files: ProcessFiles, name: str, text: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in files.log(name).read_text():
        assert time.monotonic() < deadline, f"{name} never printed {text!r}"
        time.sleep(0.02)


def test_spawn_writes_the_pid_file_and_log_and_stop_removes_the_pid_file(
    files: ProcessFiles,
) -> None:
    port = free_ports(1)
    comp = python("web", SERVE, str(port), ready=f"http://127.0.0.1:{port}/")
    pid = spawn(comp, files)
    assert json.loads(files.pid("web").read_text()) == {"pid": pid, "argv0": sys.executable}
    assert read_pid(files.pid("web")) == pid
    wait_ready(comp, files, time.monotonic() + 15)
    assert files.log("web").read_text().startswith("\n--- ")  # the dated header line
    assert sys.executable in files.log("web").read_text()
    assert os.getsid(pid) == pid  # its own session: a Ctrl-C here does not reach it
    started = time.monotonic()
    assert stop(files.pid("web")) is True
    assert time.monotonic() - started < 10  # SIGTERM was enough: no 20 s grace period
    assert not files.pid("web").exists()
    assert not Path(f"/proc/{pid}").exists()  # gone, and reaped
    assert stop(files.pid("web")) is False  # nothing left to stop


def test_readiness_on_a_port(files: ProcessFiles) -> None:
    port = free_ports(1)
    comp = python("web", SERVE, str(port), ready=f"tcp://127.0.0.1:{port}")
    spawn(comp, files)
    wait_ready(comp, files, time.monotonic() + 15)
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    assert stop(files.pid("web"))


def test_waiting_too_long_names_the_process_and_the_end_of_its_log(files: ProcessFiles) -> None:
    port = free_ports(1)  # nobody listens there
    comp = python("sleeper", SLEEP, ready=f"http://127.0.0.1:{port}/-/ready")
    spawn(comp, files)
    _log_says(files, "sleeper", "asleep now")
    started = time.monotonic()
    with pytest.raises(StartTimeout) as err:
        wait_ready(comp, files, started + 0.5)
    assert time.monotonic() - started < 5
    message = str(err.value)
    assert message.startswith(f"sleeper was not ready at http://127.0.0.1:{port}/-/ready in time")
    assert str(files.log("sleeper")) in message and message.endswith("asleep now")
    assert read_pid(files.pid("sleeper")) is not None  # a timeout does not stop it
    assert stop(files.pid("sleeper"))


def test_a_process_that_exits_while_starting_is_reported_at_once(files: ProcessFiles) -> None:
    comp = python("crasher", "print('bad flag:', '--nope'); raise SystemExit(2)")
    spawn(comp, files)
    started = time.monotonic()
    with pytest.raises(StartTimeout) as err:
        wait_ready(comp, files, started + 30)
    assert time.monotonic() - started < 10  # not the whole deadline
    assert str(err.value).startswith(
        f"crasher exited while starting. The end of {files.log('crasher')}:"
    )
    assert str(err.value).endswith("bad flag: --nope")
    assert not files.pid("crasher").exists()  # its stale pid file was removed


def test_stop_escalates_to_sigkill_when_sigterm_is_ignored(files: ProcessFiles) -> None:
    comp = python("deaf", DEAF)
    pid = spawn(comp, files)
    _log_says(files, "deaf", "deaf now")  # its handler is in place
    started = time.monotonic()
    assert stop(files.pid("deaf"), wait=0.5) is True
    assert time.monotonic() - started >= 0.5  # SIGTERM first, and its grace period
    # then SIGKILL (it ignores SIGTERM and sleeps a minute), and `stop` returns once it has
    # ended, every thread of it (its ports are free then): reaped, as it is our child
    assert not Path(f"/proc/{pid}").exists()
    assert not files.pid("deaf").exists()


# its main thread ends (a zombie) while another thread holds a port: a killed process is this
# for a moment, while its threads exit one by one
LEADER_GONE = (
    "import ctypes, socket, sys, threading, time; s = socket.socket();"
    " s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen();"
    " threading.Thread(target=time.sleep, args=(60,)).start();"
    " print('leader', 'ends', flush=True); ctypes.CDLL(None).pthread_exit(None)"
)


def test_a_process_runs_until_every_thread_has_ended(files: ProcessFiles) -> None:
    port = free_ports(1)
    pid = spawn(python("threads", LEADER_GONE, str(port)), files)
    _log_says(files, "threads", "leader ends")
    wait_for("its leader to be a zombie",
             lambda: Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] == "Z")  # fmt: skip
    assert read_pid(files.pid("threads")) == pid  # still running: its other thread is
    with pytest.raises(PortInUse):
        check_port_free("127.0.0.1", port, "a test")
    assert stop(files.pid("threads"), wait=0.5) is True
    check_port_free("127.0.0.1", port, "a test")  # stop returned once its port was free


def test_a_stale_pid_file_is_recognised_removed_and_never_signalled(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / "dead.pid"
    write_pid(stale, dead.pid, sys.executable)
    assert read_pid(stale) is None and not stale.exists()
    # a live pid that runs another program (this pytest, not prometheus): a reused pid
    reused = tmp_path / "reused.pid"
    write_pid(reused, os.getpid(), "/usr/bin/prometheus")
    assert stop(reused) is False and not reused.exists()  # and this test is still alive


@pytest.mark.parametrize("content", ["", "{", "[]", '{"pid": 1}', '{"pid": "x", "argv0": "p"}'])
def test_an_unreadable_pid_file_is_no_process(tmp_path: Path, content: str) -> None:
    broken = tmp_path / "broken.pid"
    broken.write_text(content)
    assert read_pid(broken) is None


def test_a_port_in_use_is_detected_and_its_holder_named() -> None:
    port = free_ports(2)
    check_port_free("127.0.0.1", port, "the test server")  # free: no error
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        with pytest.raises(PortInUse) as err:
            check_port_free("127.0.0.1", port, "the test server")
        assert err.value.port == port
        assert f"port {port} on 127.0.0.1" in str(err.value)
        assert "the test server cannot listen there" in str(err.value)
        assert f"pid {os.getpid()}" in str(err.value)  # the holder: this test
        assert first_free_port("127.0.0.1", [port, port + 1], "x") == port + 1
        with pytest.raises(PortInUse) as none_free:
            first_free_port("127.0.0.1", [port], "the replay Prometheus")
        assert none_free.value.port == port  # named after the first candidate
    check_port_free("127.0.0.1", port, "the test server")  # free again


def test_a_free_port_block_can_be_bound_and_skips_held_ports() -> None:
    import random

    base = free_port_block(3, rng=random.Random(7))
    socks = [socket.socket() for _ in range(3)]
    try:
        for i, s in enumerate(socks):
            s.bind(("127.0.0.1", base + i))  # no SO_REUSEADDR: truly free
            s.listen()
        assert base >= 20_000 and base + 3 <= 32_000
        # with the same draws, the held block is stepped over
        again = free_port_block(3, rng=random.Random(7))
        assert not base - 3 < again < base + 3
    finally:
        for s in socks:
            s.close()
