"""Many labs on one host (issue 16): three labs side by side, each from its own state folder
on ports `--ports auto` picked, two of them asking for credentials (`--auth`). Each detects
its own fault and sees nobody else's; every listener of a lab with --auth answers 401 to no
credentials and to another lab's."""

from __future__ import annotations

import contextlib
import io
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from labkit import auth
from labkit.lab import Lab
from labkit.settings import Settings
from labkit.stack import LabConfig, LabPaths, down, free_ports, up
from tests.conftest import wait_for

pytestmark = pytest.mark.live
NODES = 2
#: each lab's fault: (node, failure, the alert it fires)
FAULTS = {"plain": (1, "error_burst", "HighErrorRate"),
          "locked": (2, "error_burst", "HighErrorRate"),
          "other": (1, "node_crash", "NodeDown")}  # fmt: skip


@pytest.fixture(scope="module")
def labs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Lab]]:
    started: dict[str, Lab] = {}
    with contextlib.ExitStack() as stack:
        for name in FAULTS:
            state = tmp_path_factory.mktemp(name) / ".lab"
            config = free_ports(LabConfig(nodes=NODES, past=False, auth=name != "plain"),
                                LabPaths(state))  # fmt: skip
            settings = Settings(state)
            stack.callback(down, settings, io.StringIO(), True)
            up(config, settings, out=io.StringIO())
            started[name] = Lab(config, settings)
        yield started


def status(url: str, creds: auth.Credentials | None) -> int:
    headers = {"Authorization": creds.header} if creds is not None else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def listeners(config: LabConfig) -> list[str]:
    """One address per listener: every node, Prometheus (API and UI), Alertmanager, the
    receiver, the dashboard page."""
    nodes = [f"{config.url(port)}/metrics" for port in range(config.base_port,
                                                              config.base_port + config.nodes)]  # fmt: skip
    return [*nodes, f"{config.prometheus_url}/api/v1/query?query=up",
            f"{config.prometheus_url}/classic/graph", f"{config.alertmanager_url}/api/v2/alerts",
            f"{config.receiver_url}/notifications", config.dashboard_page]  # fmt: skip


def test_the_labs_listen_on_ports_of_their_own(labs: dict[str, Lab]) -> None:
    ports = [p for lab in labs.values() for p in (lab.config and lab.config.urls()) or []]
    assert len(ports) == len(set(ports)) == len(labs) * (NODES + 4)
    assert "http://127.0.0.1:9090" not in ports


def test_a_lab_with_auth_answers_401_to_none_and_to_another_labs_secret(
    labs: dict[str, Lab],
) -> None:
    locked, other = labs["locked"], labs["other"]
    assert locked.config is not None and other.config is not None
    mine = auth.read(locked.settings.state_dir)
    theirs = auth.read(other.settings.state_dir)
    assert mine != theirs
    for url in listeners(locked.config):
        assert status(url, None) == 401, url
        assert status(url, theirs) == 401, url
        assert status(url, mine) == 200, url
    try:  # a browser without the token: a page that says what to do, and a sign-in prompt
        urllib.request.urlopen(locked.config.dashboard_page, timeout=5)
    except urllib.error.HTTPError as exc:
        page = exc.read().decode()
        assert exc.headers["WWW-Authenticate"] == 'Basic realm="labkit"'
        assert "?token=" in page and ".lab/auth/password" in page
    else:
        raise AssertionError("the dashboard page answered without credentials")
    secret = locked.settings.state_dir / "auth"
    assert secret.stat().st_mode & 0o777 == 0o700
    assert {f.stat().st_mode & 0o777 for f in secret.iterdir()} == {0o600}
    plain = labs["plain"].config
    assert (
        plain is not None and status(f"{plain.prometheus_url}/api/v1/query?query=up", None) == 200
    )


@pytest.mark.timeout(180)
def test_each_lab_detects_its_own_fault_and_nobody_elses(labs: dict[str, Lab]) -> None:
    for name, (node, failure, _) in FAULTS.items():
        labs[name].inject(node, failure, 120)

    def firing(lab: Lab) -> set[tuple[str, str]]:
        return {(a["labels"]["alertname"], a["labels"].get("node", ""))
                for a in lab.prometheus_alerts() if a["state"] == "firing"
                and a["labels"]["alertname"] in ("HighErrorRate", "NodeDown")}  # fmt: skip

    for name, (node, _, alert) in FAULTS.items():
        wanted, lab = (alert, str(node)), labs[name]
        wait_for(f"{alert} on node {node} of lab {name}",
                 lambda lab=lab, wanted=wanted: wanted in firing(lab), timeout=90)  # fmt: skip
    for name, (node, _, alert) in FAULTS.items():
        assert firing(labs[name]) == {(alert, str(node))}, name
        got = wait_for(f"lab {name}'s receiver to hear of {alert}",
                       lambda lab=labs[name]: [n for n in lab.notifications()
                                               if n["alertname"] in ("HighErrorRate", "NodeDown")])  # fmt: skip
        assert {(n["alertname"], n["node"]) for n in got} == {(alert, str(node))}, name
    for lab in labs.values():
        lab.recover("all")
