"""`labkit up/down/status` where things go wrong, without starting a whole lab."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from labkit.errors import InvalidInput
from labkit.stack import LabConfig, LabPaths, read_pid
from tests.conftest import LABKIT, free_ports


def labkit(state: Path, *argv: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LABKIT_STATE_DIR": str(state)}
    if path is not None:
        env["PATH"] = path
    return subprocess.run([*LABKIT, *argv], env=env, capture_output=True, text=True, timeout=60)


def test_missing_binaries_get_the_exact_install_command(tmp_path: Path) -> None:
    # a PATH with Python's folder only: neither prometheus nor alertmanager is on it
    r = labkit(tmp_path, "up", path=str(Path(sys.executable).parent))
    assert r.returncode == 1
    assert "sudo apt-get install prometheus prometheus-alertmanager" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "run").exists()  # nothing was started


def test_a_port_held_by_another_program_is_named_with_its_holder(tmp_path: Path) -> None:
    base = free_ports(5)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", base + 3))
        squatter.listen()
        r = labkit(tmp_path, "up", "--nodes", "2", "--base-port", str(base),
                   "--prometheus-port", str(base + 3), "--alertmanager-port", str(base + 2),
                   "--receiver-port", str(base + 4))  # fmt: skip
    assert r.returncode == 2
    assert f"port {base + 3}" in r.stderr and "prometheus" in r.stderr
    assert f"pid {os.getpid()}" in r.stderr  # the holder: this test
    assert not list((tmp_path / "run").glob("*.pid")) if (tmp_path / "run").exists() else True


def test_stale_and_reused_pid_files_are_dropped_never_trusted(tmp_path: Path) -> None:
    paths = LabPaths(tmp_path)
    (tmp_path / "run").mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    paths.pid("fleet").write_text(json.dumps({"pid": dead.pid, "argv0": sys.executable}))
    # a live pid that belongs to another program (this pytest, not prometheus)
    paths.pid("prometheus").write_text(
        json.dumps({"pid": os.getpid(), "argv0": "/usr/bin/prometheus"})
    )
    assert read_pid(paths, "fleet") is None and not paths.pid("fleet").exists()
    assert read_pid(paths, "prometheus") is None and not paths.pid("prometheus").exists()
    r = labkit(tmp_path, "down")
    assert r.returncode == 0 and "nothing was running" in r.stdout


def test_status_without_a_lab_says_so(tmp_path: Path) -> None:
    r = labkit(tmp_path, "status")
    assert "No lab is running" in r.stdout and "labkit up" in r.stdout


@pytest.mark.parametrize(
    ("fields", "flag"),
    [
        ({"prometheus_port": 8003}, "--prometheus-port"),
        ({"receiver_port": 9093}, "ports"),
        ({"alertmanager_port": 70000}, "--alertmanager-port"),
        ({"nodes": 0}, "--nodes"),
    ],
)
def test_lab_config_rejects_clashing_or_impossible_ports(fields: dict[str, int], flag: str) -> None:
    with pytest.raises(InvalidInput) as err:
        LabConfig(**fields)  # type: ignore[arg-type]
    assert err.value.field == flag


def test_up_with_clashing_ports_exits_2(tmp_path: Path) -> None:
    r = labkit(tmp_path, "up", "--prometheus-port", "8005")
    assert r.returncode == 2 and "--prometheus-port" in r.stderr and "8001-8012" in r.stderr


def test_connecting_to_no_lab_says_how_to_start_one(tmp_path: Path) -> None:
    from labkit import Lab
    from labkit.errors import LabNotRunning

    with pytest.raises(LabNotRunning, match="labkit up"):
        Lab.connect(tmp_path)


def test_a_lab_elsewhere_is_found_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from labkit import Lab

    monkeypatch.setenv("LABKIT_PROMETHEUS_URL", "http://prometheus:9090/")
    monkeypatch.setenv("LABKIT_NODES", "3")
    monkeypatch.setenv("LABKIT_NODE_URL", "http://node-{id}:8000")
    lab = Lab.connect()
    assert lab.prometheus_url == "http://prometheus:9090"
    assert lab.node_url(3) == "http://node-3:8000" and lab.fleet.node_ids("all") == [1, 2, 3]
    with pytest.raises(Exception, match="not started by labkit"):
        lab.stop()


def test_node_urls_from_the_environment_are_taken_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    from labkit import Lab

    monkeypatch.setenv("LABKIT_PROMETHEUS_URL", "http://127.0.0.1:20500")
    monkeypatch.setenv("LABKIT_NODE_URLS", "http://127.0.0.1:20401/, http://127.0.0.1:20433")
    lab = Lab.connect()
    assert lab.fleet.node_ids("all") == [1, 2]
    assert (
        lab.node_url(1) == "http://127.0.0.1:20401" and lab.node_url(2) == "http://127.0.0.1:20433"
    )
    monkeypatch.delenv("LABKIT_NODE_URLS")
    monkeypatch.setenv("LABKIT_NODES", "twelve")
    with pytest.raises(InvalidInput, match="LABKIT_NODES must be a whole number"):
        Lab.connect()


# -- --ports auto ------------------------------------------------------------------------------


def test_auto_ports_are_one_free_block_nodes_first(tmp_path: Path) -> None:
    from labkit.stack import AUTO_PORTS
    from labkit.stack import free_ports as lab_ports

    config = lab_ports(LabConfig(nodes=5), LabPaths(tmp_path))
    low, high = AUTO_PORTS
    assert low <= config.base_port and config.dashboard_port < high
    assert [config.prometheus_port, config.alertmanager_port, config.receiver_port,
            config.dashboard_port] == list(range(config.base_port + 5, config.base_port + 9))  # fmt: skip
    for port in range(config.base_port, config.dashboard_port + 1):
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))  # free, all of them


def test_a_running_lab_keeps_its_recorded_ports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labkit import stack

    recorded = LabConfig(nodes=3, base_port=21000, prometheus_port=21003, alertmanager_port=21004,
                         receiver_port=21005, dashboard_port=21006)  # fmt: skip
    paths = LabPaths(tmp_path)
    paths.lab_json.write_text(json.dumps({"config": recorded.__dict__}))
    monkeypatch.setattr(stack, "running", lambda p: {"fleet": 123, "prometheus": None})
    assert stack.free_ports(LabConfig(nodes=3, seed=7), paths) == LabConfig(
        **{**recorded.__dict__, "seed": 7}
    )


def test_no_free_block_is_bad_input_naming_the_range(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labkit import processes, stack
    from labkit.errors import LabkitError

    def none_free(*args: object, **kwargs: object) -> int:
        raise LabkitError("no 16 consecutive free ports")

    monkeypatch.setattr(processes, "free_port_block", none_free)
    with pytest.raises(InvalidInput, match=r"--ports must be possible with 16 consecutive free "
                       r"ports on 127\.0\.0\.1.*20000 to 32000.*labkit down"):  # fmt: skip
        stack.free_ports(LabConfig(nodes=12), LabPaths(tmp_path))


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (
            ["--ports", "auto", "--base-port", "8001"],
            "--base-port must be left out with --ports auto",
        ),
        (["--ports", "auto", "--dashboard-port", "9000"], "--dashboard-port must be left out"),
        (["--ports", "any"], "--ports"),
    ],
)
def test_auto_ports_refuse_ports_given_by_hand(tmp_path: Path, argv: list[str], named: str) -> None:
    r = labkit(tmp_path, "up", *argv)
    assert r.returncode == 2 and named in r.stderr, r.stderr
    assert not (tmp_path / "run").exists()  # nothing started


def test_a_state_folder_of_another_user_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another user's folder, as seen by someone else: labkit compares the folder's owner with
    the effective uid (this test pretends to be uid 4242)."""
    import io

    from labkit.settings import Settings
    from labkit.stack import up

    monkeypatch.setattr(os, "geteuid", lambda: 4242)
    with pytest.raises(
        InvalidInput, match=r"the state folder must be a folder you own.*belongs to"
    ):
        up(LabConfig(nodes=2), Settings(tmp_path), out=io.StringIO())
    assert not (tmp_path / "run").exists()


