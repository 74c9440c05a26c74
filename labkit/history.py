"""Offline history: a scenario simulated on a virtual clock, written as OpenMetrics and
backfilled into a Prometheus TSDB with `promtool tsdb create-blocks-from openmetrics`.

    labkit history scenarios/one-of-each.yml --out runs/one-of-each
    labkit replay runs/one-of-each          # a Prometheus over it, on loopback

The same node model as the live lab, at a tick of the scenario's `step`:

- Gauges (CPU, memory, error rate, reliability, error budget, uptime, fault flags) are the
  model's own functions, evaluated with numpy on the whole time grid at once; a test checks
  them against `NodeModel.at(t)` sample by sample.
- Traffic is drawn per tick, not per request: the request count by the live model's formula,
  the errors as Binomial(n, p), the histogram buckets as Multinomial(n, P(latency in bucket))
  for the same log-normal, and the latency sum from its normal approximation (n is in the
  hundreds at a 15 s tick). Same distributions, not the same draws as a live run.
- Series and labels are what Prometheus stores for a live scrape, `up` included; a crashed
  node writes `up 0` and nothing else. Backfilled data has no staleness markers, so a crashed
  node's last values stay visible to instant queries for the 5 min lookback.

The directory it writes:

    history.json      scenario, time range (epoch seconds), step, nodes
    journal.jsonl     ground truth, in the live injection journal's format
    data/             the TSDB (2 h blocks, one OpenMetrics file each, deleted once read)
"""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from labkit.errors import LabkitError
from labkit.failures import FAILURE_MODES, FaultSchedule, FaultWindow
from labkit.journal import iso
from labkit.model import (
    _BURST,
    _CPU,
    _ERR,
    _LN10,
    _MEM,
    _SPIKE,
    _TRAFFIC,
    _Z95,
    BURST_ERROR_RANGE,
    LATENCY_BUCKETS,
    ModelParams,
    NodeModel,
)
from labkit.recording import HistoryInfo
from labkit.scenario import Scenario
from labkit.words import plural

#: Where a history starts unless told: a fixed Monday, so the same scenario gives the same
#: samples, timestamps included.
DEFAULT_START = datetime(2026, 1, 5, tzinfo=UTC).timestamp()
BLOCK_SECONDS = 2 * 3600  # promtool's block length; one OpenMetrics file per block
JOB = "edge-nodes"
_U64 = np.uint64


def instance(node_id: int, base_port: int = 8001) -> str:
    """The `instance` label a live lab with default ports gives node `node_id`."""
    return f"127.0.0.1:{base_port + node_id - 1}"


def params_for(s: Scenario) -> ModelParams:
    """The model's knobs for a scenario: one tick per step."""
    return ModelParams(tick_seconds=s.step_seconds)


def schedule_for(s: Scenario, node_id: int) -> FaultSchedule:
    return FaultSchedule.of(
        [
            FaultWindow(i.failure, i.at_seconds, i.end_seconds)
            for i in s.injections
            if node_id in i.nodes
        ]
    )


# -- the model, vectorised -----------------------------------------------------------------


def _mix_np(x: np.ndarray) -> np.ndarray:
    """`labkit.model._mix` on an array of uint64 (wrapping arithmetic, as in the original)."""
    with np.errstate(over="ignore"):
        x = x + _U64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> _U64(27))) * _U64(0x94D049BB133111EB)
    out: np.ndarray = x ^ (x >> _U64(31))
    return out


def _unit_np(key: int, salt: int, k: np.ndarray) -> np.ndarray:
    """`labkit.model._unit` for an array of whole numbers k >= 0."""
    with np.errstate(over="ignore"):
        inner = _mix_np(_U64(salt * 0x100000001B3) + k.astype(np.uint64))
    out: np.ndarray = _mix_np(_U64(key) ^ inner).astype(np.float64)
    return out / 2.0**64


def _waves_np(t: np.ndarray, waves: tuple[tuple[float, float, float], ...]) -> np.ndarray:
    total = np.zeros_like(t)
    for a, p, phase in waves:
        total += a * np.sin(2 * math.pi * t / p + phase)
    return total


