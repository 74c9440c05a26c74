"""Offline history: the vectorised model against the live one, determinism, and the round trip
scenario -> OpenMetrics -> promtool -> a real Prometheus -> PromQL. Scoring on hand-built
cases with known answers. Nothing here is mocked: promtool and Prometheus are the real ones."""

from __future__ import annotations

import filecmp
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from labkit import history, replay
from labkit.alert_replay import intervals, load_rules, parse_rules
from labkit.alert_replay import replay as replay_rules
from labkit.errors import DocumentError, InvalidInput, LabkitError
from labkit.failures import FAILURE_MODES
from labkit.journal import read_journal
from labkit.model import NodeModel
from labkit.query import Prom
from labkit.recording import HistoryInfo
from labkit.scenario import Scenario, parse
from labkit.score import (
    SEED_RULES,
    faults_from_journal,
    faults_from_metrics,
    open_history,
    score,
    score_history,
)
from tests.conftest import LABKIT, REPO, free_ports

SMALL = """\
name: small
seed: 5
nodes: 3
duration: 10m
step: 1s
schedule:
  - {at: 60s, nodes: [1], failure: cpu_spike, duration: 30s}
  - {at: 2m, nodes: [2], failure: node_crash, duration: 20s}
  - {at: 3m, nodes: [3], failure: error_burst, duration: 40s}
  - {at: 4m, nodes: [1, 3], failure: latency_spike, duration: 30s}
  - {at: 5m, nodes: [2], failure: memory_leak, duration: 1m}
  - {control: true, at: 7m, duration: 3m}
"""


@pytest.fixture(scope="module")
def small() -> Scenario:
    return parse(SMALL, "small.yml")


@pytest.mark.parametrize("step", ["1s", "15s"])
def test_the_history_gauges_are_the_live_models_sample_for_sample(step: str) -> None:
    s = parse(SMALL.replace("step: 1s", f"step: {step}"), "small.yml")
    for node in (1, 2, 3):
        series = history.simulate(s, node)
        model = NodeModel(node, seed=s.seed, schedule=history.schedule_for(s, node),
                          params=history.params_for(s))  # fmt: skip
        for j, t in enumerate(series.t.tolist()):
            snap = model.at(t)
            assert series.cpu[j] == snap.cpu_percent
            assert series.memory[j] == snap.memory_percent
            assert series.error_rate[j] == snap.error_rate
            assert series.reliability[j] == snap.reliability_score
            assert series.uptime[j] == snap.uptime_seconds
            assert series.budget[j] == pytest.approx(snap.error_budget_remaining, abs=1e-9)
            assert bool(series.up[j]) == (not snap.crashed)
            assert {m: bool(series.faults[m][j]) for m in FAILURE_MODES} == snap.faults_active


def test_history_traffic_has_the_live_models_distributions(small: Scenario) -> None:
    """Request counts, errors and latencies are drawn per tick rather than per request: the
    totals over 10 minutes agree with the live model's within sampling noise."""
    for node in (1, 2, 3):
        series = history.simulate(small, node)
        snap = NodeModel(node, seed=small.seed, schedule=history.schedule_for(small, node),
                         params=history.params_for(small)).at(small.duration_seconds)  # fmt: skip
        live_total = snap.requests_success + snap.requests_error
        total = series.success[-1] + series.errors[-1]
        assert total == pytest.approx(live_total, rel=0.02)
        assert series.buckets[-1, -1] == total  # +Inf bucket = count
        assert series.latency_sum[-1] == pytest.approx(snap.latency_sum_seconds, rel=0.05)
        # the error burst on node 3 (40 s at 20-50%) dominates its errors
        if node == 3:
            assert series.errors[-1] == pytest.approx(snap.requests_error, rel=0.15)
        # counters never go down; buckets are cumulative in le
        assert (np.diff(series.success) >= 0).all() and (np.diff(series.buckets, axis=0) >= 0).all()
        assert (np.diff(series.buckets, axis=1) >= 0).all()


