"""A lab with a past: on a first start, the fleet's at-rest history is backfilled into the
empty TSDB before Prometheus starts, so every recording rule and burn-rate alert has full
windows from the first minute, and the live nodes carry on from it.

What is written (the same node model and seed as the live fleet, through the offline history
engine, labkit.history, and `promtool tsdb create-blocks-from openmetrics`):

    raw series      every series a scrape stores, for the SLO profile's longest window plus a
                    margin (lab-day: 2h24m + 10 min): the last 10 minutes at the scrape
                    interval (1 s), before that every 30 s (a rate over a long window reads
                    only its first and last samples, and the SLI is a ratio of two rates
                    sampled at the same instants)
    recorded SLI    each SLO's base-window error ratio (lab-day: `slo:sli_error:ratio_rate10s`)
                    over the whole SLO period (1 day), one sample per base window: what the
                    period rule averages (labkit.slo_spec reads it with a subquery whose step
                    is the base window, so a backfilled sample and a live one weigh the same);
                    in a big lab (`tiles=True`, labkit.stack.tiled), each SLO's tiles instead
                    (its error and total rates over each base window:
                    `slo:sli_errors:rate10s`, `slo:sli_total:rate10s`), which its long
                    windows and period sum

The seam: the simulation ends at a whole second (`Plan.seam`); each node's traffic counters
there are its `Origin`. The live nodes' model time starts at the past's beginning and their
counters carry on from their origins, so `rate()` across the seam sees neither a reset nor a
jump. Just before Prometheus starts, `close_gap` backfills what the live nodes serve from the
origin up to LEAD_SECONDS after that moment (computed by the live model itself), because
Prometheus scrapes nothing for its first ~5 s; `Past.seam` is then the last backfilled second.
Raw samples are stamped mid-second (PHASE_SECONDS).

    plan(config, now)                      -> Plan: the seam, the raw and recorded spans
    simulate_fleet(config, plan)           -> Simulated: every node's past and origin
    backfill(config, sim, slos, data_dir)  -> Past: written, promtool run; Past.save(past.json)
    close_gap(config, past, until, data)   -> Past: the live seconds up to `until` backfilled
    tsdb_is_empty(data_dir)                -> whether a start is a first start
"""

from __future__ import annotations

import json
import math
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labkit.model import LATENCY_BUCKETS, Origin

if TYPE_CHECKING:
    import numpy as np

    from labkit.history import NodeSeries
    from labkit.slo_spec import SLO
    from labkit.stack import LabConfig

FINE_SECONDS = 600.0  # the last 10 minutes at the scrape interval
MARGIN_SECONDS = 600.0  # beyond the longest window
#: Prometheus scrapes nothing for its first ~5 s (its target discovery sends its first update
#: after 5 s): the past runs that far past Prometheus' start, so the first scrape follows the
#: last backfilled sample by about one scrape interval, as any other scrape does.
LEAD_SECONDS = 5.0
#: A live node counts a second's requests when that second ends, and Prometheus scrapes it at
#: some phase within the second: raw samples are stamped mid-second, so a rate over a window
#: that holds both backfilled and live samples is off by at most half a second's requests.
PHASE_SECONDS = 0.5
COARSE_STRIDE = 3  # raw samples before the last 10 minutes: every 3rd base window (30 s)

Report = Callable[[str], None]


def tsdb_is_empty(data_dir: Path) -> bool:
    """No block and no write-ahead log data: Prometheus has never stored a sample here."""
    if not data_dir.is_dir():
        return True
    if any((d / "meta.json").is_file() for d in data_dir.iterdir() if d.is_dir()):
        return False
    return not any(f.stat().st_size > 0 for f in (data_dir / "wal").glob("*") if f.is_file())


@dataclass(frozen=True)
class Plan:
    """Epoch seconds. The raw series cover [raw_from, seam], the recorded SLI [recorded_from,
    seam]; model time 0 is `origin_epoch`; `base_seconds` is the SLO's base window (also the
    tick of the simulation before `fine_from`, where the 1 s tick of the live model begins)."""

    seam: float
    origin_epoch: float
    fine_from: float
    raw_from: float
    recorded_from: float
    base_seconds: float
    base_window: str  # as in the rules: "10s"
    period: str  # "1d"
    longest: str  # "2h24m"


