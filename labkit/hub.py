"""A learner's own lab under JupyterHub: the spawner's command wraps the single-user server.

    python -m labkit.hub [--nodes N] [--timeout S] -- jupyterhub-singleuser ARGS...

(deploy/jupyterhub/jupyterhub_config.py sets it as `Spawner.cmd`; the spawner appends ARGS.)
Run in the learner's working folder (the spawner's home), before the server starts:

1. the lessons are copied in (`labkit lessons .`: a lesson the learner changed is kept);
2. the learner's lab starts (`labkit up --ports auto --auth`, its state in ./.lab, or
   LABKIT_STATE_DIR), its web UIs under the server's prefix (`--proxy-prefix`);
3. jupyter-server-proxy gets the lab's addresses: `.lab/hub/jupyter_server_config.py` on
   JUPYTER_CONFIG_PATH serves Prometheus at PREFIX/prometheus/, labkit's pages (dashboard,
   Alertmanager view) at PREFIX/labkit/ and Alertmanager's API at PREFIX/alertmanager/, each
   with the lab's secret added by the proxy (the hub has already checked who asks);
4. a watcher is forked off, in a session of its own, and this process becomes the server
   (exec: the spawner signals and polls the server itself). When the server's process ends,
   however it ends (stopped from the hub, culled as idle, crashed, killed), the watcher stops
   the lab (`labkit down`) and frees its ports.

The watcher holds `.lab/hub.lock` from before the lab starts until it is stopped: a server
started again at once waits for the previous one's lab to be down before it starts its own.

If the lab cannot start, the server starts all the same: the reason is in the server's log
and, as one sentence, in `.lab/start-problem.txt`, which `Lab.open()` (every lesson's first
cell) shows instead of starting a lab of its own (`problem()`).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, NoReturn

PROBLEM_FILE = "start-problem.txt"
LOCK_FILE = "hub.lock"
CONFIG_FOLDER = "hub"  # .lab/hub/jupyter_server_config.py, for jupyter-server-proxy
#: jupyter-server-proxy's names: the paths under the server's prefix (LabConfig.proxied)
PROMETHEUS, PAGES, ALERTMANAGER = "prometheus", "labkit", "alertmanager"
ICONS = Path(__file__).parent / "share" / "icons"  # the launcher tiles' pictures
LOCK_WAIT_SECONDS = 120.0  # for a previous server's lab to be stopped
UP_TIMEOUT_SECONDS = 90  # `labkit up --timeout`: the lab's own readiness wait
UP_KILL_AFTER_SECONDS = 150.0  # then `labkit up` itself is stopped (JupyterHub waits 180 s)


def say(text: str) -> None:
    """A line in the server's log (the spawner's output: JupyterHub's log)."""
    print(f"labkit.hub: {text}", file=sys.stderr, flush=True)


def state_folder(workdir: Path) -> Path:
    env = os.environ.get("LABKIT_STATE_DIR")
    return (Path(env).expanduser() if env else workdir / ".lab").resolve()


def problem(state: Path | None = None) -> str | None:
    """Why the lab did not start when the server started (a sentence), or None."""
    from labkit.settings import Settings

    folder = state if state is not None else Settings.from_env().state_dir
    try:
        return (folder / PROBLEM_FILE).read_text().strip() or None
    except OSError:
        return None


# -- 1. the lessons -----------------------------------------------------------------------


def copy_lessons(workdir: Path) -> None:
    from labkit.errors import LabkitError
    from labkit.resources import copy_lessons as copy

    try:
        done = copy(workdir)
    except LabkitError as exc:
        say(f"the lessons were not copied: {exc}")
        return
    counts = {what: sum(1 for v in done.values() if v == what) for what in set(done.values())}
    say("lessons in " + str(workdir) + ": "
        + ", ".join(f"{n} {what}" for what, n in sorted(counts.items())))  # fmt: skip


# -- 2. the lab ---------------------------------------------------------------------------


def start_lab(state: Path, nodes: int | None, timeout: int, kill_after: float) -> str | None:
    """`labkit up --ports auto --auth` for `state`, its output in the server's log; None
    when the lab runs, else why not (one line). A half-started lab is stopped again."""
    argv = [sys.executable, "-m", "labkit.cli", "--state-dir", str(state), "up",
            "--ports", "auto", "--auth", "--timeout", str(timeout)]  # fmt: skip
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX")  # the server's: /user/NAME/
    if prefix:
        argv += ["--proxy-prefix", prefix]
    if nodes is not None:
        argv += ["--nodes", str(nodes)]
    say(f"starting the lab in {state}")
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=sys.stderr.fileno(),
                                stderr=subprocess.PIPE, text=True)  # fmt: skip
    except OSError as exc:
        return f"labkit could not be run ({exc.strerror or exc})"
    errors: list[str] = []

    def echo() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            errors.append(line.rstrip("\n"))
            print(line, end="", file=sys.stderr, flush=True)

    reader = threading.Thread(target=echo, daemon=True)
    reader.start()
    try:
        code = proc.wait(timeout=kill_after)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        code = None
    reader.join(timeout=5)
    if code == 0:
        return None
    if code is None:
        why = f"the lab was not ready after {kill_after:.0f} s"
    else:
        why = reason(errors, code)
    _stop_lab(state, quiet=True)  # no half lab left running
    return why