# -- the config files a lab started from (config_digest) --------------------------------------


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    """A copy of the repo's prometheus/, alertmanager/ and slo/."""
    import shutil

    from tests.conftest import REPO

    copy = tmp_path / "project"
    for folder in ("prometheus", "alertmanager", "slo"):
        shutil.copytree(REPO / folder, copy / folder)
    return copy


def test_config_digest_changes_with_a_rule_file_and_only_then(sources: Path) -> None:
    from labkit.stack import config_digest, config_files

    digest = config_digest(sources)
    assert len(digest) == 64 and config_digest(sources) == digest
    assert "prometheus/rules/alerts.yml" in config_files(sources)
    assert config_digest(sources) == config_digest()  # the repo's: contents, not where
    # an editor's hidden file, a file touched without a change: the same digest
    (sources / "prometheus" / "rules" / ".alerts.yml.swp").write_text("swap")
    rules = sources / "prometheus" / "rules" / "alerts.yml"
    rules.write_text(rules.read_text())
    assert config_digest(sources) == digest
    rules.write_text(rules.read_text().replace("> 90", "> 91"))
    assert config_digest(sources) != digest
    rules.write_text(rules.read_text().replace("> 91", "> 90"))
    assert config_digest(sources) == digest
    (sources / "slo" / "more.yml").write_text("slos: []\n")  # a new file counts too
    assert config_digest(sources) != digest


