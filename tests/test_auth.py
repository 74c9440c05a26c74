"""A lab's credentials (labkit.auth): the secret and its files, the guard in front of the nodes
and the receiver, and how labkit's own calls find the secret. The live checks (every listener
of a lab started with --auth) are in test_many_labs_live.py."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import yaml
from starlette.testclient import TestClient

from labkit import auth, cli
from labkit.errors import CredentialsError
from labkit.stack import LabConfig
from tests.conftest import start_fleet


def test_a_new_secret_is_its_owners_alone_and_prometheus_reads_its_web_config(
    tmp_path: Path,
) -> None:
    creds = auth.create(tmp_path)
    folder = tmp_path / "auth"
    assert folder.stat().st_mode & 0o777 == 0o700
    assert {p.name: p.stat().st_mode & 0o777 for p in folder.iterdir()} == {
        "password": 0o600, "web.yml": 0o600}  # fmt: skip
    assert auth.read(tmp_path) == creds and len(creds.password) >= 32
    web = (folder / "web.yml").read_text()
    hashed = yaml.safe_load(web)["basic_auth_users"][auth.USER]
    assert bcrypt.checkpw(creds.password.encode(), hashed.encode())
    assert creds.password not in web  # only its hash
    assert auth.create(tmp_path) != creds  # a new lab, a new secret
    promtool = shutil.which("promtool")
    assert promtool, "promtool comes with Debian's prometheus package (make test installs it)"
    check = subprocess.run([promtool, "check", "web-config", str(folder / "web.yml")],
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_missing_or_empty_secret_says_whose_it_is(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match=r"cannot be read.*only the user who started"):
        auth.read(tmp_path)
    (tmp_path / "auth").mkdir()
    (tmp_path / "auth" / "password").write_text("\n")
    with pytest.raises(CredentialsError, match="is empty"):
        auth.read(tmp_path)


async def _hello(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"hello"})


def test_the_guard_answers_401_to_anything_but_the_labs_secret() -> None:
    creds = auth.Credentials(auth.USER, "s3cret")
    client = TestClient(auth.guard(_hello, creds))
    bare = client.get("/metrics")
    assert bare.status_code == 401 and bare.headers["www-authenticate"] == 'Basic realm="labkit"'
    assert "credentials required" in bare.json()["detail"] and ".lab/auth/password" in bare.text
    wrong = client.get("/health", auth=(auth.USER, "other"))
    assert wrong.status_code == 401 and "credentials refused" in wrong.json()["detail"]
    assert client.post("/inject", auth=("someone", "s3cret")).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "token s3cret"}).status_code == 401
    assert client.get("/metrics", auth=(auth.USER, "s3cret")).text == "hello"
    assert auth.guard(_hello, None) is _hello  # no --auth: the app itself


def test_calls_carry_a_labs_secret_to_its_addresses_only() -> None:
    config = LabConfig(nodes=2, base_port=21100, prometheus_port=21102, alertmanager_port=21103,
                       receiver_port=21104, dashboard_port=21105)  # fmt: skip
    creds = auth.Credentials(auth.USER, "abc")
    auth.register(config.urls(), creds)
    try:
        assert auth.headers("http://127.0.0.1:21101/inject") == {"Authorization": creds.header}
        assert auth.headers("http://127.0.0.1:21102/api/v1/query?query=up") != {}
        assert auth.headers("http://127.0.0.1:21106/") == {}  # not the lab's
        assert auth.headers("http://localhost:21102/") == {}  # another origin
        assert auth.page(config.dashboard_page).endswith("dashboard.ipynb?token=abc")
        assert auth.page("http://127.0.0.1:21105/x?y=1") == "http://127.0.0.1:21105/x?y=1&token=abc"
        assert "refused (a secret of another lab?)" in str(auth.refused(config.prometheus_url))
    finally:
        auth.register(config.urls(), None)
    assert auth.headers("http://127.0.0.1:21101/inject") == {}
    assert auth.page(config.dashboard_page) == config.dashboard_page
    assert "none were given" in str(auth.refused(config.prometheus_url))


def test_a_node_with_auth_refuses_the_cli_without_its_secret_exit_2(tmp_path: Path) -> None:
    """A fleet asking for a secret the CLI cannot read (no lab.json names it): exit 2 and why."""
    secret = tmp_path / "secret"
    secret.write_text("only-mine")
    with start_fleet(tmp_path / "lab", nodes=1, extra=["--auth-file", str(secret)]) as fleet:
        r = fleet.cli("inject", "--node", "1", "--failure", "cpu_spike")
        assert r.returncode == 2, r.stdout + r.stderr
        assert "asks for credentials" in r.stderr and "none were given" in r.stderr


@pytest.mark.parametrize(
    ("argv", "hub", "wanted"),
    [([], None, False), ([], "ada", True), (["--no-auth"], "ada", False), (["--auth"], None, True)],
)
def test_auth_is_on_by_itself_under_jupyterhub(
    argv: list[str], hub: str | None, wanted: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from labkit import stack

    seen: list[LabConfig] = []
    monkeypatch.setattr(stack, "up", lambda config, *a, **k: seen.append(config))
    if hub is None:
        monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
    else:
        monkeypatch.setenv("JUPYTERHUB_USER", hub)
    assert cli.main(["--state-dir", str(tmp_path), "up", "--ports", "auto", *argv]) == 0
    assert seen[0].auth is wanted


def test_up_again_takes_the_running_labs_setup_for_what_is_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plain `labkit up` on a lab started with --ports auto --auth --nodes 3 is that lab
    (found in the walkthrough: it was refused as "a different setup"); an option given
    changes only itself, and the refusal names what changed."""
    import json

    from labkit import stack

    running = LabConfig(nodes=3, base_port=21200, prometheus_port=21203, alertmanager_port=21204,
                        receiver_port=21205, dashboard_port=21206, auth=True, seed=9)  # fmt: skip
    (tmp_path / "lab.json").write_text(json.dumps({"config": running.__dict__}))
    monkeypatch.setattr(stack, "running", lambda paths: {"fleet": 1, "prometheus": 2})
    monkeypatch.setattr(stack, "use_credentials", lambda *a, **k: None)
    seen: list[LabConfig] = []
    monkeypatch.setattr(stack, "up", lambda config, *a, **k: seen.append(config))
    monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
    for argv in ([], ["--ports", "auto"], ["--nodes", "5"], ["--no-auth"]):
        assert cli.main(["--state-dir", str(tmp_path), "up", *argv]) == 0
    plain, auto, five, off = seen
    assert plain == auto == LabConfig(**{**running.__dict__, "past": True})
    assert (five.nodes, five.auth, five.seed) == (5, True, 9)  # its ports: 3 nodes' no longer fit
    assert five.base_port == 8001
    assert off.auth is False and off.nodes == 3
    assert stack.setup_changes(running, off) == "--auth -> --no-auth"
    assert stack.setup_changes(running, five).startswith(
        "--nodes 3 -> 5, --base-port 21200 -> 8001"
    )