def reason(errors: list[str], code: int) -> str:
    """One line from what `labkit up` said on stderr: its own sentence ("labkit up: ..."),
    else the last line of whatever it printed (a traceback's exception line)."""
    for line in errors:
        if line.startswith("labkit up: "):
            said = line.removeprefix("labkit up: ").removeprefix("error: ").strip()
            return said.rstrip(".")
    last = next((line.strip() for line in reversed(errors) if line.strip()), "")
    return f"`labkit up` failed (exit {code})" + (f": {last}" if last else "")


def problem_text(why: str) -> str:
    return (
        f"Your lab did not start when your server started: {why}. The notebooks work, but the "
        "lessons that need a running lab do not: stop your server and start it again (File > "
        "Hub Control Panel), and if it happens again, tell your teacher (the server's log has "
        "the details)."
    )


def record_problem(state: Path, why: str | None) -> None:
    path = state / PROBLEM_FILE
    if why is None:
        path.unlink(missing_ok=True)
        return
    text = problem_text(why)
    say(text)
    try:
        path.write_text(text + "\n")
    except OSError as exc:
        say(f"could not write {path}: {exc.strerror or exc}")


def _stop_lab(state: Path, quiet: bool = False) -> None:
    from labkit.settings import Settings
    from labkit.stack import down

    try:
        down(Settings(state), out=sys.stderr, quiet=quiet)
    except Exception as exc:  # the watcher's last act: say it, never a traceback alone
        say(f"stopping the lab in {state} failed: {exc}")


# -- 3. jupyter-server-proxy ------------------------------------------------------------------


def write_server_config(state: Path) -> Path:
    """The single-user server's config for jupyter-server-proxy, in `state`/hub/; it reads
    the running lab's addresses and secret when the server starts (`servers`)."""
    folder = state / CONFIG_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "jupyter_server_config.py").write_text(
        "# Written by labkit.hub when this server started: the learner's lab through\n"
        "# jupyter-server-proxy (see labkit/hub.py).\n"
        "from labkit.hub import servers\n\n"
        f"c.ServerProxy.servers = servers({str(state)!r})  # noqa: F821\n"
    )
    return folder


def servers(state: str | Path) -> dict[str, Any]:
    """`c.ServerProxy.servers` for the lab running from `state`: {} when none runs. Each entry
    proxies an address of the lab that already listens (no command), with the lab's secret
    added to every request; the launcher's tiles open Prometheus' graph page, the dashboard
    and the Alertmanager view."""
    from labkit import auth
    from labkit.addresses import prometheus_page
    from labkit.errors import LabkitError
    from labkit.stack import LabPaths, load_config, recorded_classic_ui

    paths = LabPaths(Path(state))
    config = load_config(paths)
    if config is None:
        return {}
    try:
        headers = {"Authorization": auth.read(paths.state).header} if config.auth else {}
    except LabkitError as exc:  # the server starts all the same, without the proxy
        say(f"the server does not proxy the lab: {exc}")
        return {}
    classic = recorded_classic_ui(paths)
    graph = prometheus_page("", "graph", bool(classic)).lstrip("/")
    pages = f"{PAGES}/voila/render"

    def entry(name: str, port: int, title: str, path_info: str, icon: str) -> dict[str, Any]:
        return {
            "port": port,
            "absolute_url": False,  # every server answers at / on loopback
            "request_headers_override": headers,
            "rewrite_response": [unprefixed(config.proxied(name))] if config.proxy_prefix else [],
            # JupyterLab draws a tile's picture in the Notebook and Console sections only
            "launcher_entry": {"title": title, "path_info": path_info, "category": "Notebook",
                               "icon_path": str(ICONS / f"{icon}.svg")},
        }  # fmt: skip

    return {
        PROMETHEUS: entry(PROMETHEUS, config.prometheus_port, "Prometheus",
                          f"{PROMETHEUS}/{graph}", "prometheus"),
        PAGES: entry(PAGES, config.dashboard_port, "Lab dashboard", f"{pages}/dashboard.ipynb",
                     "dashboard"),
        # Debian's Alertmanager has no UI of its own: its tile opens labkit's view; the path
        # proxies Alertmanager's API (PREFIX/alertmanager/api/v2/alerts)
        ALERTMANAGER: entry(ALERTMANAGER, config.alertmanager_port, "Alertmanager view",
                            f"{pages}/alertmanager.ipynb", "alertmanager"),
    }  # fmt: skip