def _mask(windows: list[FaultWindow], t: np.ndarray) -> np.ndarray:
    active = np.zeros(t.shape, dtype=bool)
    for w in windows:
        active |= (t >= w.start) & (t < w.end)
    return active


@dataclass
class NodeSeries:
    """One node's samples on the grid t = 0, step, 2 step, ... (model seconds)."""

    t: np.ndarray
    up: np.ndarray  # bool
    cpu: np.ndarray
    memory: np.ndarray
    error_rate: np.ndarray
    reliability: np.ndarray
    budget: np.ndarray
    uptime: np.ndarray
    success: np.ndarray  # cumulative counts (int64)
    errors: np.ndarray
    buckets: np.ndarray  # (len(t), len(LATENCY_BUCKETS) + 1), cumulative over time and le
    latency_sum: np.ndarray
    faults: dict[str, np.ndarray]


class VectorModel:
    """`NodeModel`'s series for a whole time grid at once."""

    def __init__(self, model: NodeModel) -> None:
        self.m = model
        self.windows = {
            f: [w for w in model.schedule.windows() if w.failure == f] for f in FAILURE_MODES
        }

    def error_probability(self, t: np.ndarray) -> np.ndarray:
        m = self.m
        p = np.full(t.shape, m.traits.error_probability)
        jitter = 0.1 * (_unit_np(m.key, _ERR, np.floor(t)) - 0.5)
        for w in self.windows["error_burst"]:
            inside = (t >= w.start) & (t < w.end)
            level = 0.25 + 0.2 * _unit_np(m.key, _BURST, np.array([int(w.start * 1000)]))[0]
            p[inside] = np.clip(level + jitter[inside], *BURST_ERROR_RANGE)
        return p

    def cpu(self, t: np.ndarray) -> np.ndarray:
        m, tr = self.m, self.m.traits
        noise = 4.0 * (_unit_np(m.key, _CPU, np.floor(t)) - 0.5)
        cpu = np.clip(tr.cpu_mid + _waves_np(t, tr.cpu_waves) + noise, 10.0, 85.0)
        spike = _mask(self.windows["cpu_spike"], t)
        cpu[spike] = 95.0 + 5.0 * _unit_np(m.key, _SPIKE, np.floor(t[spike]))
        return cpu

    def memory(self, t: np.ndarray) -> np.ndarray:
        m, tr = self.m, self.m.traits
        noise = 2.0 * (_unit_np(m.key, _MEM, np.floor(t)) - 0.5)
        mem = np.clip(tr.mem_mid + _waves_np(t, tr.mem_waves) + noise, 20.0, 75.0)
        for w in self.windows["memory_leak"]:
            inside = (t >= w.start) & (t < w.end)
            start = m._memory_at_rest(w.start)
            climb = (88.0 - start) / 8.0
            mem[inside] = np.minimum(99.0, start + climb * (t[inside] - w.start))
        return mem

    def uptime(self, t: np.ndarray) -> np.ndarray:
        last_end = np.zeros_like(t)
        for w in self.windows["node_crash"]:
            last_end[t >= w.end] = w.end
        up: np.ndarray = t - last_end
        up[_mask(self.windows["node_crash"], t)] = 0.0
        return up

    def series(self, duration: float, start: float = 0.0) -> NodeSeries:
        """The grid t = start, start + step, ... up to start + duration (model seconds);
        counters count from 0 at `start`, which must be a whole number of ticks."""
        m, tr, prm = self.m, self.m.traits, self.m.params
        dt = prm.tick_seconds
        ticks = math.floor(duration / dt)
        k0 = round(start / dt)
        t = start + np.arange(ticks + 1, dtype=np.float64) * dt
        crashed = _mask(self.windows["node_crash"], t)
        faults = {f: _mask(self.windows[f], t) for f in FAILURE_MODES}
        cpu, memory, p_now = self.cpu(t), self.memory(t), self.error_probability(t)
        p95 = tr.latency_median_seconds * math.exp(_Z95 * prm.latency_sigma)
        p95s = np.where(faults["latency_spike"], p95 * 10.0, p95)
        saturation = np.clip(1.0 - (np.maximum(cpu, memory) - 85.0) / 15.0, 0.0, 1.0)
        reliability = 0.5 * (1.0 - p_now) + 0.3 * np.minimum(1.0, 0.25 / p95s) + 0.2 * saturation

        # traffic, tick k = 1..ticks at its midpoint
        k = np.arange(k0 + 1, k0 + ticks + 1, dtype=np.float64)
        tm = (k - 0.5) * dt
        period, phase = tr.rps_wave
        rate = tr.rps * (1 + 0.2 * np.sin(2 * math.pi * tm / period + phase))
        down = _mask(self.windows["node_crash"], tm)
        p_tick = self.error_probability(tm)
        expected = np.where(down, 0.0, rate * dt)

        # error budget: expected errors / requests over the window, pre-filled at rest
        window = m._window_ticks
        rest_r = tr.rps * dt
        e = np.concatenate([np.full(window, rest_r * tr.error_probability), expected * p_tick])
        r = np.concatenate([np.full(window, rest_r), expected])
        ce, cr = np.concatenate([[0.0], np.cumsum(e)]), np.concatenate([[0.0], np.cumsum(r)])
        j = np.arange(ticks + 1)
        sum_e, sum_r = ce[j + window] - ce[j], cr[j + window] - cr[j]
        ratio = np.divide(sum_e, sum_r, out=np.zeros_like(sum_e), where=sum_r > 0)
        budget = 1.0 - ratio / (1.0 - prm.slo_target)

        # requests: count as the live model draws it, outcomes and latencies by distribution
        u = _unit_np(m.key, _TRAFFIC, k.astype(np.int64))
        n = np.floor(expected * (0.85 + 0.3 * u) + 0.5).astype(np.int64)
        rng = np.random.Generator(np.random.PCG64(m.key if k0 == 0 else [m.key, k0]))
        err = rng.binomial(n, p_tick)
        spike_tick = _mask(self.windows["latency_spike"], tm)
        per_bucket = np.zeros((ticks, len(LATENCY_BUCKETS) + 1), dtype=np.int64)
        lat_sum = np.zeros(ticks)
        sigma = prm.latency_sigma
        for spiking in (False, True):
            sel = spike_tick == spiking
            if not sel.any():
                continue
            mu = math.log(tr.latency_median_seconds) + (_LN10 if spiking else 0.0)
            cdf = [
                0.5 * (1 + math.erf((math.log(b) - mu) / (sigma * math.sqrt(2))))
                for b in LATENCY_BUCKETS
            ]
            probs = np.diff([0.0, *cdf, 1.0])
            per_bucket[sel] = rng.multinomial(n[sel], probs)
            mean = math.exp(mu + sigma**2 / 2)
            var = (math.exp(sigma**2) - 1) * math.exp(2 * mu + sigma**2)
            ns = n[sel].astype(np.float64)
            lat_sum[sel] = np.maximum(0.0, rng.normal(ns * mean, np.sqrt(ns * var)))
        zero = np.zeros((1,), dtype=np.int64)
        return NodeSeries(
            t=t,
            up=~crashed,
            cpu=cpu,
            memory=memory,
            error_rate=p_now,
            reliability=reliability,
            budget=budget,
            uptime=self.uptime(t),
            success=np.concatenate([zero, np.cumsum(n - err)]),
            errors=np.concatenate([zero, np.cumsum(err)]),
            buckets=np.vstack(
                [
                    np.zeros((1, per_bucket.shape[1]), dtype=np.int64),
                    np.cumsum(np.cumsum(per_bucket, axis=1), axis=0),
                ]
            ),
            latency_sum=np.concatenate([[0.0], np.cumsum(lat_sum)]),
            faults=faults,
        )


