"""Local processes: spawned detached with a log, tracked by pid files, waited for, stopped.
The lab's components (labkit.stack) and a replay's Prometheus (labkit.replay) run this way.

    files = ProcessFiles(pids=state / "run", logs=state / "logs", cwd=state)
    spawn(comp, files)                   # <logs>/<name>.log, <pids>/<name>.pid
    wait_ready(comp, files, deadline)    # comp.ready_url answers, else StartTimeout
    read_pid(files.pid(comp.name))       # the pid while it runs; None (file removed) if stale
    stop(files.pid(comp.name))           # SIGTERM, SIGKILL after `wait` seconds

A pid file holds the pid and the program it was written for (`{"pid": .., "argv0": ..}`); a
pid that is gone, a zombie (every thread of it), or whose `/proc/<pid>/cmdline` names
another program (a reused pid) is stale: its file is removed and it is never signalled. Each
process starts in its own session (and so its own process group): a Ctrl-C in the terminal
that started it does not reach it. `stop` signals the process itself, not its group.

A ready address is `http://...` (answers 200) or `tcp://host:port` (accepts a connection);
`responds` tells a process that answers at all (any status) from one that hangs.
Ports: `check_port_free` raises PortInUse naming the program that holds the port;
`first_free_port` and `free_port_block` find free ones; `PortClaims` keeps labs started at
the same moment from drawing the same free block before either binds it.
"""

from __future__ import annotations

import contextlib
import fcntl
import http.client
import json
import os
import random
import signal
import socket
import stat
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from labkit.errors import LabkitError, PortInUse, StartTimeout


@dataclass(frozen=True)
class Component:
    """A process to run: its name (pid file, log), command line, ready address, the ports
    it listens on, and what it adds to the environment."""

    name: str
    argv: list[str]
    ready_url: str  # http://... answers 200, or tcp://host:port accepts a connection
    ports: list[int] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)  # added to the environment


@dataclass(frozen=True)
class ProcessFiles:
    """Where processes keep their pid files and logs, and the folder they run in."""

    pids: Path
    logs: Path
    cwd: Path

    def pid(self, name: str) -> Path:
        return self.pids / f"{name}.pid"

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def make(self) -> None:
        for folder in (self.cwd, self.pids, self.logs):
            folder.mkdir(parents=True, exist_ok=True)


# -- start, pid files ------------------------------------------------------------------------


def spawn(comp: Component, files: ProcessFiles) -> int:
    """Start `comp` detached, its output appended to its log after a dated header line;
    writes its pid file and returns its pid."""
    with files.log(comp.name).open("ab") as log:
        log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(comp.argv)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            comp.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd=files.cwd,
            env={**os.environ, **comp.env} if comp.env else None,
        )  # fmt: skip
    write_pid(files.pid(comp.name), proc.pid, comp.argv[0])
    return proc.pid


def write_pid(pid_file: Path, pid: int, argv0: str) -> None:
    pid_file.write_text(json.dumps({"pid": pid, "argv0": argv0}))


def read_pid(pid_file: Path) -> int | None:
    """The pid of the running process `pid_file` names; a stale pid file is removed."""
    try:
        info = json.loads(pid_file.read_text())
        pid, argv0 = int(info["pid"]), str(info["argv0"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if alive(pid, argv0):
        return pid
    pid_file.unlink(missing_ok=True)
    return None


def alive(pid: int, argv0: str) -> bool:
    """Is `pid` running and still the program we started (not a reused pid)?"""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    if state in ("Z", "X"):  # exited, not yet reaped; or its other threads still exiting
        return not _ended(pid)
    if not cmdline:
        # in the middle of execve: Popen has returned (close-on-exec fired) but the kernel
        # has not yet set up the new program's arguments. It is the process we started.
        return True
    return Path(os.fsdecode(cmdline.split(b"\0")[0])).name == Path(argv0).name


# -- readiness -------------------------------------------------------------------------------


def http_ok(url: str, timeout: float = 1.0) -> bool:
    """Whether `url` answers 200 (with the lab's credentials when it asks for them, see
    labkit.auth). Anything else, a garbled answer included, is "not yet"."""
    from labkit.auth import headers

    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers(url)),
                                    timeout=timeout) as r:  # fmt: skip
            return bool(r.status == 200)
    except (OSError, http.client.HTTPException):
        return False