def test_the_same_scenario_gives_the_same_samples_and_another_seed_does_not(
    small: Scenario, tmp_path: Path
) -> None:
    a = history.simulate(small, 3)
    b = history.simulate(small, 3)
    for name in ("cpu", "memory", "success", "errors", "buckets", "latency_sum", "budget"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    other = history.simulate(parse(SMALL.replace("seed: 5", "seed: 6"), "x.yml"), 3)
    assert not np.array_equal(a.success, other.success)
    assert not np.array_equal(a.cpu, other.cpu)
    # and byte for byte on disk, timestamps included
    for run in ("one", "two"):
        history.write_history(small, tmp_path / run, keep_openmetrics=True)
    one = sorted((tmp_path / "one").glob("labkit-om-*/*.om"))
    two = sorted((tmp_path / "two").glob("labkit-om-*/*.om"))
    assert one and [p.name for p in one] == [p.name for p in two]
    assert all(filecmp.cmp(x, y, shallow=False) for x, y in zip(one, two, strict=True))
    assert (tmp_path / "one/journal.jsonl").read_text() == (
        tmp_path / "two/journal.jsonl"
    ).read_text()


@pytest.fixture(scope="module")
def served(
    small: Scenario, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, Prom]]:
    out = tmp_path_factory.mktemp("small-history")
    progress: list[float] = []
    written = history.write_history(small, out, progress=lambda share, note: progress.append(share))
    assert written.samples > 0 and progress[-1] == 1.0 and progress == sorted(progress)
    url = replay.start(out, port=free_ports(1))
    try:
        yield out, Prom(url)
    finally:
        assert replay.stop(out)


