"""A lab's past, offline: the plan, the seam's counters, the recorded SLI, the files."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from labkit import past, slo_spec
from labkit.history import VectorModel
from labkit.model import NodeModel
from labkit.node import Node
from labkit.stack import LabConfig

NOW = 1_800_000_003.7
CONFIG = LabConfig(nodes=3, base_port=18001)


def test_the_plan_covers_the_longest_window_plus_a_margin_and_the_period() -> None:
    p = past.plan(CONFIG, NOW)
    assert p.seam == math.floor(NOW)
    assert (p.base_window, p.period, p.longest) == ("10s", "1d", "2h24m")
    assert p.seam - p.raw_from == 2 * 3600 + 24 * 60 + past.MARGIN_SECONDS
    assert p.seam - p.recorded_from == 86400
    assert p.origin_epoch <= p.recorded_from  # the simulation covers the whole period
    assert p.fine_from % p.base_seconds == 0 and p.origin_epoch % p.base_seconds == 0
    assert past.FINE_SECONDS <= p.seam - p.fine_from < past.FINE_SECONDS + p.base_seconds


def test_the_live_model_carries_on_from_the_last_backfilled_counters() -> None:
    p = past.plan(CONFIG, NOW)
    coarse, fine = past.simulate(CONFIG, p, 2)
    origin = past.origin(fine, p)
    assert origin.success == fine.success[-1] and origin.errors == fine.errors[-1]
    assert sum(origin.buckets) == fine.buckets[-1, -1]
    assert fine.success[0] == coarse.success[-1]  # the fine part continues the coarse one
    node = Node(2, clock=lambda: p.seam + 0.5, started_at=p.origin_epoch, origin=origin)
    at_seam = node.snapshot()
    assert (at_seam.requests_success, at_seam.requests_error) == (origin.success, origin.errors)
    node.clock = lambda: p.seam + 30.5
    later = node.snapshot()
    served = later.requests_success + later.requests_error - origin.success - origin.errors
    assert 30 * 15 < served < 30 * 40  # about 30 s of one node's traffic, no jump, no reset
    # the gauges are the model's own functions of time: the same as the backfill's
    assert at_seam.cpu_percent == pytest.approx(
        NodeModel(2, seed=CONFIG.seed).at(p.seam + 0.5 - p.origin_epoch).cpu_percent
    )


def test_gap_samples_are_what_the_live_node_serves() -> None:
    p = past.plan(CONFIG, NOW)
    sim = past.simulate_fleet(CONFIG, p)
    gap = past.live_series(CONFIG, sim.past(), p.seam + 4)
    node = Node(1, clock=lambda: p.seam + 3 + past.PHASE_SECONDS,
                started_at=p.origin_epoch, origin=sim.origins[1])  # fmt: skip
    snap = node.snapshot()
    assert len(gap[1].t) == 4
    assert gap[1].success[2] == snap.requests_success
    assert tuple(gap[1].buckets[2]) == snap.bucket_counts


def stepped_past() -> tuple[past.Plan, dict[int, past.Counters], dict[int, dict[str, str]]]:
    """CONFIG's simulated past, one point per base window per node, and the nodes' labels."""
    p = past.plan(CONFIG, NOW)
    sim = past.simulate_fleet(CONFIG, p)
    steps = {n: past.stepped(sim.coarse[n], sim.fine[n], p) for n in sim.coarse}
    return p, steps, {n: {"job": "edge-nodes", "node": str(n)} for n in steps}


def test_the_recorded_sli_is_errors_over_requests_per_base_window() -> None:
    p, steps, labels = stepped_past()
    slos = slo_spec.load(slo_spec.LAB_SPEC)
    recorded, skipped = past.recorded_lines(slos, p, steps, labels)
    assert skipped == []
    assert len(recorded) == 2 * (1 + CONFIG.nodes)  # two fleet SLOs, two per-node ones
    node2 = next(
        v for k, v in recorded.items() if 'sloth_slo="node-availability"' in k and 'node="2"' in k
    )
    assert len(node2) == 86400 / 10
    assert all(e % 10 == 0 for e, _ in node2)  # on the subquery's grid
    errors = np.diff(steps[2].errors)[-len(node2) :]
    total = np.diff(steps[2].success + steps[2].errors)[-len(node2) :]
    assert [float(v) for _, v in node2] == pytest.approx((errors / total).tolist())
    latency = [v for k, v in recorded.items() if 'sloth_slo="node-latency"' in k]
    mean = np.mean([float(v) for series in latency for _, v in series])
    assert 0 < mean < 0.002  # at rest: a few slow requests in ten thousand


def test_a_big_labs_past_holds_the_tiles_its_rules_sum() -> None:
    """With tiles (a lab of more than 100 nodes), the past holds each SLO's error and total
    rates per base window, named and labelled as the tile rules record them, instead of the
    base window's ratio; their ratio is the ratio the small lab's past holds."""
    from labkit.stack import LabConfig, tiled

    assert tiled(LabConfig(nodes=101)) and not tiled(CONFIG)
    p, steps, labels = stepped_past()
    slos = slo_spec.load(slo_spec.LAB_SPEC)
    ratios, _ = past.recorded_lines(slos, p, steps, labels)
    tiles, skipped = past.recorded_lines(slos, p, steps, labels, tiles=True)
    assert skipped == [] and len(tiles) == 2 * len(ratios)
    assert not any(k.startswith("slo:sli_error:") for k in tiles)
    key = next(k for k in ratios if 'sloth_slo="node-availability"' in k and 'node="2"' in k)
    labels_text = key[key.index("{") :]
    errors = tiles[f"slo:sli_errors:rate10s{labels_text}"]
    total = tiles[f"slo:sli_total:rate10s{labels_text}"]
    assert len(errors) == len(total) == 86400 / 10
    expected = np.diff(steps[2].success + steps[2].errors)[-len(total) :] / 10
    assert [float(v) for _, v in total] == pytest.approx(expected.tolist())
    ratio = {e: float(v) for e, v in ratios[key]}
    pairs = [(e, float(x) / float(t)) for (e, x), (_, t) in zip(errors, total, strict=True)]
    assert [r for e, r in pairs if e in ratio] == pytest.approx(
        [ratio[e] for e, _ in pairs if e in ratio]
    )


@pytest.mark.parametrize(
    "query",
    [
        "sum(rate(node_requests_total[5m]))",  # no {{.window}}
        "sum by (instance) (rate(node_requests_total[{{.window}}]))",
        "histogram_quantile(0.9, rate(node_request_latency_seconds_bucket[{{.window}}]))",
    ],
)
def test_a_query_the_past_cannot_evaluate_is_refused(query: str) -> None:
    with pytest.raises(ValueError):
        past._terms(query)


def test_a_fresh_folder_is_an_empty_tsdb_and_a_block_is_not(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert past.tsdb_is_empty(data)
    (data / "wal").mkdir(parents=True)
    (data / "wal" / "00000000").write_bytes(b"")
    assert past.tsdb_is_empty(data)
    (data / "wal" / "00000000").write_bytes(b"x")
    assert not past.tsdb_is_empty(data)
    (data / "wal" / "00000000").unlink()
    (data / "01ABC").mkdir()
    (data / "01ABC" / "meta.json").write_text("{}")
    assert not past.tsdb_is_empty(data)


def test_past_json_round_trips(tmp_path: Path) -> None:
    p = past.plan(CONFIG, NOW)
    sim = past.simulate_fleet(CONFIG, p)
    saved = sim.past(samples=7, seconds=1.5, skipped=("x",))
    saved.save(tmp_path / "past.json")
    assert past.Past.load(tmp_path / "past.json") == saved


def test_a_time_offset_series_keeps_the_models_gauges() -> None:
    model = NodeModel(3, seed=0)
    part = VectorModel(model).series(20, start=1000)
    assert part.t[0] == 1000 and part.success[0] == 0
    assert part.cpu[5] == pytest.approx(NodeModel(3, seed=0).at(1005).cpu_percent)


def test_only_a_first_start_that_wants_it_backfills(tmp_path: Path) -> None:
    from dataclasses import replace

    from labkit.cli import build_parser
    from labkit.stack import LabPaths, backfills_past

    paths = LabPaths(tmp_path)
    assert backfills_past(CONFIG, paths)
    assert not backfills_past(replace(CONFIG, past=False), paths)
    assert build_parser().parse_args(["up", "--no-past"]).no_past is True
    assert build_parser().parse_args(["up"]).no_past is False
    (paths.prometheus / "data" / "01ABC").mkdir(parents=True)
    (paths.prometheus / "data" / "01ABC" / "meta.json").write_text("{}")
    assert not backfills_past(CONFIG, paths)  # a second start: the TSDB has data