def plan(config: LabConfig, now: float) -> Plan:
    from labkit.slo_spec import WINDOWS, duration, parse_duration, profile

    prof = profile(config.slo_profile)
    base_window = duration(prof.window(min(WINDOWS)))
    base = parse_duration(base_window, "window")
    longest = parse_duration(duration(prof.window(max(WINDOWS))), "window")
    seam = float(math.floor(now))
    fine_from = math.floor((seam - FINE_SECONDS) / base) * base  # a multiple of the base window
    ticks = math.ceil((prof.period_seconds - (seam - fine_from)) / base)
    return Plan(
        seam=seam,
        origin_epoch=fine_from - ticks * base,
        fine_from=fine_from,
        raw_from=seam - longest - MARGIN_SECONDS,
        recorded_from=seam - prof.period_seconds,
        base_seconds=base,
        base_window=base_window,
        period=duration(prof.period_seconds),
        longest=duration(longest),
    )


@dataclass(frozen=True)
class Past:
    """What a first start backfilled, and where each node's counters carry on from."""

    seam: float
    origin_epoch: float
    origins: dict[int, Origin] = field(default_factory=dict)
    raw_from: float = 0.0
    recorded_from: float = 0.0
    samples: int = 0
    seconds: float = 0.0
    skipped_slos: tuple[str, ...] = ()  # SLOs whose SLI the past cannot compute offline

    def save(self, path: Path) -> None:
        data = {k: v for k, v in self.__dict__.items() if k != "origins"}
        data["origins"] = {str(n): o.__dict__ for n, o in self.origins.items()}
        path.write_text(json.dumps(data, indent=1) + "\n")

    @classmethod
    def load(cls, path: Path) -> Past:
        data = json.loads(path.read_text())
        origins = {}
        for n, o in data.pop("origins").items():
            origins[int(n)] = Origin(**{**o, "buckets": tuple(o["buckets"])})
        data["skipped_slos"] = tuple(data.get("skipped_slos", ()))
        return cls(origins=origins, **data)


# -- simulation ----------------------------------------------------------------------------


def simulate(config: LabConfig, p: Plan, node_id: int) -> tuple[NodeSeries, NodeSeries]:
    """(the coarse past at one tick per base window, the last minutes at 1 s): the fine
    part's counters continue the coarse part's."""
    from labkit.history import VectorModel
    from labkit.model import ModelParams, NodeModel

    coarse_span = p.fine_from - p.origin_epoch
    coarse = VectorModel(
        NodeModel(node_id, seed=config.seed, params=ModelParams(tick_seconds=p.base_seconds))
    ).series(coarse_span)
    fine = VectorModel(NodeModel(node_id, seed=config.seed)).series(
        p.seam - p.fine_from, start=coarse_span
    )
    fine.success += coarse.success[-1]
    fine.errors += coarse.errors[-1]
    fine.buckets += coarse.buckets[-1]
    fine.latency_sum += coarse.latency_sum[-1]
    return coarse, fine


def origin(fine: NodeSeries, p: Plan) -> Origin:
    """The counters of the last backfilled sample, at the live model's tick (1 s)."""
    cumulative = fine.buckets[-1].tolist()
    return Origin(
        tick=round(p.seam - p.origin_epoch),
        success=int(fine.success[-1]),
        errors=int(fine.errors[-1]),
        buckets=tuple(b - a for a, b in zip([0, *cumulative[:-1]], cumulative, strict=True)),
        latency_sum_seconds=float(fine.latency_sum[-1]),
    )


