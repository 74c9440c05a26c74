"""The node model: ranges at rest, each failure mode's effect and expiry, determinism."""

from __future__ import annotations

import math

import pytest

from labkit.failures import FAILURE_MODES, FaultSchedule, FaultWindow
from labkit.model import LATENCY_BUCKETS, ModelParams, NodeModel, Snapshot


def quantile(before: Snapshot, after: Snapshot, q: float) -> float:
    """histogram_quantile over the increase between two snapshots (as PromQL computes it)."""
    counts = [b - a for a, b in zip(before.bucket_counts, after.bucket_counts, strict=True)]
    total = counts[-1]
    rank = q * total
    bounds = [0.0, *LATENCY_BUCKETS]
    for i, count in enumerate(counts[:-1]):
        if count >= rank:
            lo, hi = bounds[i], bounds[i + 1]
            below = counts[i - 1] if i else 0
            return lo + (hi - lo) * (rank - below) / max(count - below, 1)
    return LATENCY_BUCKETS[-1]


def mean_latency(before: Snapshot, after: Snapshot) -> float:
    n = after.latency_count - before.latency_count
    return (after.latency_sum_seconds - before.latency_sum_seconds) / n


# -- at rest ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("seed", "node_id"), [(0, 1), (1, 7), (42, 12), (2026, 300)])
def test_at_rest_every_series_stays_in_its_range_and_no_seed_alert_condition_holds(
    seed: int, node_id: int
) -> None:
    """Three simulated hours, sampled every second: the seed's ranges and no alert."""
    model = NodeModel(node_id, seed=seed)
    previous = model.at(0)
    cpus, mems = [], []
    window_start = previous
    for t in range(1, 3 * 3600 + 1):
        s = model.at(t)
        cpus.append(s.cpu_percent)
        mems.append(s.memory_percent)
        assert 10 <= s.cpu_percent <= 85
        assert 20 <= s.memory_percent <= 75
        assert 0 <= s.error_rate < 0.001
        assert s.reliability_score >= 0.95
        assert 0.5 <= s.error_budget_remaining <= 1
        assert s.uptime_seconds == t
        assert not s.crashed and not any(s.faults_active.values())
        # counters never go down; the histogram's count matches the requests
        assert s.requests_success >= previous.requests_success
        assert s.requests_error >= previous.requests_error
        assert s.latency_count == s.requests_success + s.requests_error
        assert list(s.bucket_counts) == sorted(s.bucket_counts)
        if t % 60 == 0:  # p95 over each minute, as histogram_quantile would see it
            assert quantile(window_start, s, 0.95) < 0.5
            window_start = s
        previous = s
    total = previous.requests_success + previous.requests_error
    assert 15 * 3 * 3600 < total < 35 * 3 * 3600  # 18-30 requests per second
    assert previous.requests_error / total < 0.0002  # "well under 0.1%"
    # the series drift: neither flat nor stuck at a bound
    assert max(cpus) - min(cpus) > 10
    assert max(mems) - min(mems) > 5


def test_budget_is_computed_over_the_stated_window_from_the_slo() -> None:
    params = ModelParams(slo_target=0.999, budget_window_seconds=600)
    s = NodeModel(1, seed=3, params=params).at(100)
    at_rest_p = NodeModel(1, seed=3).traits.error_probability
    assert s.error_budget_remaining == pytest.approx(1 - at_rest_p / 0.001, rel=1e-9)


# -- failure modes ----------------------------------------------------------------------------


def faulted(failure: str, start: float = 100.0, end: float = 130.0, **kw: int) -> NodeModel:
    return NodeModel(
        kw.get("node_id", 3),
        seed=kw.get("seed", 5),
        schedule=FaultSchedule.of([FaultWindow(failure, start, end)]),
    )


def test_cpu_spike_puts_cpu_at_95_to_100_then_it_returns() -> None:
    model = faulted("cpu_spike")
    assert model.at(99.9).cpu_percent <= 85
    during = [model.at(100 + i / 4).cpu_percent for i in range(120)]
    assert all(95 <= c <= 100 for c in during)
    assert model.at(130).cpu_percent <= 85


def test_memory_leak_climbs_past_85_within_10_s_then_to_95_and_more() -> None:
    model = faulted("memory_leak", end=160)
    series = [model.at(100 + i / 2).memory_percent for i in range(120)]
    assert series == sorted(series)  # climbs steadily, never drops while active
    assert model.at(110).memory_percent > 85
    assert model.at(115).memory_percent >= 95
    assert model.at(159).memory_percent >= 95
    assert model.at(160).memory_percent <= 75


def test_latency_spike_multiplies_latency_by_ten() -> None:
    model = faulted("latency_spike", start=600, end=900)
    before, start, end = model.at(300), model.at(600), model.at(900)
    ratio = mean_latency(start, end) / mean_latency(before, start)
    assert 8 < ratio < 12
    assert quantile(before, start, 0.95) < 0.5
    assert quantile(start, end, 0.95) > 1.0  # HighLatency's condition holds
    after = model.at(1200)
    assert quantile(end, after, 0.95) < 0.5