def test_backfilled_history_answers_promql_with_the_simulated_values(
    small: Scenario, served: tuple[Path, Prom]
) -> None:
    out, prom = served
    info = history.HistoryInfo.load(out)
    assert (info.start, info.end) == (history.DEFAULT_START, history.DEFAULT_START + 600)
    for node in (1, 2, 3):
        series = history.simulate(small, node)
        at = [17.0, 75.0, 250.0, 599.0]
        for t in at:
            j = int(t)
            row = prom.instant(f'node_cpu_usage_percent{{node="{node}"}}', info.start + t)
            assert row["value"].tolist() == [series.cpu[j]]
            row = prom.instant(
                f'node_requests_total{{node="{node}",status="error"}}', info.start + t
            )
            assert row["value"].tolist() == [float(series.errors[j])]
            row = prom.instant(
                f'node_request_latency_seconds_bucket{{node="{node}",le="0.1"}}', info.start + t
            )
            assert row["value"].tolist() == [float(series.buckets[j, 5])]
    # the labels a live scrape carries
    up = prom.instant("up", info.start + 10)
    assert sorted(up["node"].tolist()) == ["1", "2", "3"] and set(up["job"]) == {"edge-nodes"}
    # the crash: up 0 for 20 s on node 2, and the node writes nothing else meanwhile
    down = prom.range('up{node="2"} == 0', info.start, info.end, 1)
    stamps = (down["timestamp"].astype("int64") // 10**9 - int(info.start)).tolist()
    assert stamps == list(range(120, 140))
    # ground truth in the TSDB matches the journal (crashes are only in the journal)
    journal = faults_from_journal(list(read_journal(out / "journal.jsonl")), info.end)
    metrics = faults_from_metrics(prom, info.start, info.end, 1.0)
    expected = journal[journal["failure"] != "node_crash"].reset_index(drop=True)
    pd.testing.assert_frame_equal(metrics, expected, check_dtype=False)


def test_alert_replay_fires_exactly_over_the_injected_windows(served: tuple[Path, Prom]) -> None:
    out, prom = served
    info = history.HistoryInfo.load(out)
    rules = parse_rules((REPO / "prometheus/rules/alerts.yml").read_text())
    firings = replay_rules(prom, rules, info.start, info.end, 1.0, rule_set="seed")
    by = {(r.alertname, r.node): (r.fired_at - info.start, r.resolved_at - info.start)
          for r in firings.itertuples()}  # fmt: skip
    assert by[("HighCPUUsage", "1")] == (60, 90)
    assert by[("NodeDown", "2")] == (120, 140)
    assert by[("HighErrorRate", "3")] == (180, 220)
    memory = history.simulate(parse(SMALL, "small.yml"), 2).memory
    above = [j for j in range(300, 360) if memory[j] > 85]  # the leak climbs to 85% first
    assert by[("HighMemoryUsage", "2")] == (above[0], 360) and above == list(range(above[0], 360))
    latency = by[("HighLatency", "1")]
    assert 240 < latency[0] <= 243 and 270 < latency[1] <= 276  # a 5 s rate window lags
    # `for` delays firing and drops what does not last long enough
    longer = replay_rules(prom, [r.with_(for_seconds=35) for r in rules if r.name == "HighCPUUsage"],
                          info.start, info.end, 1.0)  # fmt: skip
    assert longer.empty
    delayed = replay_rules(prom, [r.with_(for_seconds=10) for r in rules if r.name == "HighCPUUsage"],
                           info.start, info.end, 1.0)  # fmt: skip
    assert [(r.active_at - info.start, r.fired_at - info.start) for r in delayed.itertuples()] == [
        (60, 70)
    ]


def test_score_cli_prints_the_scoreboard_for_both_rule_sets(served: tuple[Path, Prom]) -> None:
    out, prom = served
    port = prom.url.rsplit(":", 1)[1]
    run = subprocess.run([*LABKIT, "score", str(out), "--port", port],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "rule set seed" in run.stdout and "rule set slo:lab-day" in run.stdout
    line = next(
        x for x in run.stdout.splitlines() if x.split()[:2] == ["HighCPUUsage", "cpu_spike"]
    )
    assert line.split()[2:4] == ["1/1", "0s"]
    assert "6 faults" in run.stdout
    assert replay.running_url(out) is not None  # it reused the running replay, left it running


@pytest.mark.parametrize(
    ("rules", "words"),
    [
        ("      - record: r:up\n        expr: up\n", "at least one alerting rule"),
        ("      - alert: A\n        expr: up === 0\n", "alert A: expr must be an expression "
         "Prometheus accepts; got 'up === 0'. Prometheus: "),
    ],
)  # fmt: skip
def test_score_cli_refuses_rule_files_it_cannot_score_with_exit_2(
    served: tuple[Path, Prom], tmp_path: Path, rules: str, words: str
) -> None:
    out, prom = served
    mine = tmp_path / "mine.yml"
    mine.write_text("groups:\n  - name: g\n    rules:\n" + rules)
    run = subprocess.run([*LABKIT, "score", str(out), "--port", prom.url.rsplit(":", 1)[1],
                          "--rules", str(mine)], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 2 and words in run.stderr and "Traceback" not in run.stderr
    assert str(mine) in run.stderr


def test_scoring_reads_history_json_once(
    served: tuple[Path, Prom], monkeypatch: pytest.MonkeyPatch
) -> None:
    out, prom = served
    read: list[Path] = []
    real = HistoryInfo.load

    def spy(directory: Path | str) -> HistoryInfo:
        read.append(Path(directory))
        return real(directory)

    monkeypatch.setattr(HistoryInfo, "load", spy)
    seed = {"seed": load_rules(SEED_RULES)}
    board = score_history(out, prom, sets=seed)
    assert read == [out] and "6 faults" in board.text()
    # the CLI's way: open it once, pass it on
    directory, info = open_history(out)
    assert read == [out, out] and directory == out and info.nodes == 3
    assert score_history(directory, prom, info=info, sets=seed).text() == board.text()
    assert read == [out, out]


def test_history_cli_reports_scenario_problems_with_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(SMALL.replace("failure: cpu_spike", "failure: cpu"))
    run = subprocess.run([*LABKIT, "history", str(bad), "--out", str(tmp_path / "h")],
                         capture_output=True, text=True)  # fmt: skip
    assert run.returncode == 2
    assert "line 7: failure must be one of cpu_spike" in run.stderr
    assert not (tmp_path / "h").exists()
    run = subprocess.run([*LABKIT, "history", str(bad), "--out", "x", "--start", "yesterday"],
                         capture_output=True, text=True)  # fmt: skip
    assert run.returncode == 2 and "--start must be a UTC time" in run.stderr


def test_history_refuses_to_write_over_an_existing_tsdb(small: Scenario, tmp_path: Path) -> None:
    history.write_history(small, tmp_path)
    with pytest.raises(LabkitError, match="already holds a TSDB"):
        history.write_history(small, tmp_path)


def test_replay_and_score_refuse_what_is_not_a_history(tmp_path: Path) -> None:
    with pytest.raises(LabkitError, match="not a labkit history"):
        replay.start(tmp_path)
    run = subprocess.run(
        [*LABKIT, "score", str(tmp_path / "nowhere")], capture_output=True, text=True
    )
    assert run.returncode == 2 and "DIR" in run.stderr and "nowhere" in run.stderr
    assert "Traceback" not in run.stderr


# -- scoring on hand-built cases --------------------------------------------------------------


def frame(rows: list[tuple[str, str | None, float, float | None]]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"rule_set": "t", "alertname": a, "node": n, "series": "", "active_at": f,
          "fired_at": f, "resolved_at": r} for a, n, f, r in rows]
    )  # fmt: skip


FAULTS = pd.DataFrame(
    [("1", "cpu_spike", 100.0, 160.0), ("2", "error_burst", 500.0, 560.0),
     ("3", "cpu_spike", 700.0, 730.0)],
    columns=["node", "failure", "start", "end"],
)  # fmt: skip


def test_scoring_on_a_hand_built_case_gives_the_known_answers() -> None:
    firings = frame([
        ("HighCPUUsage", "1", 105.0, 165.0),   # detects node 1's spike: 5 s, resolves 5 s late
        ("HighCPUUsage", "1", 215.0, 230.0),   # 55 s after the end: still within the 60 s grace
        ("HighCPUUsage", "3", 300.0, 310.0),   # nothing on node 3 then: false, in the control period
        ("HighCPUUsage", "3", 720.0, None),    # detects node 3's spike, still firing at the end
        ("FleetErrors", None, 530.0, 600.0),   # no node label: matches any node's fault
        ("FleetErrors", None, 50.0, 60.0),     # before anything: false, outside control
    ])  # fmt: skip
    notes = [{"status": "firing", "alertname": "HighCPUUsage", "node": "1", "ts": 107.5},
             {"status": "resolved", "alertname": "HighCPUUsage", "node": "1", "ts": 104.0}]  # fmt: skip
    board = score(firings, FAULTS, end=800.0, controls=((250.0, 400.0),), grace_seconds=60.0,
                  notifications=notes, rule_names={"t": ["HighCPUUsage", "FleetErrors", "Quiet"]})  # fmt: skip
    rules = board.rules.set_index("alertname")
    assert rules.loc[
        "HighCPUUsage", ["firings", "false_alerts", "control_false_alerts"]
    ].tolist() == [4, 1, 1]
    assert rules.loc["HighCPUUsage", "precision"] == 0.75
    assert rules.loc[
        "FleetErrors", ["firings", "false_alerts", "control_false_alerts"]
    ].tolist() == [2, 1, 0]
    assert rules.loc["Quiet", "firings"] == 0 and math.isnan(rules.loc["Quiet", "precision"])
    modes = board.modes.set_index(["alertname", "failure"])
    cpu = modes.loc[("HighCPUUsage", "cpu_spike")]
    assert (cpu["faults"], cpu["detected"], cpu["recall"]) == (2, 2, 1.0)
    assert cpu["detect_s"] == 12.5  # median of 5 and 20
    assert cpu["resolve_s"] == 5.0  # the still-firing one has no resolution
    assert cpu["notify_s"] == 7.5 and bool(cpu["intended"])
    assert modes.loc[("HighCPUUsage", "error_burst"), "recall"] == 0.0
    fleet = modes.loc[("FleetErrors", "error_burst")]
    assert (fleet["detected"], fleet["detect_s"], fleet["resolve_s"]) == (1, 30.0, 40.0)
    assert modes.loc[("FleetErrors", "cpu_spike"), "detected"] == 0  # 530 is in no cpu fault
    best = board.best().set_index("failure")
    assert best.loc["cpu_spike", "alertname"] == "HighCPUUsage"
    assert best.loc["error_burst", "alertname"] == "FleetErrors"
    assert "undetected by every rule: none" in board.text()


def test_a_shorter_grace_turns_a_late_firing_false() -> None:
    firings = frame([("HighCPUUsage", "1", 105.0, 165.0), ("HighCPUUsage", "1", 215.0, 230.0)])
    board = score(firings, FAULTS, end=800.0, grace_seconds=30.0)
    assert board.rules["false_alerts"].tolist() == [1]
    assert "error_burst on node 2 at +400 s" in board.text()
    with pytest.raises(InvalidInput, match="grace_seconds"):
        score(firings, FAULTS, end=800.0, grace_seconds=-1)


def test_firing_intervals_honour_for_and_gaps() -> None:
    stamps = [float(t) for t in [*range(0, 11), *range(20, 22), *range(30, 41)]]
    # for 3 s: fires at 3 (active since 0), resolved at the first evaluation without it
    assert intervals(stamps, 0, 40, 1.0, 3.0) == [(0, 3, 11), (30, 33, None)]
    # for 0: fires at once; the 2-sample run at 20 fires too
    assert intervals(stamps, 0, 50, 1.0, 0.0) == [(0, 0, 11), (20, 20, 22), (30, 30, 41)]
    # for 5: the run at 20 is pending only
    assert [i[0] for i in intervals(stamps, 0, 50, 1.0, 5.0)] == [0, 30]


def test_journal_faults_honour_recoveries_and_restarts() -> None:
    events = [
        {"ts": 10.0, "event": "inject", "node": 1, "failure": "cpu_spike", "ends_at": 40.0},
        {"ts": 20.0, "event": "inject", "node": 1, "failure": "cpu_spike", "ends_at": 50.0,
         "restarted": True},
        {"ts": 50.0, "event": "expire", "node": 1, "failure": "cpu_spike"},
        {"ts": 60.0, "event": "inject", "node": 2, "failure": "error_burst", "ends_at": 90.0},
        {"ts": 70.0, "event": "recover", "node": 2, "failure": "error_burst"},
        {"ts": 95.0, "event": "inject", "node": 3, "failure": "node_crash", "ends_at": 200.0},
    ]  # fmt: skip
    faults = faults_from_journal(events, end=120.0)
    assert faults.values.tolist() == [["1", "cpu_spike", 10.0, 50.0], ["2", "error_burst", 60.0, 70.0],
                                      ["3", "node_crash", 95.0, 120.0]]  # fmt: skip


def test_recording_rules_are_inlined_into_the_alerts_that_read_them() -> None:
    text = """
groups:
  - name: g
    rules:
      - record: slo:sli_error:ratio_rate5m
        expr: sum(rate(errs[5m])) / sum(rate(reqs[5m]))
        labels: {sloth_id: a}
      - record: slo:sli_error:ratio_rate5m
        expr: sum(rate(other[5m]))
        labels: {sloth_id: b}
      - alert: Burn
        expr: max(slo:sli_error:ratio_rate5m{sloth_id="a"} > 0.01) without (sloth_window)
        for: 2m
        labels: {severity: page}
"""
    (rule,) = parse_rules(text)
    assert (
        rule.expr
        == "max((sum(rate(errs[5m])) / sum(rate(reqs[5m]))) > 0.01) without (sloth_window)"
    )
    assert rule.for_seconds == 120 and rule.labels == {"severity": "page"}
    assert rule.shortest_range() == 300
    fine = parse_rules(text.replace("[5m]", "[500ms]").replace("for: 2m", "for: 1m30s"))[0]
    assert (fine.shortest_range(), fine.for_seconds) == (0.5, 90)
    ambiguous = text.replace('{sloth_id="a"}', "")
    with pytest.raises(LabkitError, match="2 recording rules match"):
        parse_rules(ambiguous)
    with pytest.raises(InvalidInput, match="groups"):
        parse_rules("rules: []", "x.yml")


@pytest.mark.parametrize(
    ("text", "place", "line"),
    [
        ("groups: {a: 1}\n", "groups", 1),
        ("groups:\n  - just a name\n", "groups[0]", 2),
        ("groups:\n  - name: g\n    rules: {alert: A}\n", "groups[0].rules", 2),
        ("groups:\n  - name: g\n    rules:\n      - alert: A\n", "groups[0].rules[0].expr", 4),
        ("groups:\n  - name: g\n    rules:\n      - {alert: A, record: b, expr: up}\n",
         "groups[0].rules[0]", 4),
        ("groups:\n  - name: g\n    rules:\n      - {alert: [A], expr: up}\n",
         "groups[0].rules[0].alert", 4),
        ("groups:\n  - name: g\n    rules:\n      - {alert: A, expr: up, labels: {a: [1]}}\n",
         "groups[0].rules[0].labels", 4),
    ],
)  # fmt: skip
def test_a_rule_file_of_the_wrong_shape_is_refused_naming_the_place(
    text: str, place: str, line: int | None
) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_rules(text, "mine.yml")
    field = caught.value.field
    assert field.startswith(f"mine.yml: {place}")
    assert (f"(line {line})" in field) if line else "line" not in field


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"groups:\n  - name: caf\xe9\n", "byte 0xe9"),
        ("a: &a [1]\ngroups: *a\n", r"alias \*a"),
        ("groups: []\ngroups: []\n", "twice"),
        ("[" * 5000 + "]" * 5000, "depth"),
    ],
)
def test_a_hostile_rule_file_is_refused_by_the_loader(data: str | bytes, problem: str) -> None:
    with pytest.raises(DocumentError, match=problem):
        parse_rules(data, "mine.yml")


