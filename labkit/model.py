"""The simulated edge node: a pure function of (seed, node id, fault schedule, time).

No clock, no I/O: `NodeModel.at(t)` takes model seconds since the node started and returns a
`Snapshot` of the seed's eight metrics plus the ground truth. Live nodes and offline history
use this same code, so both have the same statistics.

How each series is made (also in docs/MODEL.md):

- Gauges (CPU, memory, error rate, reliability, budget, fault flags) are evaluated at exactly
  `t`, so a fault shows on the first scrape after it is injected. CPU and memory drift as two
  sine waves with per-node periods and phases plus per-second noise.
- Traffic is simulated in ticks of `tick_seconds`. Tick k covers ((k-1)dt, k*dt] and uses the
  fault state at its midpoint. Each tick draws its request count, each request's latency
  (log-normal) and outcome (error with the current error probability) from an RNG seeded by
  (seed, node, k), so a fault never perturbs the noise of later ticks.
- `node_error_rate` is the node's current error probability: what its own instrumentation
  reports as "the share of requests failing now", not a ratio of a few sampled requests.
- `error_budget_remaining` = 1 - (E/R) / (1 - slo_target), where E and R are the expected
  errors and requests over the last `budget_window_seconds`. Before the node has run that
  long, the window is filled with at-rest history, so a young node does not burn its budget
  on one unlucky request. It goes below 0 when the budget is overspent.
- `reliability_score` = 0.5 (1 - error rate) + 0.3 latency score + 0.2 saturation score, with
  latency score = min(1, 0.25 s / modelled p95) and saturation score =
  clamp(1 - (max(cpu, memory) - 85) / 15, 0, 1).
"""

from __future__ import annotations

import bisect
import math
import random
from collections import deque
from dataclasses import dataclass, field

from labkit.failures import FAILURE_MODES, FaultSchedule

#: error_burst's error probability stays within this range (labkit.failures: 20-50 %).
BURST_ERROR_RANGE: tuple[float, float] = (0.2, 0.5)

#: Histogram bucket bounds (seconds): fine around the latency alert's 1 s threshold.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    1.5,
    2.5,
    5.0,
    10.0,
)
_Z95 = 1.6448536269514722  # the standard normal's 95th percentile
_LN10 = math.log(10.0)
_MASK = (1 << 64) - 1