def raw_series(coarse: NodeSeries, fine: NodeSeries, p: Plan) -> tuple[NodeSeries, np.ndarray]:
    """The raw samples to write, and their epoch times: every COARSE_STRIDE-th coarse sample
    from raw_from (on a grid aligned to the stride), then every fine one after fine_from."""
    import numpy as np

    epochs = p.origin_epoch + coarse.t
    stride = COARSE_STRIDE * p.base_seconds
    keep = (epochs >= p.raw_from) & (epochs < p.fine_from) & (np.mod(epochs, stride) == 0)
    idx = np.flatnonzero(keep)
    joined = {
        k: np.concatenate([getattr(coarse, k)[idx], getattr(fine, k)])
        for k in coarse.__dict__
        if k != "faults"
    }
    faults = {m: np.concatenate([coarse.faults[m][idx], fine.faults[m]]) for m in coarse.faults}
    from labkit.history import NodeSeries

    return NodeSeries(**joined, faults=faults), p.origin_epoch + joined["t"]


# -- the recorded SLI ----------------------------------------------------------------------

_TERM = re.compile(
    r"\s*sum\s*(?:by\s*\(\s*(?P<by>[\w\s,]*)\)\s*)?\(\s*rate\(\s*(?P<name>[A-Za-z_:][\w:]*)\s*"
    r"(?:\{(?P<sel>[^}]*)\})?\s*\[\{\{\.window\}\}\]\s*\)\s*\)\s*"
)
_MATCHER = re.compile(r'\s*(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"\s*(?:,|$)')


def _terms(query: str) -> list[tuple[float, tuple[str, ...], str, list[tuple[str, str, str]]]]:
    """`sum [by (node)] (rate(name{...}[{{.window}}]))` terms joined by + or -: (sign, by,
    name, matchers). Anything else raises ValueError (that SLO's past is not written)."""
    out = []
    rest, sign = query.strip(), 1.0
    while True:
        m = _TERM.match(rest)
        if m is None:
            raise ValueError(query)
        by = tuple(x.strip() for x in (m["by"] or "").split(",") if x.strip())
        if set(by) - {"node"}:
            raise ValueError(query)
        sel = m["sel"] or ""
        matchers = [(k, op, v) for k, op, v in _MATCHER.findall(sel)]
        if sel.strip() and not matchers:
            raise ValueError(query)
        out.append((sign, by, m["name"], matchers))
        rest = rest[m.end() :]
        if not rest:
            return out
        if rest[0] not in "+-":
            raise ValueError(query)
        sign, rest = (1.0 if rest[0] == "+" else -1.0), rest[1:]


@dataclass
class Counters:
    """A node's traffic counters on a time grid (model seconds), cumulative."""

    t: np.ndarray
    success: np.ndarray
    errors: np.ndarray
    buckets: np.ndarray  # (len(t), len(LATENCY_BUCKETS) + 1), cumulative over le
    latency_sum: np.ndarray


def _counters(s: Counters) -> list[tuple[str, dict[str, str], np.ndarray]]:
    """A node's counter series as a scrape names them, cumulative (float)."""
    out = [
        ("node_requests_total", {"status": "success"}, s.success.astype(float)),
        ("node_requests_total", {"status": "error"}, s.errors.astype(float)),
        ("node_request_latency_seconds_count", {}, s.buckets[:, -1].astype(float)),
        ("node_request_latency_seconds_sum", {}, s.latency_sum),
    ]
    for b, bound in enumerate([*map(repr, LATENCY_BUCKETS), "+Inf"]):
        out.append(("node_request_latency_seconds_bucket", {"le": bound}, s.buckets[:, b] * 1.0))
    return out


def _matches(labels: dict[str, str], matchers: list[tuple[str, str, str]]) -> bool:
    for key, op, value in matchers:
        have = labels.get(key, "")
        ok = {
            "=": have == value,
            "!=": have != value,
            "=~": re.fullmatch(value, have) is not None,
            "!~": re.fullmatch(value, have) is None,
        }[op]
        if not ok:
            return False
    return True


