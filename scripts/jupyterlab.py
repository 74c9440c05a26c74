#!/usr/bin/env python3
"""JupyterLab for `make lab`: started quietly, its address printed last.

    .venv/bin/python scripts/jupyterlab.py [extra `jupyter lab` options]

JupyterLab opens on .lab/lessons/: the learner's copy of each lesson, its exercises' solutions
taken out (`labkit lessons`; notebooks/ holds the instructor's sources). A lesson already there
with other text is the learner's work and is kept. JupyterLab's log goes to
.lab/logs/jupyterlab.log instead of the terminal; once it answers,
this prints one line to say so and, last, the address to open (with its token). Ctrl-C stops
JupyterLab (its kernels too) and exits 0; the lab keeps running until `labkit down`.

JupyterLab keeps its runtime files, settings and kernels' state in .lab/jupyter/, not in ~
(JUPYTER_CONFIG_DIR and friends), and finds `labkit` on its PATH (the venv's bin/ first), so
`labkit down` works in its terminals. Its settings there turn off the news prompt and the update
check (`@jupyterlab/apputils-extension:notification`: fetchNews "false", checkForUpdates
false), written once: a learner's own choice in the Settings editor stays. nbgrader's pages and
menus (the instructor's, there once `make assignments` or `make test` installed nbgrader) are
turned off in that config folder.
Exit codes: 0 stopped with Ctrl-C, 1 JupyterLab did not start (the end of its log is shown).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from labkit.resources import copy_lessons
from labkit.stack import labkit_command

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_SECONDS = 90.0
NOTIFICATION = Path("@jupyterlab/apputils-extension/notification.jupyterlab-settings")
QUIET = {"fetchNews": "false", "checkForUpdates": False}
#: nbgrader's pages and menus are the instructor's (`make assignments`), not a learner's: off
#: here when nbgrader is installed in the venv (it adds them to every JupyterLab there)
NBGRADER_SERVER = ("formgrader", "validate_assignment", "assignment_list", "course_list")
NBGRADER_LAB = "@jupyter/nbgrader"


def environment(state_dir: Path, base: dict[str, str]) -> dict[str, str]:
    """`base` with JupyterLab's folders inside the lab's state folder."""
    jupyter = state_dir / "jupyter"
    venv_bin = str(Path(sys.executable).parent)  # `labkit` in JupyterLab's terminals and `!`
    path = base.get("PATH", os.defpath)
    return {
        **base,
        "PATH": path if venv_bin in path.split(os.pathsep) else f"{venv_bin}{os.pathsep}{path}",
        "JUPYTER_RUNTIME_DIR": str(jupyter / "runtime"),
        "JUPYTER_CONFIG_DIR": str(jupyter / "config"),
        "JUPYTER_DATA_DIR": str(jupyter / "data"),
        "IPYTHONDIR": str(jupyter / "ipython"),
    }


def settings_dir(env: dict[str, str]) -> Path:
    """Where JupyterLab reads user settings (as LabApp.user_settings_dir decides)."""
    if env.get("JUPYTERLAB_SETTINGS_DIR"):
        return Path(env["JUPYTERLAB_SETTINGS_DIR"])
    return Path(env["JUPYTER_CONFIG_DIR"]) / "lab" / "user-settings"


def quiet_settings(env: dict[str, str]) -> Path:
    """No news prompt, no update check: written unless the file already exists."""
    path = settings_dir(env) / NOTIFICATION
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(QUIET, indent=2) + "\n")
    return path


def _merged(path: Path, keys: tuple[str, ...], values: dict[str, Any]) -> None:
    """`values` into the JSON object at `path`[keys[0]][keys[1]]..., the rest of the file
    kept (what is not an object where one belongs is replaced)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        data = {}

    def into(node: Any, rest: tuple[str, ...]) -> dict[str, Any]:
        node = node if isinstance(node, dict) else {}
        if not rest:
            return {**node, **values}
        return {**node, rest[0]: into(node.get(rest[0]), rest[1:])}

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(into(data, keys), indent=2) + "\n")