@pytest.mark.parametrize("seed", [0, 1, 7, 99])
def test_every_node_crosses_the_seed_thresholds_only_under_its_fault(seed: int) -> None:
    """For 250 nodes per seed: the modelled p95 is far below 1 s at rest and above it under
    latency_spike; memory_leak passes 85% within 10 s whatever the starting level."""
    for node_id in range(1, 251):
        rest = NodeModel(node_id, seed=seed)
        assert rest.latency_p95_seconds(50) < 0.3
        spike = faulted("latency_spike", node_id=node_id, seed=seed)
        assert spike.latency_p95_seconds(110) > 1.2
        leak = faulted("memory_leak", node_id=node_id, seed=seed)
        assert leak.at(110).memory_percent > 85


def test_error_burst_sets_the_error_rate_between_20_and_50_percent() -> None:
    model = faulted("error_burst", start=100, end=400)
    rates = [model.at(100 + i).error_rate for i in range(300)]
    assert all(0.2 <= r <= 0.5 for r in rates)
    start, end = model.at(100), model.at(400)
    served = (end.requests_success + end.requests_error) - (
        start.requests_success + start.requests_error
    )
    sampled = (end.requests_error - start.requests_error) / served
    assert 0.2 <= sampled <= 0.5  # the counters agree with the gauge
    last = model.at(399.5)
    assert last.reliability_score < 0.95
    assert last.error_budget_remaining < 0.5
    assert model.at(400.5).error_rate < 0.001


def test_node_crash_stops_traffic_and_the_node_restarts_afterwards() -> None:
    model = faulted("node_crash", start=100, end=130)
    assert model.at(100).crashed and model.at(129.9).crashed
    a, b = model.at(101), model.at(129)
    assert b.requests_success + b.requests_error == a.requests_success + a.requests_error
    after = model.at(140)
    assert not after.crashed
    assert after.uptime_seconds == pytest.approx(10)


@pytest.mark.parametrize("failure", FAILURE_MODES)
def test_each_mode_sets_its_ground_truth_flag_only_while_active(failure: str) -> None:
    model = faulted(failure)
    assert model.at(99.99).faults_active == {m: False for m in FAILURE_MODES}
    assert model.at(100).faults_active == {m: m == failure for m in FAILURE_MODES}
    assert model.at(129.99).faults_active[failure]
    assert not model.at(130).faults_active[failure]


def test_overlapping_faults_each_have_their_effect_and_end_independently() -> None:
    schedule = FaultSchedule.of(
        [FaultWindow("cpu_spike", 100, 200), FaultWindow("error_burst", 150, 170)]
    )
    model = NodeModel(2, seed=1, schedule=schedule)
    both = model.at(160)
    assert both.cpu_percent >= 95 and both.error_rate >= 0.2
    assert both.faults_active["cpu_spike"] and both.faults_active["error_burst"]
    later = model.at(180)
    assert later.cpu_percent >= 95 and later.error_rate < 0.001


# -- determinism ------------------------------------------------------------------------------


def test_same_seed_and_schedule_give_the_same_series() -> None:
    def series(seed: int) -> list[Snapshot]:
        model = faulted("error_burst", seed=seed, start=50, end=90)
        return [model.at(t * 0.7) for t in range(400)]

    assert series(9) == series(9)
    assert series(9) != series(10)


def test_a_snapshot_depends_only_on_time_not_on_the_order_of_questions() -> None:
    walked = faulted("latency_spike", start=20, end=40)
    for t in range(0, 100):
        walked.at(t)
    fresh = faulted("latency_spike", start=20, end=40)
    assert walked.at(60) == fresh.at(60)  # asked in the past: recomputed, same answer


def test_a_fault_does_not_perturb_the_noise_of_unrelated_series() -> None:
    """cpu_spike changes CPU only: the traffic of the same ticks is identical."""
    plain = NodeModel(4, seed=2)
    spiked = faulted("cpu_spike", node_id=4, seed=2)
    a, b = plain.at(300), spiked.at(300)
    assert (a.requests_success, a.requests_error, a.bucket_counts) == (
        b.requests_success,
        b.requests_error,
        b.bucket_counts,
    )
    assert a.memory_percent == b.memory_percent
    assert a.cpu_percent == b.cpu_percent  # the spike ended at 130


def test_nodes_of_one_fleet_differ() -> None:
    snapshots = {NodeModel(n, seed=0).at(500).cpu_percent for n in range(1, 13)}
    assert len(snapshots) == 12


def test_model_params_reject_nonsense() -> None:
    with pytest.raises(ValueError, match="slo_target must be in"):
        ModelParams(slo_target=99.9)
    with pytest.raises(ValueError, match="tick_seconds"):
        ModelParams(tick_seconds=0)
    assert math.isfinite(NodeModel(1).at(-5).cpu_percent)  # before start: clamped to t=0