def responds(url: str, timeout: float = 3.0) -> bool:
    """Whether anything answers HTTP at `url`, whatever the status: a process that answers
    503 (a node down by node_crash, a Prometheus still loading its TSDB) is not hung."""
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, http.client.HTTPException):
        return False


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether something accepts connections on `port`. Probe only ports below the
    ephemeral range (32768-60999): a connection to a port nobody listens on there can
    connect to itself (TCP simultaneous open)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def answers(address: str, timeout: float = 1.0) -> bool:
    """Whether a ready address answers: `tcp://host:port` accepts, else `http_ok`."""
    if address.startswith("tcp://"):
        host, _, port = address.removeprefix("tcp://").rpartition(":")
        return port_open(host.strip("[]"), int(port), timeout)
    return http_ok(address, timeout)


def wait_ready(comp: Component, files: ProcessFiles, deadline: float) -> None:
    """Until `comp.ready_url` answers; StartTimeout with the end of its log when the process
    exits first or `deadline` (time.monotonic) passes."""
    log = files.log(comp.name)
    while not answers(comp.ready_url, timeout=0.5):
        if read_pid(files.pid(comp.name)) is None:
            raise StartTimeout(
                f"{comp.name} exited while starting. The end of {log}:\n" + tail(log)
            )
        if time.monotonic() > deadline:
            raise StartTimeout(
                f"{comp.name} was not ready at {comp.ready_url} in time. "
                f"The end of {log}:\n" + tail(log)
            )
        time.sleep(0.05)


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# -- stop ------------------------------------------------------------------------------------


def stop(pid_file: Path, wait: float = 20.0) -> bool:
    """SIGTERM the process `pid_file` names, SIGKILL if it is still there after `wait`
    seconds (and a few seconds more until it is gone: its ports are free then); the pid file
    is removed. False when it was not running."""
    pid = read_pid(pid_file)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not _gone(pid, wait):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _gone(pid, 5.0)
    pid_file.unlink(missing_ok=True)
    return True


def _gone(pid: int, wait: float) -> bool:
    """Whether `pid` has ended, waiting up to `wait` seconds for it."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and _exists(pid):
        time.sleep(0.05)
    return not _exists(pid)


def _exists(pid: int) -> bool:
    try:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap it if it is our child
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not _ended(pid)


def _ended(pid: int) -> bool:
    """Whether every thread of `pid` has ended. A killed thread group's leader is a zombie
    while its other threads still exit, and they hold its files (its listening ports)."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return True
    return all(_state(task / "stat") in ("Z", "X") for task in tasks)


def _state(stat: Path) -> str:
    """A process's or thread's state letter ("R", "S", "Z", ...); "X" once it is gone."""
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "X"


# -- ports -----------------------------------------------------------------------------------


