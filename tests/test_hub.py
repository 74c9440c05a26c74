"""labkit.hub without a hub (issue 17): what jupyter-server-proxy is given, the sentence a
learner sees when the lab did not start, and the wrapper itself around a stand-in server
(on a PATH without Prometheus, so no lab starts). tests/test_hub_live.py runs a real hub."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from labkit import auth, hub
from labkit.errors import InvalidInput
from labkit.stack import LabConfig, LabPaths, components

REPO = Path(__file__).resolve().parent.parent


def test_the_reason_is_labkit_ups_own_sentence() -> None:
    said = ["  targets  1/3 nodes up", "labkit up: error: --nodes must be 1-5000; got 0"]
    assert hub.reason(said, 2) == "--nodes must be 1-5000; got 0"
    traceback = ["Traceback (most recent call last):", '  File "x.py"', "ValueError: boom", ""]
    assert hub.reason(traceback, 1) == "`labkit up` failed (exit 1): ValueError: boom"
    assert hub.reason([], 1) == "`labkit up` failed (exit 1)"
    text = hub.problem_text("prometheus is not installed")
    assert text.startswith("Your lab did not start when your server started: prometheus is not")
    assert "Traceback" not in text and "\n" not in text


def test_a_redirect_to_the_public_address_is_made_relative_for_the_proxy() -> None:
    rewrite = hub.unprefixed("/user/ada/prometheus/")
    for before, after in [
        ("/user/ada/prometheus/classic/graph", "/classic/graph"),
        ("/elsewhere/", "/elsewhere/"),  # not the server's: the proxy's own rule applies
        ("http://example.org/x", "http://example.org/x"),
    ]:
        response = SimpleNamespace(headers={"Location": before})
        rewrite(response)
        assert response.headers["Location"] == after
    response = SimpleNamespace(headers={})
    rewrite(response)
    assert response.headers == {}


def _record(state: Path, config: LabConfig, classic: bool = True) -> None:
    state.mkdir(parents=True, exist_ok=True)
    doc = {"config": config.__dict__, "prometheus_classic_ui": classic}
    (state / "lab.json").write_text(json.dumps(doc))


def test_the_proxy_serves_the_labs_ui_with_its_secret(tmp_path: Path) -> None:
    state = tmp_path / ".lab"
    config = LabConfig(nodes=3, base_port=21000, prometheus_port=21003, alertmanager_port=21004,
                       receiver_port=21005, dashboard_port=21006, auth=True,
                       proxy_prefix="/user/ada/")  # fmt: skip
    _record(state, config)
    creds = auth.create(state)
    servers = hub.servers(state)
    assert {name: s["port"] for name, s in servers.items()} == {
        "prometheus": 21003, "labkit": 21006, "alertmanager": 21004,
    }  # fmt: skip
    for entry in servers.values():
        assert entry["request_headers_override"] == {"Authorization": creds.header}
        assert entry["absolute_url"] is False
        assert len(entry["rewrite_response"]) == 1
    tiles = {s["launcher_entry"]["title"]: s["launcher_entry"]["path_info"]
             for s in servers.values()}  # fmt: skip
    assert tiles == {
        "Prometheus": "prometheus/classic/graph",
        "Lab dashboard": "labkit/voila/render/dashboard.ipynb",
        "Alertmanager view": "labkit/voila/render/alertmanager.ipynb",
    }
    for entry in servers.values():  # each tile's picture: a drawing that exists (the wheel's)
        icon = Path(entry["launcher_entry"]["icon_path"])
        assert icon.parent == REPO / "labkit" / "share" / "icons"
        assert icon.read_text().startswith("<svg ")
    assert hub.servers(tmp_path / "no-lab") == {}


def test_the_written_server_config_reads_the_lab_when_the_server_starts(tmp_path: Path) -> None:
    state = tmp_path / ".lab"
    _record(state, LabConfig(nodes=2, base_port=21000, prometheus_port=21002,
                             alertmanager_port=21003, receiver_port=21004, dashboard_port=21005))  # fmt: skip
    folder = hub.write_server_config(state)
    code = (folder / "jupyter_server_config.py").read_text()
    namespace: dict[str, object] = {"c": SimpleNamespace(ServerProxy=SimpleNamespace())}
    exec(compile(code, "jupyter_server_config.py", "exec"), namespace)
    servers = namespace["c"].ServerProxy.servers  # type: ignore[attr-defined]
    assert servers["prometheus"]["port"] == 21002
    assert servers["prometheus"]["request_headers_override"] == {}  # no --auth: no secret


def test_behind_a_proxy_prometheus_links_under_it_and_still_answers_at_the_root() -> None:
    def argv(config: LabConfig) -> dict[str, list[str]]:
        return {c.name: c.argv for c in components(config, LabPaths(Path("/tmp/x")))}

    plain = argv(LabConfig())
    assert not any("external-url" in a or "base_url" in a for a in plain["prometheus"])
    assert not any("base_url" in a or "server_url" in a for a in plain["dashboard"])
    proxied = argv(LabConfig(proxy_prefix="/user/ada/"))
    assert proxied["prometheus"][-2:] == ["--web.external-url=/user/ada/prometheus/",
                                          "--web.route-prefix=/"]  # fmt: skip
    assert proxied["dashboard"][-2:] == ["--Voila.base_url=/user/ada/labkit/",
                                         "--Voila.server_url=/"]  # fmt: skip
    assert LabConfig(proxy_prefix="/user/ada/").proxied("prometheus") == "/user/ada/prometheus/"
    for bad in ("user/ada/", "/user/ada", "/user/a da/", "/user/<x>/"):
        with pytest.raises(InvalidInput, match="--proxy-prefix"):
            LabConfig(proxy_prefix=bad)


FAKE_SERVER = """
import os
from labkit import Lab, LabNotStarted
try:
    Lab.open()
    print("a lab was opened")