def test_archive_refuses_a_bad_name_and_a_missing_lab(tmp_path: Path) -> None:
    run = subprocess.run([*LABKIT, "--state-dir", str(tmp_path), "archive", str(tmp_path / "x.zip")],
                         capture_output=True, text=True)  # fmt: skip
    assert run.returncode == 2 and "OUT" in run.stderr and ".tar.gz" in run.stderr
    run = subprocess.run([*LABKIT, "--state-dir", str(tmp_path), "archive", str(tmp_path / "x.tar.gz")],
                         capture_output=True, text=True)  # fmt: skip
    assert run.returncode == 1 and "no lab recording" in run.stderr
    assert not (tmp_path / "x.tar.gz").exists()


def test_replay_cli_starts_reuses_and_stops(served: tuple[Path, Prom], tmp_path: Path) -> None:
    out, prom = served
    run = subprocess.run([*LABKIT, "replay", str(out)], capture_output=True, text=True)
    assert run.returncode == 0 and prom.url in run.stdout  # already running: the same one
    assert "2026-01-05T00:00:00.000Z" in run.stdout
    other = tmp_path / "other"
    tiny = "name: tiny\nseed: 1\nnodes: 2\nduration: 2m\nstep: 1s\nschedule:\n"
    history.write_history(parse(tiny, "tiny.yml"), other)
    port = str(free_ports(1))
    run = subprocess.run(
        [*LABKIT, "replay", str(other), "--port", port], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert replay.running_url(other) == f"http://127.0.0.1:{port}"
    # the replay's own files, in DIR/run/ (not DIR/run/run/, DIR/run/logs/)
    files = {p.name for p in (other / "run").iterdir()}
    assert files == {"prometheus.yml", "prometheus.pid", "prometheus.log", "replay.json"}
    run = subprocess.run([*LABKIT, "replay", str(other), "--stop"], capture_output=True, text=True)
    assert run.returncode == 0 and "stopped" in run.stdout
    assert replay.running_url(other) is None
    assert not (other / "run" / "prometheus.pid").exists()


def test_a_replay_started_by_an_older_labkit_is_found_and_stopped(tmp_path: Path) -> None:
    """Older replays kept their pid file in DIR/run/run/; a process stands in for their
    Prometheus (the pid file names the program it was written for)."""
    from labkit.processes import alive, write_pid

    legacy = tmp_path / "run" / "run"
    legacy.mkdir(parents=True)
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        write_pid(legacy / "prometheus.pid", proc.pid, sys.executable)
        assert replay.stop(tmp_path) is True
        assert not Path(f"/proc/{proc.pid}").exists()  # stopped (and reaped by stop)
        assert not legacy.exists() and not (tmp_path / "run" / "prometheus.pid").exists()
        assert replay.stop(tmp_path) is False
    finally:
        if alive(proc.pid, sys.executable):
            proc.kill()
            proc.wait()


def test_a_query_that_outlasts_its_timeout_says_so(served: tuple[Path, Prom]) -> None:
    from labkit.query import QueryTimeout

    _, prom = served
    info = history.HistoryInfo.load(served[0])
    slow = Prom(prom.url, timeout=0.5)
    # a subquery at 1 ms resolution: ten minutes of it at every one of 600 steps, far beyond
    # half a second (Prometheus drops the work when the client goes away)
    heavy = "max_over_time(rate(node_requests_total[1m])[10m:1ms])"
    with pytest.raises(QueryTimeout, match=r"did not answer .* within 0\.5 s"):
        slow.range(heavy, info.start, info.end, 1.0)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--step", "0"], "--step must be a number above 0 (seconds, or a duration such as 15s"),
        (["--grace", "-1"], "--grace must be a number, 0 or more (seconds, or a duration"),
        (["--port", "70000"], "--port must be a whole number from 1 to 65535"),
    ],
)
def test_score_cli_rejects_bad_options_with_exit_2(
    tmp_path: Path, args: list[str], words: str
) -> None:
    run = subprocess.run([*LABKIT, "score", str(tmp_path), *args], capture_output=True, text=True)
    assert run.returncode == 2 and words in run.stderr