def _increase(
    query: str, nodes: dict[int, Counters], labels_of: dict[int, dict[str, str]]
) -> dict[tuple[tuple[str, str], ...], np.ndarray]:
    """The query's value per output group, as increases per grid step (rate x window: the
    window cancels in the SLI's ratio)."""
    import numpy as np

    groups: dict[tuple[tuple[str, str], ...], np.ndarray] = {}
    for sign, by, name, matchers in _terms(query):
        for node_id, series in nodes.items():
            key = tuple((k, labels_of[node_id][k]) for k in by)
            for metric, extra, values in _counters(series):
                if metric != name or not _matches({**labels_of[node_id], **extra}, matchers):
                    continue
                inc = sign * np.diff(values)
                groups[key] = groups[key] + inc if key in groups else inc
    return groups


def recorded_series(
    slos: list[SLO],
    p: Plan,
    nodes: dict[int, Counters],
    labels_of: dict[int, dict[str, str]],
    tiles: bool = False,
    skipped: list[str] | None = None,
) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """Each SLO's base-window error ratio, one sample per base window over the period, from
    series sampled every base window (`nodes`): (series text, epochs, values), one series at a
    time; the SLOs whose queries this cannot evaluate are added to `skipped`. With `tiles` (a
    big lab, labkit.stack.tiled), the SLO's tiles instead: its error and total rates over each
    base window, which its rules sum for the long windows and the period."""
    import numpy as np

    from labkit.slo_spec import ratio_record, tile_record

    epochs = p.origin_epoch + next(iter(nodes.values())).t[1:]  # each step's end
    keep = epochs >= p.recorded_from
    for s in slos:
        try:
            errors = _increase(s.error_query, nodes, labels_of)
            totals = _increase(s.total_query, nodes, labels_of)
        except ValueError:
            if skipped is not None:
                skipped.append(s.id)
            continue
        ident = {"sloth_id": s.id, "sloth_service": s.service, "sloth_slo": s.name}
        for key, total in totals.items():
            if key not in errors:
                continue
            labels = {**s.labels, **ident, "sloth_window": p.base_window, **dict(key)}
            text = ",".join(f'{k}="{v}"' for k, v in labels.items())
            if tiles:
                for kind, increase in (("errors", errors[key]), ("total", total)):
                    rate = increase[keep] / p.base_seconds
                    yield f"{tile_record(kind, p.base_window)}{{{text}}}", epochs[keep], rate
                continue
            ratio = np.divide(errors[key], total, out=np.full_like(total, np.nan), where=total > 0)
            ok = keep & np.isfinite(ratio)
            yield f"{ratio_record(p.base_window)}{{{text}}}", epochs[ok], ratio[ok]


def recorded_lines(
    slos: list[SLO],
    p: Plan,
    nodes: dict[int, Counters],
    labels_of: dict[int, dict[str, str]],
    tiles: bool = False,
) -> tuple[dict[str, list[tuple[float, str]]], list[str]]:
    """recorded_series as {series text: [(epoch, value as written)]}, and the SLOs left out."""
    skipped: list[str] = []
    out = {
        series: list(zip(epochs.tolist(), map(repr, values.tolist()), strict=True))
        for series, epochs, values in recorded_series(slos, p, nodes, labels_of, tiles, skipped)
    }
    return out, skipped


def stepped(coarse: NodeSeries, fine: NodeSeries, p: Plan) -> Counters:
    """A node's counters over the whole past, one point per base window: the coarse series,
    then the fine one at the same grid."""
    import numpy as np

    at = np.flatnonzero(np.mod(fine.t - fine.t[0], p.base_seconds) == 0)[1:]

    def join(name: str) -> np.ndarray:
        return np.concatenate([getattr(coarse, name), getattr(fine, name)[at]])

    return Counters(*(join(k) for k in ("t", "success", "errors", "buckets", "latency_sum")))


# -- writing and backfilling ---------------------------------------------------------------


@dataclass
class Simulated:
    """The fleet's past, simulated: per node, the coarse and fine series and its origin."""

    plan: Plan
    coarse: dict[int, NodeSeries]
    fine: dict[int, NodeSeries]
    origins: dict[int, Origin]
    seconds: float

    def past(self, samples: int = 0, seconds: float = 0.0, skipped: tuple[str, ...] = ()) -> Past:
        p = self.plan
        return Past(p.seam, p.origin_epoch, self.origins, p.raw_from, p.recorded_from,
                    samples, seconds, skipped)  # fmt: skip


