"""The CLI's answers to bad input (exit 2) and to a lab that is not running (exit 1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from labkit.cli import main
from tests.conftest import free_ports


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
    (["inject", "--node", "3", "--failure", "cpu_spike", "--duration", "1h"], ["--duration", "'1h'", "1 to 3600"]),
    (["inject", "--node", "13", "--failure", "cpu_spike"], ["--node", "'13'", "from 1 to 12", "all"]),
    (["inject", "--node", "three", "--failure", "cpu_spike"], ["--node", "'three'", "from 1 to 12"]),
    (["inject", "--failure", "cpu_spike"], ["--node"]),
    (["recover", "--node", "0"], ["--node", "'0'", "from 1 to 12"]),
    (["recover", "--node", "2", "--failure", "all"], ["--failure", "'all'", "cpu_spike"]),
    (["fleet", "--nodes", "0"], ["--nodes", "'0'", "1 to 5000"]),
    (["fleet", "--nodes", "5000", "--base-port", "64000"], ["--base-port", "64000"]),
    (["node", "--id", "x"], ["--id", "'x'"]),
    (["frobnicate"], ["invalid choice", "inject"]),
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
