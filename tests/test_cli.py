"""The CLI's answers to bad input (exit 2) and to a lab that is not running (exit 1)."""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labkit.cli import build_parser, main
from labkit.failures import FAILURE_EFFECTS
from tests.conftest import LABKIT, RunningFleet, free_ports


def run(capsys: pytest.CaptureFixture[str], tmp_path: Path, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(["--state-dir", str(tmp_path), *argv])
    except SystemExit as exc:  # argparse's own errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


BAD = [
    (["inject", "--node", "3", "--failure", "cpu"], ["--failure", "'cpu'", "cpu_spike", "node_crash"]),
    (["inject", "--node", "3", "--failure", "cpu_spike", "--duration", "0"], ["--duration", "'0'", "1 to 3600"]),
    (["inject", "--node", "3", "--failure", "cpu_spike", "--duration", "2h"], ["--duration", "'2h'", "1 to 3600"]),
    (["inject", "--node", "3", "--failure", "cpu_spike", "--duration", "1.5m"], ["--duration", "'1.5m'", "90s or 1m30s"]),
    (["inject", "--node", "13", "--failure", "cpu_spike"], ["--node", "'13'", "from 1 to 12", "all"]),
    (["inject", "--node", "three", "--failure", "cpu_spike"], ["--node", "'three'", "from 1 to 12"]),
    (["inject", "--failure", "cpu_spike"], ["--node"]),
    (["recover", "--node", "0"], ["--node", "'0'", "from 1 to 12"]),
    (["recover", "--node", "2", "--failure", "all"], ["--failure", "'all'", "cpu_spike"]),
    (["fleet", "--nodes", "0"], ["--nodes", "'0'", "1 to 5000"]),
    (["fleet", "--nodes", "5000", "--base-port", "64000"], ["--base-port", "64000"]),
    (["node", "--id", "x"], ["--id", "'x'"]),
    (["frobnicate"], ["invalid choice", "inject"]),
    (["up", "--seed", "-3"], ["--seed", "'-3'", "0 to 2**64 - 1"]),
    (["fleet", "--seed", str(2**64)], ["--seed", "0 to 2**64 - 1"]),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "words"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_exits_2_naming_flag_value_and_allowed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], words: list[str]
) -> None:
    code, _, err = run(capsys, tmp_path, *argv)
    assert code == 2
    for word in words:
        assert word in err, err
    assert "Traceback" not in err
    assert not re.search(r"argument (-[\w-]+): \1 ", err)  # named once, not "argument --x: --x"