except LabNotStarted as exc:
    print("\\n".join(exc._render_traceback_()))
print("JUPYTER_CONFIG_PATH=" + os.environ["JUPYTER_CONFIG_PATH"])
print("LABKIT_STATE_DIR=" + os.environ["LABKIT_STATE_DIR"])
"""


def test_a_lab_that_cannot_start_leaves_the_server_starting_and_says_why(tmp_path: Path) -> None:
    """No Prometheus on the PATH: `labkit up` refuses, and the "server" (a stand-in) starts all
    the same; the reason is in the log and, as a sentence, where Lab.open() shows it; when the
    server ends, the watcher has nothing to stop and lets go of the lock."""
    bare = tmp_path / "bin"  # python alone: no prometheus, no alertmanager
    bare.mkdir()
    (bare / "python").symlink_to(sys.executable)
    env = {**os.environ, "PATH": str(bare), "PYTHONPATH": str(REPO),
           "JUPYTERHUB_SERVICE_PREFIX": "/user/ada/"}  # fmt: skip
    env.pop("LABKIT_STATE_DIR", None)
    home = tmp_path / "home"
    home.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "labkit.hub", "--", sys.executable, "-c", FAKE_SERVER],
        cwd=home, env=env, capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    problem = (home / ".lab" / hub.PROBLEM_FILE).read_text().strip()
    assert problem.startswith("Your lab did not start when your server started: prometheus")
    assert "not installed" in problem and "\n" not in problem
    assert f"labkit.hub: {problem}" in done.stderr  # the server's log
    assert f"labkit: {problem}" in done.stdout  # what the lessons' first cell shows
    assert "a lab was opened" not in done.stdout
    assert f"LABKIT_STATE_DIR={home / '.lab'}" in done.stdout
    assert f"JUPYTER_CONFIG_PATH={home / '.lab' / 'hub'}" in done.stdout
    assert sorted(p.name for p in home.glob("*.ipynb"))[:1] == ["01_fleet_tour.ipynb"]
    # the watcher saw the server end (run() returns once it has closed its stderr too)
    assert "stopping the lab in" in done.stderr and "nothing was running" in done.stderr
    with open(home / ".lab" / hub.LOCK_FILE) as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free again


def test_without_a_server_command_it_says_so(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "labkit.hub"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=30)  # fmt: skip
    assert done.returncode == 2
    assert "the single-user server's command is missing" in done.stderr


def test_a_killed_server_is_seen_ending_too(tmp_path: Path) -> None:
    """The server killed outright (SIGKILL: no handler runs): the watcher, in a session of its
    own, still sees it end, runs `labkit down` and lets go of the lock."""
    bare = tmp_path / "bin"
    bare.mkdir()
    env = {**os.environ, "PATH": str(bare), "PYTHONPATH": str(REPO)}
    env.pop("LABKIT_STATE_DIR", None)
    killed = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    done = subprocess.run(
        [sys.executable, "-m", "labkit.hub", "--no-lessons", "--", sys.executable, "-c", killed],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    assert done.returncode == -9
    assert "has ended; stopping the lab in" in done.stderr, done.stderr
    assert "labkit down: nothing was running" in done.stderr
    assert not list(tmp_path.glob("*.ipynb"))  # --no-lessons
    with open(tmp_path / ".lab" / hub.LOCK_FILE) as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_lab_start_under_jupyterhub_starts_the_lab_as_the_hub_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lab.open() with no lab and no recorded problem (the learner stopped it) starts one with
    its secret, its pages under the server's prefix and free ports, not the seed's."""
    import labkit.lab
    from labkit import Lab
    from labkit.stack import AUTO_PORTS

    started: list[LabConfig] = []
    monkeypatch.setattr(labkit.lab, "up", lambda config, *args, **kwargs: started.append(config))
    monkeypatch.setenv("JUPYTERHUB_USER", "ada")
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/ada/")
    Lab.open(tmp_path / ".lab")
    (config,) = started
    assert config.auth and config.proxy_prefix == "/user/ada/"
    assert AUTO_PORTS[0] <= config.base_port < config.dashboard_port <= AUTO_PORTS[1]
    monkeypatch.delenv("JUPYTERHUB_USER")
    Lab.start(tmp_path / "other", nodes=2)
    assert not started[-1].auth and started[-1].base_port == 8001  # elsewhere: as before