def unprefixed(public: str) -> Any:
    """A jupyter-server-proxy response rewrite: a redirect to the server's public address
    (Prometheus and Voilà know it) made relative to the server, as the proxy expects of a
    server behind it (it adds its prefix back), so the prefix is not doubled."""

    def rewrite(response: Any) -> None:
        location = response.headers.get("Location")
        if location and location.startswith(public):
            response.headers["Location"] = "/" + location[len(public) :]

    return rewrite


# -- 4. the watcher ---------------------------------------------------------------------------


def take_lock(state: Path, wait: float = LOCK_WAIT_SECONDS) -> int:
    """`state`/hub.lock, locked (flock): held by the watcher of the server that runs the lab
    until that lab is stopped. Returns the descriptor (not inherited by exec)."""
    fd = os.open(state / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + wait
    said = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                say(f"the previous server's lab is still being stopped after {wait:.0f} s; "
                    "starting anyway")  # fmt: skip
                return fd
            if not said:
                say("waiting for the previous server's lab to stop")
                said = True
            time.sleep(0.2)


def fork_watcher(state: Path, lock: int) -> None:
    """A process, in a session of its own, that stops the lab when this process (soon the
    server, after exec) ends. It holds `lock` (inherited) until the lab is down."""
    server = os.getpid()
    try:
        pidfd: int | None = os.pidfd_open(server)
    except (AttributeError, OSError):
        pidfd = None  # no pidfd (an old kernel): the watcher polls the pid
    sys.stdout.flush()
    sys.stderr.flush()
    first = os.fork()
    if first == 0:
        try:
            os.setsid()
            if os.fork() == 0:
                _watch(state, server, pidfd, lock)
        finally:
            os._exit(0)
    os.waitpid(first, 0)
    if pidfd is not None:
        os.close(pidfd)


def _watch(state: Path, server: int, pidfd: int | None, lock: int) -> NoReturn:
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

        def stop_now(signum: int, frame: Any) -> None:
            raise SystemExit(0)

        signal.signal(signal.SIGTERM, stop_now)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        with contextlib.suppress(SystemExit):
            _wait_for_exit(server, pidfd)
        say(f"the server (pid {server}) has ended; stopping the lab in {state}")
        _stop_lab(state)
    except BaseException as exc:  # nothing may escape a forked child
        with contextlib.suppress(Exception):
            say(f"the watcher of the lab in {state} failed: {exc!r}")
        code = 1
    finally:
        os.close(lock)
    os._exit(code)


def _wait_for_exit(pid: int, pidfd: int | None) -> None:
    if pidfd is not None:
        while not select.select([pidfd], [], [], 60)[0]:
            pass
        return
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        except PermissionError:
            pass
        time.sleep(1)


# -- the command ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> NoReturn:
    parser = argparse.ArgumentParser(
        prog="python -m labkit.hub",
        description="Start the learner's lab, then the single-user server given after --; "
        "the lab stops when the server does.",
    )
    parser.add_argument("--nodes", type=int, default=None, help="nodes in the lab (12)")
    parser.add_argument("--timeout", type=int, default=UP_TIMEOUT_SECONDS,
                        help=f"seconds labkit up waits ({UP_TIMEOUT_SECONDS})")  # fmt: skip
    parser.add_argument("--no-lessons", action="store_true",
                        help="do not copy the lessons into the working folder")  # fmt: skip
    parser.add_argument("command", nargs=argparse.REMAINDER,
                        help="-- then the single-user server's command")  # fmt: skip
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("the single-user server's command is missing (after --)")

    workdir = Path.cwd()
    state = state_folder(workdir)
    os.environ["LABKIT_STATE_DIR"] = str(state)  # the server's kernels and terminals find it
    why: str | None = None
    lock: int | None = None
    try:
        state.mkdir(parents=True, exist_ok=True)
        state.chmod(0o700)  # the lab's secret, journal and data: the learner's alone
        if not args.no_lessons:
            copy_lessons(workdir)
        lock = take_lock(state)
        why = start_lab(state, args.nodes, args.timeout, UP_KILL_AFTER_SECONDS)
    except Exception as exc:  # the server starts whatever happened to the lab
        why = f"labkit.hub failed: {exc!r}"
    try:
        record_problem(state, why)
        folder = write_server_config(state)  # no lab: it proxies nothing
        found = os.environ.get("JUPYTER_CONFIG_PATH")
        os.environ["JUPYTER_CONFIG_PATH"] = os.pathsep.join([str(folder), *filter(None, [found])])
        if why is None:
            say(f"the lab is up; the server proxies it at {json.dumps(sorted(servers(state)))}")
    except Exception as exc:
        say(f"the server will not proxy the lab: {exc!r}")
    if lock is not None:  # a lab started by hand later is stopped with the server too
        fork_watcher(state, lock)
        os.close(lock)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        say(f"cannot run the single-user server {command[0]!r}: {exc.strerror or exc}")
        if why is None:
            _stop_lab(state)  # the watcher does it too: down twice is harmless
        raise SystemExit(127) from None


if __name__ == "__main__":
    main()