def test_an_unreachable_node_names_the_url_and_suggests_starting_the_lab(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # a layout pointing at a port nobody listens on
    port = free_ports(1)
    (tmp_path / "fleet.json").write_text(
        f'{{"host": "127.0.0.1", "ports": {{"1": {port}}}, "pid": null, "seed": 0}}'
    )
    code, out, err = run(capsys, tmp_path, "inject", "--node", "1", "--failure", "cpu_spike")
    assert code == 1
    assert f"http://127.0.0.1:{port}/inject" in err
    assert "labkit up" in err and "labkit fleet" in err
    assert "Traceback" not in err
    code, out, err = run(capsys, tmp_path, "status")
    assert code == 1 and "unreachable" in out and "labkit up" in err


def test_a_whole_fleet_down_is_reported_once(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    base = free_ports(5)
    ports = ", ".join(f'"{i}": {base + i - 1}' for i in range(1, 6))
    (tmp_path / "fleet.json").write_text(f'{{"host": "127.0.0.1", "ports": {{{ports}}}}}')
    code, _, err = run(capsys, tmp_path, "recover", "--node", "all")
    assert code == 1
    assert err.count("no answer from") == 1 and "(and 4 more nodes)" in err


def test_without_a_running_fleet_the_default_layout_is_12_nodes_from_8001(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, tmp_path, "status", "--node", "12")
    # node 12 is valid in the default layout; whether 8012 answers depends on the machine.
    # Read-only on purpose: a learner's lab may be running on the default ports.
    assert code in (0, 1)
    assert "--node" not in err


def test_help_lists_every_failure_mode_and_its_effect(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(capsys, tmp_path, "--help")
    assert code == 0
    for mode in ("cpu_spike", "memory_leak", "latency_spike", "error_burst", "node_crash"):
        assert mode in out
    assert "95-100%" in out


def _subparsers(parser: argparse.ArgumentParser, path: str = "labkit") -> Iterator[tuple[str, Any]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _subparsers(sub, f"{path} {name}")


def test_every_option_of_every_command_has_a_help_line() -> None:
    """Not just a default in parentheses ("(12)"): a few words saying what it is."""
    missing = []
    for path, parser in _subparsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
                continue
            words = re.sub(r"\([^)]*\)", "", action.help or "").strip()
            if len(words.split()) < 2:
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
    assert not missing, missing


def test_inject_help_lists_the_modes_one_line_each(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(capsys, tmp_path, "inject", "--help")
    assert code == 0
    lines = out.splitlines()
    for mode, effect in FAILURE_EFFECTS.items():
        assert any(line.split() == [mode, *effect.split()] for line in lines), mode


def test_recover_all_names_only_the_nodes_it_recovered_then_sums_up(
    capsys: pytest.CaptureFixture[str], fleet: RunningFleet
) -> None:
    def cli(*argv: str) -> tuple[int, list[str]]:
        code = main(["--state-dir", str(fleet.state_dir), *argv])
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        return code, out.splitlines()

    assert cli("inject", "--node", "2", "--failure", "cpu_spike")[0] == 0
    assert cli("inject", "--node", "4", "--failure", "error_burst")[0] == 0
    assert cli("recover", "--node", "all") == (0, [
        "node 2: ended cpu_spike",
        "node 4: ended error_burst",
        "recovered 2 faults on 2 nodes; 2 nodes had nothing to recover",
    ])  # fmt: skip
    assert cli("recover", "--node", "all") == (0, ["nothing to recover on 4 nodes"])
    assert cli("recover", "--node", "3") == (0, ["node 3: nothing to recover"])
    code, out = cli("status", "--node", "1")
    assert code == 0 and out[-1] == "1 node: 1 ok"
    code, out = cli("status")
    assert code == 0 and out[-1] == "4 nodes: 4 ok"


def _journal(path: Path, count: int, start: float = 1_795_769_593.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        for i in range(count):
            record = {"received_at": "", "ts": start + i, "route": "warning",
                      "status": "firing" if i % 2 == 0 else "resolved",
                      "alertname": f"Alert{i}", "node": str(i + 1), "severity": "warning",
                      "annotations": {"description": f"what happened {i}"}}  # fmt: skip
            f.write(json.dumps(record) + "\n")


def test_notifications_newest_first_as_a_table_or_json(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(capsys, tmp_path, "notifications")
    assert code == 0 and out.startswith("No notifications yet")
    _journal(tmp_path / "journal" / "notifications.jsonl", 5)
    code, out, _ = run(capsys, tmp_path, "notifications", "--limit", "3")
    head, *rows = out.splitlines()
    assert code == 0 and head.split()[:4] == ["RECEIVED", "(UTC)", "AGO", "STATUS"]
    assert [re.findall(r"Alert\d", r) for r in rows] == [["Alert4"], ["Alert3"], ["Alert2"]]
    assert rows[0].endswith("what happened 4")
    code, out, _ = run(capsys, tmp_path, "notifications", "--json", "--limit", "2")
    assert code == 0 and [r["alertname"] for r in json.loads(out)] == ["Alert4", "Alert3"]


@pytest.mark.parametrize("value", ["0", "-3", "many", "10001"])
def test_notifications_refuses_a_bad_limit(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, value: str
) -> None:
    code, _, err = run(capsys, tmp_path, "notifications", "--limit", value)
    assert code == 2 and "--limit" in err and f"'{value}'" in err and "1 to 10000" in err


@pytest.mark.timeout(60)
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_notifications_follow_prints_new_ones_and_ctrl_c_ends_it_cleanly(
    tmp_path: Path, stop: signal.Signals
) -> None:
    journal = tmp_path / "journal" / "notifications.jsonl"
    _journal(journal, 2)
    follow = subprocess.Popen(
        [*LABKIT, "notifications", "--follow", "--limit", "1"],
        env={**os.environ, "LABKIT_STATE_DIR": str(tmp_path)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert follow.stdout is not None
        assert follow.stdout.readline().startswith("RECEIVED (UTC)")
        assert "Alert1" in follow.stdout.readline()  # the newest one already there
        _journal(journal, 1, start=1_795_769_700.0)  # "Alert0", arriving now
        assert "Alert0" in follow.stdout.readline()
        follow.send_signal(stop)
        _, err = follow.communicate(timeout=20)
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.wait()
    assert follow.returncode == 0 and "Traceback" not in err