def simulate(s: Scenario, node_id: int) -> NodeSeries:
    """Node `node_id`'s whole history under scenario `s`."""
    model = NodeModel(node_id, seed=s.seed, schedule=schedule_for(s, node_id), params=params_for(s))
    return VectorModel(model).series(s.duration_seconds)


# -- OpenMetrics ---------------------------------------------------------------------------


def _floats(values: np.ndarray) -> list[str]:
    return list(map(repr, values.tolist()))


def _ints(values: np.ndarray) -> list[str]:
    return list(map(str, values.tolist()))


def node_lines(
    series: NodeSeries, node_id: int, stamps: list[str], rows: slice, where: str | None = None
) -> Iterator[str]:
    """OpenMetrics sample lines for one node and a slice of its grid, series by series;
    `where` is the node's `instance` label (default: a lab on the default ports)."""
    labels = f'job="{JOB}",instance="{where or instance(node_id)}",node="{node_id}"'
    up = series.up[rows]
    keep = np.flatnonzero(up)
    ts = [stamps[i] for i in keep]

    def emit(name: str, extra: str, values: list[str], stamps_: list[str]) -> str:
        head = f"{name}{{{labels}{extra}}} "
        return "".join([f"{head}{v} {s}\n" for v, s in zip(values, stamps_, strict=True)])

    yield emit("up", "", ["1" if x else "0" for x in up.tolist()], stamps)
    if not len(keep):
        return
    idx = np.arange(rows.start, rows.stop)[keep]
    for name, values in (
        ("node_cpu_usage_percent", series.cpu),
        ("node_memory_usage_percent", series.memory),
        ("node_error_rate", series.error_rate),
        ("reliability_score", series.reliability),
        ("error_budget_remaining", series.budget),
        ("node_uptime_seconds", series.uptime),
        ("node_request_latency_seconds_sum", series.latency_sum),
    ):
        yield emit(name, "", _floats(values[idx]), ts)
    yield emit("node_requests_total", ',status="success"', _ints(series.success[idx]), ts)
    yield emit("node_requests_total", ',status="error"', _ints(series.errors[idx]), ts)
    bounds = [*map(repr, LATENCY_BUCKETS), "+Inf"]
    for b, bound in enumerate(bounds):
        column = series.buckets[idx, b]
        yield emit("node_request_latency_seconds_bucket", f',le="{bound}"', _ints(column), ts)
    yield emit("node_request_latency_seconds_count", "", _ints(series.buckets[idx, -1]), ts)
    for mode in FAILURE_MODES:
        flags = ["1" if x else "0" for x in series.faults[mode][idx].tolist()]
        yield emit("labkit_fault_active", f',failure="{mode}"', flags, ts)