def simulate_fleet(config: LabConfig, p: Plan) -> Simulated:
    """Every node's past under plan `p` (numpy, a fraction of a second for 12 nodes)."""
    began = time.perf_counter()
    coarse: dict[int, NodeSeries] = {}
    fine: dict[int, NodeSeries] = {}
    for node_id in config.layout().ports:
        coarse[node_id], fine[node_id] = simulate(config, p, node_id)
    origins = {n: origin(fine[n], p) for n in fine}
    return Simulated(p, coarse, fine, origins, time.perf_counter() - began)


def write_openmetrics(
    config: LabConfig, sim: Simulated, slos: list[SLO], folder: Path, tiles: bool = False
) -> tuple[list[Path], int, list[str]]:
    """The past as OpenMetrics files in `folder`, one per 2 h block (promtool parses a file
    once per block it spans), written node by node and series by series so that memory holds
    one node's text at a time, not the fleet's (a 1,000-node lab's past is tens of millions
    of samples): the files, the number of samples, the SLOs left out. With `tiles` (a big
    lab's rules, labkit.stack.tiled), the SLOs' tiles instead of their base ratio."""
    import numpy as np

    from labkit.history import BLOCK_SECONDS, _stamp, node_lines

    p, layout = sim.plan, config.layout()
    instance = {n: f"{layout.host}:{port}" for n, port in layout.ports.items()}
    labels_of = {
        n: {"job": "edge-nodes", "instance": instance[n], "node": str(n)} for n in sim.fine
    }
    files: dict[int, Any] = {}
    samples = 0

    def out(block: int, text: str) -> None:
        if block not in files:
            files[block] = (folder / f"block-{block}.om").open("w", encoding="utf-8")
        files[block].write(text)

    skipped: list[str] = []
    try:
        for n in sim.coarse:
            raw, epochs = raw_series(sim.coarse[n], sim.fine[n], p)
            stamps = [_stamp(e + PHASE_SECONDS) for e in epochs.tolist()]
            blocks = (epochs // BLOCK_SECONDS).astype(np.int64)
            for b in np.unique(blocks).tolist():
                rows = np.flatnonzero(blocks == b)
                lo, hi = int(rows[0]), int(rows[-1]) + 1
                chunk = "".join(node_lines(raw, n, stamps[lo:hi], slice(lo, hi), instance[n]))
                samples += chunk.count("\n")
                out(b, chunk)
        steps = {n: stepped(sim.coarse[n], sim.fine[n], p) for n in sim.coarse}
        for series, epochs, values in recorded_series(slos, p, steps, labels_of, tiles, skipped):
            blocks = (epochs // BLOCK_SECONDS).astype(np.int64)
            for b in np.unique(blocks).tolist():
                rows = blocks == b
                lines = [
                    f"{series} {v!r} {_stamp(e)}\n"
                    for e, v in zip(epochs[rows].tolist(), values[rows].tolist(), strict=True)
                ]
                samples += len(lines)
                out(b, "".join(lines))
    finally:
        for f in files.values():
            f.write("# EOF\n")
            f.close()
    return [folder / f"block-{b}.om" for b in sorted(files)], samples, skipped


def backfill(
    config: LabConfig,
    sim: Simulated,
    slos: list[SLO],
    data_dir: Path,
    report: Report | None = None,
    workers: int = 2,
    tiles: bool = False,
) -> Past:
    """Write the simulated past as OpenMetrics files and backfill them into `data_dir` with
    promtool, `workers` blocks at a time, the biggest first; `tiles` as write_openmetrics."""
    from labkit.history import backfill as promtool_backfill

    began = time.perf_counter()
    data_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="labkit-past-"))
    try:
        paths, samples, skipped = write_openmetrics(config, sim, slos, staging, tiles)
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            pending = [
                pool.submit(promtool_backfill, path, data_dir)
                for path in sorted(paths, key=lambda f: -f.stat().st_size)
            ]
            for fut in pending:
                fut.result()
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    seconds = sim.seconds + time.perf_counter() - began
    if report:
        report(f"{samples:,} samples in {len(paths)} blocks")
    return sim.past(samples, seconds, tuple(skipped))