def learner_only(env: dict[str, str]) -> None:
    """nbgrader's server and JupyterLab extensions off, in JupyterLab's own config folder:
    its jupyter_server_config.json (which outranks the venv's jupyter_server_config.d/, where
    nbgrader turns them on) and its labconfig/page_config.json."""
    config = Path(env["JUPYTER_CONFIG_DIR"])
    server = {f"nbgrader.server_extensions.{name}": False for name in NBGRADER_SERVER}
    _merged(config / "jupyter_server_config.json", ("ServerApp", "jpserver_extensions"), server)
    _merged(config / "labconfig" / "page_config.json", ("disabledExtensions",),
            {NBGRADER_LAB: True})  # fmt: skip


def command(notebooks: Path, extra: list[str]) -> list[str]:
    root = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    return [
        sys.executable, "-m", "jupyterlab", "--ip=127.0.0.1", "--no-browser",
        f"--ServerApp.root_dir={notebooks}", "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", *root, *extra,
    ]  # fmt: skip


def server_info(runtime_dir: Path, pid: int) -> dict[str, Any] | None:
    """The running server's jpserver-<pid>.json (url, token, ...), None until it is written."""
    try:
        info: dict[str, Any] = json.loads((runtime_dir / f"jpserver-{pid}.json").read_text())
    except (OSError, ValueError):
        return None
    return info


def address(info: dict[str, Any]) -> str:
    """The address a learner opens: JupyterLab's page, with its token."""
    url = str(info["url"]).rstrip("/")
    token = info.get("token")
    return f"{url}/lab?token={token}" if token else f"{url}/lab"


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM (JupyterLab shuts its kernels down), then SIGKILL to its group after 15 s."""
    if server.poll() is not None:
        return
    server.terminate()
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def main(argv: list[str]) -> int:
    state_dir = Path(os.environ.get("LABKIT_STATE_DIR") or ROOT / ".lab").resolve()
    env = environment(state_dir, dict(os.environ))
    for key in ("JUPYTER_RUNTIME_DIR", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "IPYTHONDIR"):
        Path(env[key]).mkdir(parents=True, exist_ok=True)
    quiet_settings(env)
    learner_only(env)
    log = state_dir / "logs" / "jupyterlab.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    shown = os.path.relpath(log) if log.is_relative_to(Path.cwd()) else str(log)

    def interrupt(signum: int, frame: Any) -> None:  # a closed terminal or a kill: as Ctrl-C
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGHUP, interrupt)
    signal.signal(signal.SIGINT, interrupt)  # also when started in the background, where a
    # shell sets SIGINT to be ignored
    lessons = state_dir / "lessons"
    kept = [name for name, what in copy_lessons(lessons).items() if what == "kept"]
    where = os.path.relpath(lessons) if lessons.is_relative_to(Path.cwd()) else str(lessons)
    mine = (f"; kept as you left them: {', '.join(kept)}; `labkit lessons {where} --force` "
            "replaces them with the current lessons" if kept else "")  # fmt: skip
    print(f"JupyterLab: starting on {where}/ (its log: {shown}{mine})", flush=True)
    with log.open("ab") as sink:
        server = subprocess.Popen(
            command(lessons, argv), env=env, stdin=subprocess.DEVNULL,
            stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        info = None
        while info is None:
            if server.poll() is not None or time.monotonic() > deadline:
                stop(server)
                print(f"JupyterLab did not start; the end of {shown}:\n{tail(log)}",
                      file=sys.stderr)  # fmt: skip
                return 1
            time.sleep(0.2)
            info = server_info(Path(env["JUPYTER_RUNTIME_DIR"]), server.pid)
        print("JupyterLab is ready. Ctrl-C stops JupyterLab; the lab runs on until "
              f"`{labkit_command()} down`.", flush=True)  # fmt: skip
        print(f"Open {address(info)}", flush=True)
        code = server.wait()
        if code:
            print(f"JupyterLab stopped (exit {code}); the end of {shown}:\n{tail(log)}",
                  file=sys.stderr)  # fmt: skip
            return 1
        return 0
    except KeyboardInterrupt:
        stop(server)
        print(f"\nJupyterLab stopped; the lab runs on until `{labkit_command()} down`.",
              flush=True)  # fmt: skip
        return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