def _stamp(epoch: float) -> str:
    return str(int(epoch)) if epoch == int(epoch) else repr(round(epoch, 3))


# -- the history directory: its format is labkit.recording's ------------------------------


def ground_truth_journal(s: Scenario, start: float) -> list[dict[str, Any]]:
    """The scenario's injections as the live journal would record them."""
    events = []
    for inj in s.injections:
        for node in inj.nodes:
            at, end = start + inj.at_seconds, start + inj.end_seconds
            events.append(
                {
                    "time": iso(at),
                    "ts": at,
                    "event": "inject",
                    "node": node,
                    "failure": inj.failure,
                    "duration_seconds": inj.duration_seconds,
                    "ends_at": end,
                    "restarted": False,
                }
            )
            events.append(
                {
                    "time": iso(end),
                    "ts": end,
                    "event": "expire",
                    "node": node,
                    "failure": inj.failure,
                    "duration_seconds": inj.duration_seconds,
                }
            )
    return sorted(events, key=lambda e: (e["ts"], e["event"] != "expire", e["node"]))


@dataclass
class Written:
    """What `write_history` did, for the progress line and the benchmark."""

    samples: int = 0
    files: int = 0
    write_seconds: float = 0.0
    promtool_seconds: float = 0.0  # summed over promtool runs (they overlap the writing)
    total_seconds: float = 0.0


Progress = Callable[[float, str], None]


def find_promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        raise LabkitError(
            "promtool is not installed: it comes with Prometheus "
            "(`sudo apt-get install prometheus` on Debian/Ubuntu, or `make install`)"
        )
    return found