def live_series(config: LabConfig, past: Past, until: float) -> dict[int, NodeSeries]:
    """What each live node serves at every whole second after the past's seam up to `until`:
    the live model carrying on from its origin (the fleet's nodes compute the same values)."""
    import numpy as np

    from labkit.failures import FAILURE_MODES
    from labkit.history import NodeSeries
    from labkit.model import NodeModel

    seconds = np.arange(past.seam + 1, math.floor(until) + 1)
    out = {}
    for n, o in past.origins.items():
        model = NodeModel(n, seed=config.seed, origin=o)
        snaps = [model.at(t + PHASE_SECONDS - past.origin_epoch) for t in seconds.tolist()]

        def col(name: str, snaps: list[Any] = snaps) -> np.ndarray:
            return np.array([getattr(x, name) for x in snaps])

        out[n] = NodeSeries(
            t=seconds - past.origin_epoch, up=~col("crashed").astype(bool), cpu=col("cpu_percent"),
            memory=col("memory_percent"), error_rate=col("error_rate"),
            reliability=col("reliability_score"), budget=col("error_budget_remaining"),
            uptime=col("uptime_seconds"), success=col("requests_success"),
            errors=col("requests_error"),
            buckets=np.array([x.bucket_counts for x in snaps], dtype=np.int64).reshape(
                -1, len(LATENCY_BUCKETS) + 1),
            latency_sum=col("latency_sum_seconds"),
            faults={m: np.array([x.faults_active[m] for x in snaps], dtype=bool)
                    for m in FAILURE_MODES},
        )  # fmt: skip
    return out


def close_gap(config: LabConfig, past: Past, until: float, data_dir: Path) -> Past:
    """Backfill what the live nodes served from the seam to `until` (the moment Prometheus
    starts): the seam moves up to it, and the only seconds without samples left are those
    before Prometheus' first scrape, as in any lab."""
    from dataclasses import replace

    from labkit.history import BLOCK_SECONDS, _stamp, backfill, node_lines

    began = time.perf_counter()
    series = live_series(config, past, until)
    if not series or not len(next(iter(series.values())).t):
        return past
    layout = config.layout()
    chunks: dict[int, list[str]] = {}
    samples = 0
    for n, ser in series.items():
        epochs = (past.origin_epoch + ser.t).tolist()
        stamps = [_stamp(e + PHASE_SECONDS) for e in epochs]
        blocks = [int(e // BLOCK_SECONDS) for e in epochs]
        for b in sorted(set(blocks)):
            lo, hi = blocks.index(b), len(blocks) - blocks[::-1].index(b)
            where = f"{layout.host}:{layout.ports[n]}"
            text = "".join(node_lines(ser, n, stamps[lo:hi], slice(lo, hi), where))
            chunks.setdefault(b, []).append(text)
            samples += text.count("\n")
    staging = Path(tempfile.mkdtemp(prefix="labkit-gap-"))
    try:
        for b, texts in chunks.items():
            path = staging / f"gap-{b}.om"
            path.write_text("".join(texts) + "# EOF\n")
            backfill(path, data_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    last = past.origin_epoch + float(next(iter(series.values())).t[-1])
    return replace(past, seam=last, samples=past.samples + samples,
                   seconds=past.seconds + time.perf_counter() - began)  # fmt: skip


def describe(past: Past, p: Plan) -> str:
    return (
        f"the fleet's at-rest past: raw series over the last {p.longest} + "
        f"{MARGIN_SECONDS / 60:.0f} min, the SLIs over the {p.period} period; "
        f"{past.samples:,} samples in {past.seconds:.1f} s"
    )


def as_dict(past: Past) -> dict[str, Any]:
    return {k: v for k, v in past.__dict__.items() if k != "origins"}