def test_config_changes_name_the_files_changed_since_the_lab_started(
    sources: Path, tmp_path: Path
) -> None:
    from labkit.stack import config_changes, config_digest, config_files

    paths = LabPaths(tmp_path / "lab")
    paths.state.mkdir()
    assert config_changes(paths, sources) is None  # no lab.json
    paths.lab_json.write_text(json.dumps({"config": {}}))  # an older labkit's
    assert config_changes(paths, sources) is None
    record = {"config": {}, "config_digest": config_digest(sources),
              "config_files": config_files(sources)}  # fmt: skip
    paths.lab_json.write_text(json.dumps(record))
    assert config_changes(paths, sources) == []
    (sources / "alertmanager" / "alertmanager.yml").write_text("route: {}\n")
    (sources / "slo" / "edge.yml").unlink()
    assert config_changes(paths, sources) == ["alertmanager/alertmanager.yml", "slo/edge.yml"]
    del record["config_files"]  # a digest alone: what changed is not known, only that it did
    paths.lab_json.write_text(json.dumps(record))
    assert config_changes(paths, sources) == ["prometheus/", "alertmanager/", "slo/"]


def test_half_a_lab_restarts_whole_when_its_config_changed_or_is_unknown(tmp_path: Path) -> None:
    from labkit.stack import config_digest, config_files, why_restart_all

    paths = LabPaths(tmp_path)
    config = LabConfig(nodes=3, base_port=20000)
    assert "stopping it to start clean" in str(why_restart_all(config, None, paths))
    record: dict[str, object] = {"config": config.__dict__}
    paths.lab_json.write_text(json.dumps(record))
    assert "older labkit" in str(why_restart_all(config, config, paths))
    record.update(config_digest=config_digest(), config_files=config_files())
    paths.lab_json.write_text(json.dumps(record))
    assert why_restart_all(config, config, paths) is None  # restart only what died
    assert why_restart_all(replace(config, past=False), config, paths) is None
    other = LabConfig(nodes=4, base_port=20000)
    assert "another setup is running (3 nodes" in str(why_restart_all(other, config, paths))
    record.update(config_digest="0" * 64, config_files={**config_files(), "slo/edge.yml": "0"})
    paths.lab_json.write_text(json.dumps(record))
    assert why_restart_all(config, config, paths) == (
        "the lab's configuration changed since it started (slo/edge.yml); restarting the whole lab"
    )


def test_auto_ports_are_the_last_labs_again_when_free(tmp_path: Path) -> None:
    """A lab restarted on `--ports auto` keeps its addresses when it can, so its series keep
    their `instance` labels (new ones would double every count for 5 minutes of lookback)."""
    from labkit.stack import free_ports as lab_ports

    paths = LabPaths(tmp_path)
    first = lab_ports(LabConfig(nodes=3), paths)
    paths.auto_ports.write_text(json.dumps({"base_port": first.base_port}))
    assert lab_ports(LabConfig(nodes=3), paths) == first
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", first.base_port + 2))
        moved = lab_ports(LabConfig(nodes=3), paths)
    assert moved.base_port != first.base_port