def test_behind_the_hub_a_learners_links_go_through_it(tmp_path: Path) -> None:
    """Under JupyterHub the browser is not on the lab's host: every address a learner is shown
    (lab.urls, lab.links(), the panel's and the pages' links) is the hub's path for it."""
    from labkit.lab import Lab
    from labkit.lessons.panel import collect
    from labkit.settings import Settings

    ports = {"nodes": 3, "base_port": 21000, "prometheus_port": 21003, "alertmanager_port": 21004,
             "receiver_port": 21005, "dashboard_port": 21006, "auth": True}  # fmt: skip
    _record(tmp_path / "hub", LabConfig(**ports, proxy_prefix="/user/ada/"))
    behind = Lab(LabConfig(**ports, proxy_prefix="/user/ada/"), Settings(tmp_path / "hub"))
    assert behind.links() == {
        "Prometheus": "/user/ada/prometheus/classic/graph",
        "alerts": "/user/ada/prometheus/classic/alerts",
        "targets": "/user/ada/prometheus/classic/targets",
        "rules": "/user/ada/prometheus/classic/rules",
        "dashboard": "/user/ada/labkit/voila/render/dashboard.ipynb",
        "alertmanager": "/user/ada/labkit/voila/render/alertmanager.ipynb",
    }  # no token in them: the hub has checked who asks, the proxy adds the secret
    urls = behind.urls
    assert urls["dashboard"] == "/user/ada/labkit/voila/render/dashboard.ipynb"
    assert urls["prometheus"] == "/user/ada/prometheus/"
    assert urls["alertmanager_api"] == "/user/ada/alertmanager/api/v2/alerts"
    assert urls["receiver"] == "http://127.0.0.1:21005"  # the kernel's alone: not proxied
    assert behind.prometheus_url == "http://127.0.0.1:21003"  # what code calls stays loopback
    panel = collect(behind)  # no lab answers: its links all the same
    assert set(panel.links.values()) == {"/user/ada/prometheus/classic/alerts",
                                         "/user/ada/labkit/voila/render/dashboard.ipynb"}  # fmt: skip

    _record(tmp_path / "local", LabConfig(**{**ports, "auth": False}))
    local = Lab(LabConfig(**{**ports, "auth": False}), Settings(tmp_path / "local"))
    assert local.links()["alerts"] == "http://127.0.0.1:21003/classic/alerts"
    assert local.urls["dashboard"] == "http://127.0.0.1:21006/voila/render/dashboard.ipynb"


def _hub_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **settings: str) -> Any:
    """deploy/jupyterhub/jupyterhub_config.py as JupyterHub loads it, with LABKIT_HUB_*
    settings."""
    from traitlets.config.loader import PyFileConfigLoader

    for name in [n for n in os.environ if n.startswith("LABKIT_HUB_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("LABKIT_HUB_DIR", str(tmp_path / "hub"))
    for name, value in settings.items():
        monkeypatch.setenv(f"LABKIT_HUB_{name}", value)
    return PyFileConfigLoader(
        "jupyterhub_config.py", str(REPO / "deploy" / "jupyterhub")
    ).load_config()


def test_the_hub_config_tries_out_with_one_password_and_teaches_with_system_users(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tryout = _hub_config(tmp_path, monkeypatch)
    assert tryout.JupyterHub.spawner_class == "simple"
    assert tryout.JupyterHub.authenticator_class == "shared-password"
    assert tryout.SimpleLocalProcessSpawner.home_dir_template == "/tmp/labkit-hub/{username}"
    cmd = tryout.Spawner.cmd
    assert cmd[1:3] == ["-m", "labkit.hub"]
    assert cmd[cmd.index("--") + 1 :] == [cmd[0], "-m", "jupyterhub.singleuser"]
    assert tryout.JupyterHub.bind_url.startswith("http://127.0.0.1:")

    system = _hub_config(tmp_path, monkeypatch, SPAWNER="system", GROUP="sre-101")
    assert system.JupyterHub.spawner_class == "localprocess"  # each server as its learner
    assert system.JupyterHub.authenticator_class == "pam"
    assert system.LocalAuthenticator.allowed_groups == {"sre-101"}
    assert "--allow-root" not in system.Spawner.args
    assert system.Spawner.cmd == cmd  # the same wrapper: the lab first, stopped with the server
    assert "SharedPasswordAuthenticator" not in system


def test_a_wrong_spawner_setting_stops_the_hub_naming_it(tmp_path: Path) -> None:
    env = {**os.environ, "LABKIT_HUB_DIR": str(tmp_path / "hub"), "LABKIT_HUB_SPAWNER": "docker"}
    done = subprocess.run(
        [sys.executable, "-c", "from traitlets.config.loader import PyFileConfigLoader as L; "
         f"L('jupyterhub_config.py', {str(REPO / 'deploy' / 'jupyterhub')!r}).load_config()"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1, done
    assert done.stderr.strip().splitlines()[-1] == (
        "jupyterhub_config: LABKIT_HUB_SPAWNER must be one of simple, system; got 'docker'"
    )
    assert "Traceback" not in done.stderr
