"""Alert replay against what a live Prometheus really did, and a live session archived,
replayed and scored. Runs against the session's shared embedded lab (real Prometheus,
Alertmanager and receiver)."""

from __future__ import annotations

import math
import re
import subprocess
import time
from typing import Any

import pytest

from labkit import replay
from labkit.alert_replay import live_firings, load_rules
from labkit.alert_replay import replay as replay_rules
from labkit.lab import Lab
from labkit.query import Prom
from labkit.score import SEED_RULES, score_history
from tests.conftest import LABKIT, free_ports, wait_for

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def recorded(shared_lab: Lab) -> dict[str, Any]:
    """Two short faults on the shared lab, until their alerts have fired and resolved. The two
    nodes start at rest: an earlier test's fault there (test_dashboard's 60 s CPU spike on node
    2) would end just before this one begins, and CI once saw the live alert's refiring 2 s
    after it resolved go unrecorded while the replay had it."""

    def firing(name: str, node: str) -> bool:
        return any(a["labels"]["alertname"] == name and a["labels"].get("node") == node
                   and a["state"] == "firing" for a in shared_lab.prometheus_alerts())  # fmt: skip

    def at_rest() -> bool:
        busy = {a["labels"].get("node") for a in shared_lab.prometheus_alerts()}
        return not busy & {"1", "2"} and not any(s["active"] for s in shared_lab.status([1, 2]))

    wait_for("nodes 1 and 2 at rest", at_rest, 90)
    time.sleep(5)
    start = math.floor(time.time()) - 3
    shared_lab.inject(1, "cpu_spike", 8)
    shared_lab.inject(2, "error_burst", 8)

    wait_for("HighCPUUsage to fire", lambda: firing("HighCPUUsage", "1"), 60)
    wait_for("HighCPUUsage to resolve", lambda: not firing("HighCPUUsage", "1"), 60)
    wait_for("HighErrorRate to resolve", lambda: not firing("HighErrorRate", "2"), 60)
    wait_for("the resolved notification", lambda: any(
        n["alertname"] == "HighCPUUsage" and n["status"] == "resolved"
        for n in shared_lab.notifications(since=start)), 60)  # fmt: skip
    time.sleep(3)
    return {"start": float(start), "end": float(math.floor(time.time()))}


@pytest.mark.timeout(180)
def test_replayed_alerts_match_the_alerts_prometheus_fired(
    shared_lab: Lab, recorded: dict[str, Any]
) -> None:
    prom = Prom(shared_lab.prometheus_url)
    rules = load_rules(SEED_RULES)
    lo, hi = recorded["start"], recorded["end"]
    replayed = replay_rules(prom, rules, lo, hi, 1.0, rule_set="seed")
    live = live_firings(prom, lo, hi, 1.0)
    live = live[live["alertname"].isin([r.name for r in rules])]

    def keyed(frame: Any) -> dict[tuple[str, str], list[tuple[float, float]]]:
        out: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for r in frame.sort_values("fired_at").itertuples():
            end = hi if r.resolved_at is None or r.resolved_at != r.resolved_at else r.resolved_at
            out.setdefault((r.alertname, r.series), []).append((r.fired_at, end))
        return out

    want, got = keyed(live), keyed(replayed)
    assert ("HighCPUUsage", "instance=" + shared_lab.node_url(1).split("//")[1]
            + ",job=edge-nodes,node=1,severity=warning") in want  # fmt: skip
    assert any(k[0] == "HighErrorRate" for k in want)
    assert set(got) == set(want)
    groups = {r["metric"]["rule_group"]: r["value"][1] for r in shared_lab.query(
        "increase(prometheus_rule_group_iterations_missed_total[2m])")}  # fmt: skip
    for key, spans in want.items():
        # on a mismatch, say whether Prometheus missed rule evaluations meanwhile
        assert len(got[key]) == len(spans), (key, spans, got[key], "missed:", groups)
        for (a0, a1), (b0, b1) in zip(spans, got[key], strict=True):
            # rule evaluation and the range query's steps sit at different sub-second offsets
            assert abs(a0 - b0) <= 2.0 and abs(a1 - b1) <= 2.0, (key, spans, got[key])


@pytest.mark.timeout(240)
def test_a_live_session_archives_replays_and_scores_with_notification_times(
    shared_lab: Lab, recorded: dict[str, Any], tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABKIT_STATE_DIR", str(tmp_path / "state"))
    archive = tmp_path / "session.tar.gz"
    run = subprocess.run([*LABKIT, "--state-dir", str(shared_lab.settings.state_dir), "archive",
                          str(archive)], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert re.search(r"archived \d+ injections? and", run.stdout) and archive.exists()

    lab = Lab.replay(archive, port=free_ports(1))
    try:
        assert lab.history is not None and lab.history.kind == "live"
        assert lab.history_dir is not None and lab.history_dir.is_relative_to(tmp_path / "state")
        prom = Prom(lab.prometheus_url)
        lo, hi = recorded["start"], recorded["end"]
        spike = prom.range('node_cpu_usage_percent{node="1"} > 90', lo, hi, 1.0)
        assert 5 <= len(spike) <= 12  # the 8 s spike, as the lab scraped it
        truth = prom.range('labkit_fault_active{node="2",failure="error_burst"} == 1', lo, hi, 1.0)
        assert 5 <= len(truth) <= 12
        with pytest.raises(Exception, match="no nodes"):
            lab.inject(1, "cpu_spike", 5)

        board = score_history(lab.history_dir, prom)
        cpu = board.modes.set_index(["rule_set", "alertname", "failure"]).loc[
            ("seed", "HighCPUUsage", "cpu_spike")
        ]
        assert cpu["detected"] >= 1
        assert 0 <= cpu["detect_s"] <= 3  # fired within the seed's 2 s (plus a step)
        # and was delivered: replayed firing times are on the 1 s evaluation grid, so the
        # notification may come up to a step before the replayed firing
        assert cpu["detect_s"] - 1 <= cpu["notify_s"] <= cpu["detect_s"] + 3
    finally:
        lab.stop()
    assert replay.running_url(lab.history_dir) is None