def test_the_last_labs_ports_in_time_wait_are_still_its_own() -> None:
    """After `down`, the lab's ports linger in TIME_WAIT for a minute: free for its servers
    (SO_REUSEADDR), so `--ports auto` takes them again (found by looking: a restarted lab's
    dashboard counted each node four times, one per earlier run's `instance`)."""
    from labkit.processes import block_is_free

    base = free_ports(1)
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", base))
        server.listen()
        client = socket.create_connection(("127.0.0.1", base))
        conn, _ = server.accept()
        conn.close()  # the server's side closes first: its port goes to TIME_WAIT
        client.close()
    assert not block_is_free(base, 1)  # any socket: not yet
    assert block_is_free(base, 1, reuse=True)  # the lab's servers: yes


def test_labs_starting_at_once_draw_different_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A free block is free only until a lab binds it: labs started at the same moment (a
    class's servers at JupyterHub) claim their block host-wide (labkit.processes.PortClaims),
    so the next draws another, even with the same luck; a lab's own claim never stands in
    its way, and a claim goes stale after CLAIM_SECONDS."""
    import random

    from labkit import processes
    from labkit.stack import free_ports as lab_ports

    monkeypatch.setattr(processes.tempfile, "gettempdir", lambda: str(tmp_path))
    real = random.Random
    monkeypatch.setattr(processes.random, "Random", lambda *a: real(7))  # the same luck
    ada, grace = LabPaths(tmp_path / "ada"), LabPaths(tmp_path / "grace")
    first = lab_ports(LabConfig(nodes=12), ada)
    second = lab_ports(LabConfig(nodes=12), grace)  # nothing bound yet
    blocks = [(c.base_port, c.dashboard_port) for c in (first, second)]
    assert blocks[0][1] < blocks[1][0] or blocks[1][1] < blocks[0][0], blocks
    claims = tmp_path / "labkit-port-claims"
    assert claims.stat().st_mode & 0o7777 == 0o1777  # every user's labs claim there
    assert sorted(p.read_text() for p in claims.glob("*-16")) == sorted(
        f"{p.state}\n" for p in (ada, grace)
    )

    ada.auto_ports.parent.mkdir(parents=True, exist_ok=True)  # ada starts again: her ports
    ada.auto_ports.write_text(json.dumps({"base_port": first.base_port}))
    assert lab_ports(LabConfig(nodes=12), ada) == first
    assert len(list(claims.glob("*-16"))) == 2  # her claim renewed, not doubled
    grace.auto_ports.parent.mkdir(parents=True, exist_ok=True)  # grace wants ada's: taken
    grace.auto_ports.write_text(json.dumps({"base_port": first.base_port}))
    assert lab_ports(LabConfig(nodes=12), grace).base_port != first.base_port

    old = time.time() - processes.CLAIM_SECONDS - 1
    for claim in claims.glob("*-16"):
        os.utime(claim, (old, old))
    assert lab_ports(LabConfig(nodes=12), grace).base_port == first.base_port  # stale: free


def test_port_claims_take_nothing_hostile_from_the_shared_folder(tmp_path: Path) -> None:
    """The claims folder is every user's: a link named as a claim is neither followed when
    read nor written through, a FIFO is not waited on, a huge file is read 4 KiB at most; a
    FIFO as the lock means no claims, not a hang."""
    from labkit import processes

    folder = tmp_path / "claims"
    folder.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (folder / "21000-16").symlink_to(victim)
    os.mkfifo(folder / "22000-16")
    (folder / "23000-16").write_bytes(b"x" * 10_000_000)
    with processes.claims("/me/.lab", folder) as claimed:
        assert claimed.free(21000, 16) and claimed.free(22000, 16)  # not claims
        assert not claimed.free(23000, 16)  # a claim of someone's (its 4 KiB read)
        claimed.claim(21000, 16)  # the link is replaced (here: this user's), not written through
    assert victim.read_text() == "precious\n"
    assert not (folder / "21000-16").is_symlink()
    assert (folder / "21000-16").read_text() == "/me/.lab\n"
    fifo = tmp_path / "fifo-lock"
    fifo.mkdir()
    os.mkfifo(fifo / "lock")
    with processes.claims("/me/.lab", fifo) as claimed:
        assert claimed.folder is None