def check_port_free(host: str, port: int, what: str) -> None:
    """PortInUse, naming `what` and the port's holder, unless a listener can bind `port`
    (with SO_REUSEADDR, as the lab's servers do: a port in TIME_WAIT is free)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            from labkit.fleet import port_owner

            raise PortInUse(port, host, what, port_owner(port)) from None


def first_free_port(host: str, candidates: Sequence[int], what: str) -> int:
    """The first of `candidates` that is free; when none is, PortInUse for the first."""
    for candidate in candidates:
        try:
            check_port_free(host, candidate, what)
            return candidate
        except PortInUse:
            continue
    check_port_free(host, candidates[0], what)  # raises, naming the owner
    return candidates[0]


def block_is_free(base: int, count: int, host: str = "127.0.0.1", reuse: bool = False) -> bool:
    """Whether ports `base` to `base + count - 1` can all be bound now: by any socket, or with
    `reuse` by the lab's servers, which set SO_REUSEADDR (a port in TIME_WAIT after the lab's
    last run is free for them)."""
    held = []
    try:
        for port in range(base, base + count):
            s = socket.socket()
            held.append(s)
            if reuse:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
    except OSError:
        return False
    finally:
        for s in held:
            s.close()
    return True


CLAIM_SECONDS = 300.0  # a claim outlives any lab's start; then its ports are bound, or free


class PortClaims:
    """Blocks of ports claimed host-wide by labs about to start (`labkit up --ports auto`), in
    the system temp folder: a free block is only free until someone binds it, and labs started
    at the same moment (a class's servers at JupyterHub) would otherwise draw the same one.
    Use `claims(owner)`: a lock is held while a block is chosen and claimed. A claim is a file
    named `<base>-<count>` holding its owner (a lab's state folder: its own claims never stand
    in its way); one older than CLAIM_SECONDS is stale (its lab has bound its ports or
    failed). The folder is shared by every user (sticky, like /tmp)."""

    def __init__(self, folder: Path | None, owner: str) -> None:
        self.folder, self.owner = folder, owner

    def _claims(self) -> list[tuple[Path, int, int, float, str]]:
        """Every claim in the folder: path, base, count, age in seconds, owner."""
        if self.folder is None:
            return []
        found = []
        for path in self.folder.iterdir():
            base, _, count = path.name.partition("-")
            if base.isdigit() and count.isdigit():
                said = _read_claim(path)
                if said is not None:
                    found.append((path, int(base), int(count), time.time() - said[0], said[1]))
        return found

    def _live(self) -> list[tuple[int, int]]:
        found = []
        for path, base, count, age, owner in self._claims():
            if age >= CLAIM_SECONDS:
                with contextlib.suppress(OSError):  # another user's: theirs to remove
                    path.unlink()
            elif owner != self.owner:
                found.append((base, count))
        return found

    def free(self, base: int, count: int) -> bool:
        """Whether no live claim of another owner overlaps ports `base` to `base + count - 1`."""
        return all(b + c <= base or base + count <= b for b, c in self._live())

    def claim(self, base: int, count: int) -> None:
        if self.folder is None:
            return
        for path, *_, owner in self._claims():  # this owner's earlier claims end here
            if owner == self.owner:
                with contextlib.suppress(OSError):
                    path.unlink()
        path = self.folder / f"{base}-{count}"
        with contextlib.suppress(OSError):  # not claimed (a full disk, a name taken): the race
            path.unlink(missing_ok=True)  # a stale claim of this owner's, or none
        with contextlib.suppress(OSError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "w") as f:
                f.write(self.owner + "\n")


def _read_claim(path: Path) -> tuple[float, str] | None:
    """A claim's time and owner; None for what is not a claim file. The folder is shared by
    every user: a link is not followed, a FIFO not waited on, at most 4 KiB read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None
        return info.st_mtime, os.read(fd, 4096).decode(errors="replace").strip()
    except OSError:
        return None
    finally:
        os.close(fd)


@contextlib.contextmanager
def claims(owner: str, folder: Path | None = None) -> Iterator[PortClaims]:
    """The host's port claims, locked (flock) until the block is chosen and claimed."""
    folder = folder or Path(tempfile.gettempdir()) / "labkit-port-claims"
    try:
        folder.mkdir(mode=0o777, exist_ok=True)
        if folder.stat().st_uid == os.geteuid():
            folder.chmod(0o1777)  # every user's labs claim here
        flags = os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK  # no link, no FIFO wait
        lock = os.open(folder / "lock", flags, 0o644)
    except OSError:  # no shared folder: choose without claims, as before
        yield PortClaims(None, owner)
        return
    try:
        if not stat.S_ISREG(os.fstat(lock).st_mode):
            raise OSError("the claims' lock is not a file")
        fcntl.flock(lock, fcntl.LOCK_EX)
    except OSError:
        os.close(lock)
        yield PortClaims(None, owner)
        return
    try:
        yield PortClaims(folder, owner)
    finally:
        os.close(lock)


def free_port_block(
    count: int,
    host: str = "127.0.0.1",
    low: int = 20_000,
    high: int = 32_000,
    rng: random.Random | None = None,
    unclaimed: Callable[[int, int], bool] | None = None,
) -> int:
    """A base port with `count` consecutive free ports on `host`, drawn from `low` to
    `high`: by default below Linux's ephemeral range (32768-60999), as a port the OS may hand
    to an outgoing connection can be taken between this check and a server's start, and a
    readiness probe to a port nobody listens on yet can even connect to itself (TCP
    simultaneous open) and read its own request. Bound without SO_REUSEADDR: a port in
    TIME_WAIT is not free here, so any socket can bind the ports found."""
    rng = rng or random.Random()
    for _ in range(200):
        base = rng.randrange(low, high - count)
        if (unclaimed is None or unclaimed(base, count)) and block_is_free(base, count, host):
            return base
    raise LabkitError(f"no {count} consecutive free ports on {host} from {low} to {high}")