def backfill(openmetrics: Path, data_dir: Path) -> float:
    """Feed one OpenMetrics file to promtool; returns the seconds it took."""
    began = time.perf_counter()
    proc = subprocess.run(
        [
            find_promtool(),
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "--quiet",
            str(openmetrics),
            str(data_dir),
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise LabkitError(
            f"promtool could not backfill {openmetrics}:\n{proc.stderr.strip() or proc.stdout}"
        )
    return time.perf_counter() - began


def write_history(
    s: Scenario,
    out: Path | str,
    *,
    start: float = DEFAULT_START,
    progress: Progress | None = None,
    keep_openmetrics: bool = False,
    workers: int = 2,
) -> Written:
    """Simulate `s`, write it block by block as OpenMetrics, and backfill each block into
    `out/data` with promtool while the next one is written."""
    out = Path(out)
    if (out / "data").exists() and any((out / "data").iterdir()):
        raise LabkitError(f"{out}/data already holds a TSDB: choose another --out or remove it")
    began = time.perf_counter()
    report = progress or (lambda share, note: None)
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="labkit-om-", dir=out if keep_openmetrics else None))
    done = Written()
    report(0.0, f"simulating {plural(s.nodes, 'node')}")
    series = {n: simulate(s, n) for n in range(1, s.nodes + 1)}
    grid = series[1].t
    stamps = [_stamp(start + x) for x in grid.tolist()]
    # cut the grid at promtool's 2 h block boundaries (UTC epoch multiples), one file each
    edges = [0]
    for i in range(1, len(grid)):
        if (start + grid[i]) // BLOCK_SECONDS != (start + grid[i - 1]) // BLOCK_SECONDS:
            edges.append(i)
    edges.append(len(grid))
    blocks = len(edges) - 1
    pending: list[Future[float]] = []
    try:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for b, (lo, hi) in enumerate(itertools.pairwise(edges)):
                w0 = time.perf_counter()
                path = staging / f"block-{b:04d}.om"
                with path.open("w") as f:
                    for node_id, ser in series.items():
                        for chunk in node_lines(ser, node_id, stamps[lo:hi], slice(lo, hi)):
                            done.samples += chunk.count("\n")
                            f.write(chunk)
                    f.write("# EOF\n")
                done.files += 1
                done.write_seconds += time.perf_counter() - w0
                pending.append(pool.submit(_backfill_then_drop, path, data, keep_openmetrics))
                finished = sum(p.done() for p in pending)
                report(
                    (b + 1 + finished) / (2 * blocks),
                    f"block {b + 1}/{blocks} written, "
                    f"{finished} backfilled, {done.samples:,} samples",
                )
            for i, fut in enumerate(pending):
                done.promtool_seconds += fut.result()
                report((blocks + i + 1) / (2 * blocks), f"block {i + 1}/{blocks} backfilled")
    finally:
        if not keep_openmetrics:
            shutil.rmtree(staging, ignore_errors=True)
    controls = tuple((start + c.at_seconds, start + c.end_seconds) for c in s.controls)
    HistoryInfo(
        s.name,
        "simulated",
        start,
        start + float(grid[-1]),
        s.step_seconds,
        s.nodes,
        s.seed,
        controls,
        digest(s, start),
    ).save(out)
    with (out / "journal.jsonl").open("w") as f:
        for event in ground_truth_journal(s, start):
            f.write(json.dumps(event, separators=(",", ":")) + "\n")
    done.total_seconds = time.perf_counter() - began
    return done


def digest(s: Scenario, start: float) -> str:
    """What a history's samples depend on: the scenario (as parsed) and the start."""
    import hashlib

    text = repr((s.seed, s.nodes, s.duration_seconds, s.step_seconds, s.injections, start))
    return hashlib.sha256(text.encode()).hexdigest()


def _backfill_then_drop(path: Path, data: Path, keep: bool) -> float:
    seconds = backfill(path, data)
    if not keep:
        os.unlink(path)
    return seconds