def _mix(x: int) -> int:
    """splitmix64's finaliser: a well-spread 64-bit hash of an integer."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def _unit(key: int, salt: int, k: int) -> float:
    """A uniform number in [0, 1) that depends only on (key, salt, k)."""
    return _mix(key ^ _mix(salt * 0x100000001B3 + k)) / 2.0**64


# Salts that keep each noise stream independent.
_CPU, _MEM, _ERR, _BURST, _SPIKE, _TRAFFIC = range(1, 7)


@dataclass(frozen=True)
class ModelParams:
    """Knobs shared by every node of a fleet."""

    tick_seconds: float = 1.0
    slo_target: float = 0.999
    budget_window_seconds: float = 600.0
    latency_sigma: float = 0.6

    def __post_init__(self) -> None:
        if not self.tick_seconds > 0:
            raise ValueError(f"tick_seconds must be > 0; got {self.tick_seconds}")
        if not 0 < self.slo_target < 1:
            raise ValueError(f"slo_target must be in (0, 1); got {self.slo_target}")
        if self.budget_window_seconds < self.tick_seconds:
            raise ValueError("budget_window_seconds must be at least one tick")


@dataclass(frozen=True)
class NodeTraits:
    """Per-node constants, drawn once from (seed, node id)."""

    cpu_mid: float
    cpu_waves: tuple[tuple[float, float, float], ...]  # (amplitude %, period s, phase rad)
    mem_mid: float
    mem_waves: tuple[tuple[float, float, float], ...]
    rps: float  # mean requests per second
    rps_wave: tuple[float, float]  # (period s, phase rad) of a +-20% traffic swing
    latency_median_seconds: float
    error_probability: float  # at rest

    @classmethod
    def draw(cls, key: int) -> NodeTraits:
        rng = random.Random(key)

        def wave(
            amplitude: tuple[float, float], period: tuple[float, float]
        ) -> tuple[float, float, float]:
            return (rng.uniform(*amplitude), rng.uniform(*period), rng.uniform(0, 2 * math.pi))

        return cls(
            cpu_mid=rng.uniform(30, 50),
            cpu_waves=(wave((8, 15), (300, 900)), wave((3, 6), (40, 120))),
            mem_mid=rng.uniform(35, 55),
            mem_waves=(wave((5, 12), (600, 1800)), wave((2, 5), (60, 180))),
            rps=rng.uniform(18, 30),
            rps_wave=(rng.uniform(120, 600), rng.uniform(0, 2 * math.pi)),
            latency_median_seconds=rng.uniform(0.05, 0.08),
            error_probability=rng.uniform(2e-5, 8e-5),
        )


def _waves(t: float, waves: tuple[tuple[float, float, float], ...]) -> float:
    return sum(a * math.sin(2 * math.pi * t / p + phase) for a, p, phase in waves)


def _clamp(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else hi if x > hi else x


@dataclass(frozen=True)
class Origin:
    """Where a node's traffic counters stand after tick `tick`: a live node continuing a
    backfilled past (labkit.past) starts from here instead of from zero, so its counters
    carry on from the last backfilled sample. `buckets` are per bucket (not cumulative), in
    `le` order with +Inf last."""

    tick: int
    success: int
    errors: int
    buckets: tuple[int, ...]
    latency_sum_seconds: float


@dataclass(frozen=True)
class Snapshot:
    """Every series of one node at one moment; `bucket_counts` are cumulative, `le` order."""

    t: float
    crashed: bool
    cpu_percent: float
    memory_percent: float
    error_rate: float
    reliability_score: float
    error_budget_remaining: float
    uptime_seconds: float
    requests_success: int
    requests_error: int
    bucket_counts: tuple[int, ...]
    latency_sum_seconds: float
    faults_active: dict[str, bool] = field(default_factory=dict)

    @property
    def latency_count(self) -> int:
        return self.bucket_counts[-1]


class NodeModel:
    """One node's series. `at(t)` is pure: the same (seed, node, schedule, t) give the same
    snapshot; internally it caches traffic counters and advances them tick by tick."""

    def __init__(
        self,
        node_id: int,
        *,
        seed: int = 0,
        schedule: FaultSchedule | None = None,
        params: ModelParams | None = None,
        origin: Origin | None = None,
    ) -> None:
        self.node_id = node_id
        self.seed = seed
        self.origin = origin
        self.schedule = schedule if schedule is not None else FaultSchedule()
        self.params = params or ModelParams()
        self.key = _mix(_mix(seed & _MASK) ^ node_id)
        self.traits = NodeTraits.draw(self.key)
        self._rng = random.Random()
        self._window_ticks = max(
            1, round(self.params.budget_window_seconds / self.params.tick_seconds)
        )
        self._reset()

    # -- traffic, tick by tick -------------------------------------------------------------

    def _reset(self) -> None:
        o = self.origin
        self._k = o.tick if o else 0
        self._success = o.success if o else 0
        self._errors = o.errors if o else 0
        # per bucket, not cumulative; last=+Inf
        self._buckets = list(o.buckets) if o else [0] * (len(LATENCY_BUCKETS) + 1)
        self._latency_sum = o.latency_sum_seconds if o else 0.0
        rest_r = self.traits.rps * self.params.tick_seconds
        rest_e = rest_r * self.traits.error_probability
        self._budget: deque[tuple[float, float]] = deque(
            [(rest_e, rest_r)] * self._window_ticks, maxlen=self._window_ticks
        )
        self._budget_e = rest_e * self._window_ticks
        self._budget_r = rest_r * self._window_ticks

    def _advance(self, k_target: int) -> None:
        if k_target < self._k:  # asked for the past: recompute from the start, stay pure
            self._reset()  # (from the origin, when there is one: the past before it is fixed)
        while self._k < k_target:
            self._k += 1
            self._tick(self._k)

    def _tick(self, k: int) -> None:
        dt = self.params.tick_seconds
        tm = (k - 0.5) * dt
        traits = self.traits
        period, phase = traits.rps_wave
        rate = traits.rps * (1 + 0.2 * math.sin(2 * math.pi * tm / period + phase))
        crashed = self.schedule.is_active("node_crash", tm)
        p = self.error_probability(tm)
        expected = 0.0 if crashed else rate * dt
        old_e, old_r = self._budget[0]
        self._budget.append((expected * p, expected))
        self._budget_e += expected * p - old_e
        self._budget_r += expected - old_r
        if crashed:
            return
        rng = self._rng
        rng.seed(self.key ^ _mix(k))
        n = int(expected * (0.85 + 0.3 * rng.random()) + 0.5)
        mu = math.log(traits.latency_median_seconds)
        if self.schedule.is_active("latency_spike", tm):
            mu += _LN10
        sigma = self.params.latency_sigma
        buckets = self._buckets
        lognorm = rng.lognormvariate
        uniform = rng.random
        errors = 0
        total = 0.0
        for _ in range(n):
            latency = lognorm(mu, sigma)
            total += latency
            buckets[bisect.bisect_left(LATENCY_BUCKETS, latency)] += 1
            if uniform() < p:
                errors += 1
        self._latency_sum += total
        self._errors += errors
        self._success += n - errors

    # -- gauges at an exact time -----------------------------------------------------------

    def error_probability(self, t: float) -> float:
        burst = self.schedule.active_window("error_burst", t)
        if burst is None:
            return self.traits.error_probability
        level = 0.25 + 0.2 * _unit(self.key, _BURST, int(burst.start * 1000))
        jitter = 0.1 * (_unit(self.key, _ERR, math.floor(t)) - 0.5)
        return _clamp(level + jitter, *BURST_ERROR_RANGE)

    def _cpu(self, t: float) -> float:
        if self.schedule.is_active("cpu_spike", t):
            return 95.0 + 5.0 * _unit(self.key, _SPIKE, math.floor(t))
        noise = 4.0 * (_unit(self.key, _CPU, math.floor(t)) - 0.5)
        return _clamp(self.traits.cpu_mid + _waves(t, self.traits.cpu_waves) + noise, 10.0, 85.0)

    def _memory_at_rest(self, t: float) -> float:
        noise = 2.0 * (_unit(self.key, _MEM, math.floor(t)) - 0.5)
        return _clamp(self.traits.mem_mid + _waves(t, self.traits.mem_waves) + noise, 20.0, 75.0)

    def _memory(self, t: float) -> float:
        leak = self.schedule.active_window("memory_leak", t)
        if leak is None:
            return self._memory_at_rest(t)
        start = self._memory_at_rest(leak.start)
        climb_per_second = (88.0 - start) / 8.0  # 88% after 8 s, past 95% a few seconds later
        return min(99.0, start + climb_per_second * (t - leak.start))

    def latency_p95_seconds(self, t: float) -> float:
        p95 = self.traits.latency_median_seconds * math.exp(_Z95 * self.params.latency_sigma)
        return p95 * 10.0 if self.schedule.is_active("latency_spike", t) else p95

    def _uptime(self, t: float) -> float:
        if self.schedule.is_active("node_crash", t):
            return 0.0
        last_crash = self.schedule.last_ended_before("node_crash", t)
        return t - (last_crash.end if last_crash else 0.0)

    def at(self, t: float) -> Snapshot:
        t = max(0.0, t)
        self._advance(math.floor(t / self.params.tick_seconds))
        cpu = self._cpu(t)
        memory = self._memory(t)
        p = self.error_probability(t)
        latency_score = min(1.0, 0.25 / self.latency_p95_seconds(t))
        saturation_score = _clamp(1.0 - (max(cpu, memory) - 85.0) / 15.0, 0.0, 1.0)
        reliability = 0.5 * (1.0 - p) + 0.3 * latency_score + 0.2 * saturation_score
        budget_ratio = self._budget_e / self._budget_r if self._budget_r > 0 else 0.0
        cumulative = []
        running = 0
        for count in self._buckets:
            running += count
            cumulative.append(running)
        return Snapshot(
            t=t,
            crashed=self.schedule.is_active("node_crash", t),
            cpu_percent=cpu,
            memory_percent=memory,
            error_rate=p,
            reliability_score=reliability,
            error_budget_remaining=1.0 - budget_ratio / (1.0 - self.params.slo_target),
            uptime_seconds=self._uptime(t),
            requests_success=self._success,
            requests_error=self._errors,
            bucket_counts=tuple(cumulative),
            latency_sum_seconds=self._latency_sum,
            faults_active={m: self.schedule.is_active(m, t) for m in FAILURE_MODES},
        )
