"""Capacity: how many labs one host holds, measured (issue 16, point 5).

(1) One lab of 12 nodes with its past (`LabConfig(nodes=12)` on free ports, its state in a
    temporary folder), each component's CPU (cores: psutil's cpu_times of the process and its
    live descendants, sampled every 0.5 s) and memory (peak RSS and PSS): the fleet,
    Prometheus, Alertmanager, the receiver, the dashboard page's Voilà server, and a kernel.
      at rest:  no page open, no lesson, after --settle seconds; --rest-seconds in 3 windows,
                the median of each component's windows;
      lesson 2: notebooks/02_failure_injection.ipynb under nbval against that lab (as
                tests/test_notebooks.py's run_nbval runs it), --lessons times; the kernel is
                the ipykernel process of that pytest; the median of the runs.
    Baseline, measured in the same run: Prometheus at rest; each figure is also given as a
    multiple of it. Prometheus' rule groups' evaluation times at rest are recorded too.
    nbval's own pytest (what a learner's Jupyter server and browser would be) is reported but
    not counted in a lab's cost.
(2) N labs side by side, for each N of --labs (1 is always measured: it is the baseline). The
    labs are started one after another and kept: N=4 adds two labs to the two of N=2, and the
    first lab is the one of (1). Each is 12 nodes with its past, on free ports, in its own state
    folder; its start-up (`up` to ready, with the others running) is recorded. After --settle
    seconds, every lab at once runs, for each of cpu_spike, error_burst and node_crash, one
    round of --injections injections on different nodes, staggered by 0.137 s
    (benchmarks.detection.one_round: the alert's activeAt in Prometheus minus the node's
    started_at). Per lab: detection p50, p95 and max over its injections, and p95 against the
    baseline's (the 1-lab run's p95, same run). Over the window: the machine's CPU (all of
    it, others' work included: the host is shared), the labs' own CPU, this process's (the
    injections and polling, in place of the lessons' kernels), and memory.
(3) The capacity table: for hosts of 2, 4 and 16 cores with 4 GiB of RAM per core, how many
    labs fit if every lab is at its busiest at once (lesson 2 running: the components' CPU
    during the lesson plus the kernel's), keeping CPU <= 75 % of the cores and memory <= 75 %
    of the RAM (peak RSS during the lesson, kernel included: RSS over-counts the shared pages,
    so the memory figure errs high); which of the two limits it. The 2-core row is checked
    against (2): the largest N whose every lab kept detection p95 <= 2 s.

    .venv/bin/python -m benchmarks.capacity [--labs 1,2,4,6,8] [--rest-seconds 60]
        [--lessons 3] [--injections 10] [--settle 30] [--quick]
--quick: labs 1,2, 20 s at rest, one lesson run, one injection per mode, 10 s to settle (a
check that it works: about 2.5 minutes). A full run takes about 11 minutes on a 2-core
machine (a lab starts in about 15 s, lesson 2 runs in about 30 s).
Writes benchmarks/results/capacity.json. Every lab is stopped at the end, whatever happens.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from benchmarks.detection import one_round, quantile
from labkit.errors import PortInUse
from labkit.lab import Lab
from labkit.settings import Settings
from labkit.stack import NAMES, LabConfig, LabPaths, down, free_ports, get_json, read_pid, up

ROOT = Path(__file__).resolve().parent.parent
LESSON = ROOT / "notebooks" / "02_failure_injection.ipynb"
NODES = 12
MODES = ("cpu_spike", "error_burst", "node_crash")
COMPONENTS = ("fleet", "prometheus", "alertmanager", "receiver", "dashboard")
assert set(COMPONENTS) == set(NAMES)
HOSTS = (2, 4, 16)  # cores of the hypothetical hosts
RAM_PER_CORE_GIB = 4.0
HEADROOM = 0.75  # of the cores and of the RAM
GOAL_P95_SECONDS = 2.0  # the floor of detection: one scrape and one evaluation interval
MIB = 1024 * 1024
GIB = 1024 * MIB

Group = Callable[[], list[psutil.Process]]


# -- sampling ----------------------------------------------------------------------------------


def tree(root: psutil.Process | None) -> list[psutil.Process]:
    """A process and its live descendants (a Voilà server's page kernels, say)."""
    if root is None:
        return []
    try:
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def cmdline(p: psutil.Process) -> str:
    try:
        return " ".join(p.cmdline())
    except psutil.Error:
        return ""


def component(paths: LabPaths, name: str) -> psutil.Process | None:
    pid = read_pid(paths, name)
    if pid is None:
        raise RuntimeError(f"the lab in {paths.state} has no {name} running")
    return psutil.Process(pid)


def lab_groups(paths: LabPaths, prefix: str = "") -> dict[str, Group]:
    """One group per component: the process and its descendants, found anew at each sample."""
    groups: dict[str, Group] = {}
    for name in COMPONENTS:
        root = component(paths, name)
        groups[prefix + name] = lambda root=root: tree(root)
    return groups


def whole_lab(paths: LabPaths) -> Group:
    roots = [component(paths, name) for name in COMPONENTS]
    return lambda: [p for root in roots for p in tree(root)]


def nbval_processes() -> tuple[Group, Group]:
    """The lesson's kernel (the ipykernel child of nbval's pytest, a child of this process)
    and nbval's pytest itself."""

    def pytests() -> list[psutil.Process]:
        try:
            children = psutil.Process().children()
        except psutil.Error:
            return []
        return [c for c in children if "--nbval" in cmdline(c)]

    def kernels() -> list[psutil.Process]:
        found = []
        for runner in pytests():
            with contextlib.suppress(psutil.Error):
                found += [k for k in runner.children(recursive=True) if "ipykernel" in cmdline(k)]
        return found

    return kernels, pytests


@dataclass
class Sampler:
    """CPU and memory of groups of processes over a window, sampled every `interval` s in a
    thread. A process seen for the first time counts from zero when it started in the window
    (a kernel), else from the first sample that saw it; one that ended counts up to the last
    sample that saw it. The machine's CPU (psutil.cpu_times) is taken over the same window."""

    groups: dict[str, Group]
    interval: float = 0.5
    first: dict[tuple[str, int, float], float] = field(default_factory=dict)
    last: dict[tuple[str, int, float], float] = field(default_factory=dict)
    rss: dict[str, list[float]] = field(default_factory=dict)
    pss: dict[str, list[float]] = field(default_factory=dict)
    started: float = 0.0
    elapsed: float = 0.0
    machine_cores: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample(self) -> None:
        for name, group in self.groups.items():
            rss = pss = 0.0
            for p in group():
                try:
                    with p.oneshot():
                        t = p.cpu_times()
                        key = (name, p.pid, p.create_time())
                        mem = p.memory_full_info()
                except psutil.Error:
                    continue
                cpu = t.user + t.system
                if key not in self.first:
                    self.first[key] = 0.0 if key[2] >= self.started else cpu
                self.last[key] = cpu
                rss += mem.rss
                pss += getattr(mem, "pss", mem.rss)
            self.rss.setdefault(name, []).append(rss)
            self.pss.setdefault(name, []).append(pss)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> Sampler:
        self.started = time.time()
        self._clock = time.monotonic()
        self._cpu = psutil.cpu_times()
        self.sample()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()
        self.sample()
        self.elapsed = time.monotonic() - self._clock
        before, after = self._cpu, psutil.cpu_times()
        idle = (after.idle + getattr(after, "iowait", 0.0)) - (
            before.idle + getattr(before, "iowait", 0.0)
        )
        self.machine_cores = (sum(after) - sum(before) - idle) / self.elapsed

    def cores(self, name: str) -> float:
        used = sum(self.last[k] - self.first[k] for k in self.last if k[0] == name)
        return used / self.elapsed

    def usage(self) -> dict[str, dict[str, float]]:
        """Per group: cores over the window, peak and median RSS and PSS (MiB)."""
        return {
            name: {
                "cores": self.cores(name),
                "rss_mib_peak": max(self.rss[name]) / MIB,
                "rss_mib_median": statistics.median(self.rss[name]) / MIB,
                "pss_mib_peak": max(self.pss[name]) / MIB,
            }
            for name in self.groups
        }


def memory() -> dict[str, float]:
    vm = psutil.virtual_memory()
    return {"total_gib": vm.total / GIB, "used_gib": vm.used / GIB,
            "available_gib": vm.available / GIB}  # fmt: skip


def median_of(rows: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    return {
        name: {k: statistics.median(r[name][k] for r in rows) for k in rows[0][name]}
        for name in rows[0]
    }


# -- labs --------------------------------------------------------------------------------------


@dataclass
class RunningLab:
    number: int
    settings: Settings
    config: LabConfig
    lab: Lab
    ready_seconds: float
    others_running: int  # labs already running when it started

    @property
    def paths(self) -> LabPaths:
        return LabPaths(self.settings.state_dir)


def start_lab(tmp: Path, number: int, others: int, started: list[RunningLab]) -> RunningLab:
    """A lab of 12 nodes with its past on a free block of ports (`--ports auto`), appended to
    `started` (a failed `up` stops what it started itself)."""
    state = tmp / f"lab{number}" / ".lab"
    settings = Settings(state)
    for attempt in range(3):
        config = free_ports(LabConfig(nodes=NODES), LabPaths(state))
        try:
            ready = up(config, settings, out=io.StringIO(), timeout=180)
            break
        except PortInUse:  # taken by someone else between the choice and the start
            down(settings, out=io.StringIO(), quiet=True)
            if attempt == 2:
                raise
    run = RunningLab(number, settings, config, Lab(config, settings), ready, others)
    started.append(run)
    print(f"  lab {number}: ready in {ready:.1f} s (ports {config.base_port}-"
          f"{config.dashboard_port}; {others} other labs running)")  # fmt: skip
    return run


def head_series(config: LabConfig) -> int | None:
    try:
        answer = get_json(f"{config.prometheus_url}/api/v1/query?query=prometheus_tsdb_head_series")
        return int(float(answer["data"]["result"][0]["value"][1]))
    except (OSError, ValueError, KeyError, IndexError):
        return None


def rule_cost(config: LabConfig) -> dict[str, Any] | None:
    """Prometheus' rule groups, by their last evaluation's duration (wall clock): where its
    CPU at rest goes. `seconds_per_second`: every group's duration over its interval."""
    try:
        groups = get_json(f"{config.prometheus_url}/api/v1/rules")["data"]["groups"]
    except (OSError, ValueError, KeyError):
        return None
    rows = sorted(({"group": g["name"], "interval": g["interval"], "rules": len(g["rules"]),
                    "evaluation_ms": 1000 * g["evaluationTime"]} for g in groups),
                  key=lambda g: -g["evaluation_ms"])  # fmt: skip
    per_second = sum(g["evaluation_ms"] / 1000 / g["interval"] for g in rows if g["interval"])
    return {"seconds_per_second": per_second, "groups": rows}


# -- (1) one lab, by component -----------------------------------------------------------------


def run_lesson(state: Path, tmp: Path) -> float:
    from tests.test_notebooks import run_nbval

    tmp.mkdir(parents=True)
    started = time.monotonic()
    run = run_nbval(LESSON, state, tmp)
    if run.returncode != 0 or " passed" not in run.stdout or " failed" in run.stdout:
        tail = run.stdout[-4000:] + run.stderr[-2000:]
        raise RuntimeError(f"lesson 2 failed under nbval:\n{tail}")
    return time.monotonic() - started


def per_component(lab: RunningLab, tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    windows = 3
    rest = []
    for w in range(windows):
        with Sampler(lab_groups(lab.paths)) as s:
            time.sleep(args.rest_seconds / windows)
        rest.append(s.usage())
        prom, whole = rest[-1]["prometheus"]["cores"], sum(u["cores"] for u in rest[-1].values())
        print(f"  at rest, window {w + 1}/{windows}: Prometheus {prom:.3f} cores, "
              f"the lab {whole:.3f}")  # fmt: skip
    rules = rule_cost(lab.config)
    kernels, pytests = nbval_processes()
    lessons, seconds = [], []
    for r in range(args.lessons):
        with Sampler({**lab_groups(lab.paths), "kernel": kernels, "nbval": pytests}) as s:
            seconds.append(run_lesson(lab.settings.state_dir, tmp / f"lesson{r + 1}"))
        usage = s.usage()
        if usage["kernel"]["rss_mib_peak"] == 0:
            raise RuntimeError("no kernel was seen during the lesson")
        lessons.append(usage)
        counted = sum(u["cores"] for k, u in usage.items() if k != "nbval")
        print(f"  lesson 2, run {r + 1}/{args.lessons}: {seconds[-1]:.0f} s, the lab and its "
              f"kernel {counted:.3f} cores (kernel {usage['kernel']['cores']:.3f})")  # fmt: skip
    at_rest, during = median_of(rest), median_of(lessons)
    baseline = at_rest["prometheus"]["cores"]
    counted = [*COMPONENTS, "kernel"]

    def lab_total(rows: list[dict[str, dict[str, float]]], key: str, names: list[str]) -> float:
        return statistics.median(sum(r[n][key] for n in names) for r in rows)

    ratios = {
        name: {"at_rest": at_rest[name]["cores"] / baseline if name in at_rest else None,
               "during_lesson": during[name]["cores"] / baseline}
        for name in counted
    } if baseline else None  # fmt: skip
    return {
        "rest_seconds": args.rest_seconds,
        "rest_windows": windows,
        "lesson_runs": args.lessons,
        "lesson_seconds": seconds,
        "prometheus_head_series": head_series(lab.config),
        "prometheus_rules_at_rest": rules,
        "baseline": "Prometheus at rest",
        "baseline_cores": baseline,
        "at_rest": at_rest,
        "during_lesson": during,
        "vs_prometheus_at_rest": ratios,
        "lab_at_rest_cores": lab_total(rest, "cores", list(COMPONENTS)),
        "lab_at_rest_rss_mib": lab_total(rest, "rss_mib_peak", list(COMPONENTS)),
        "lab_at_rest_pss_mib": lab_total(rest, "pss_mib_peak", list(COMPONENTS)),
        "lab_in_lesson_cores": lab_total(lessons, "cores", counted),
        "lab_in_lesson_rss_mib": lab_total(lessons, "rss_mib_peak", counted),
        "lab_in_lesson_pss_mib": lab_total(lessons, "pss_mib_peak", counted),
        "raw": {"at_rest": rest, "during_lesson": lessons},
    }


# -- (2) N labs side by side -------------------------------------------------------------------


def detect(lab: RunningLab, nodes: list[int], seed: int) -> dict[str, Any]:
    """One round per mode in this lab (benchmarks.detection.one_round); a failure is kept."""
    rng = random.Random(seed)
    got: dict[str, Any] = {"injections": {}}
    try:
        for failure in MODES:
            got["injections"][failure] = one_round(lab.lab, failure, nodes, rng)
    except Exception as exc:  # a lab that missed an alert: recorded, the others go on
        got["error"] = f"{type(exc).__name__}: {exc}"
    return got


def summarize(got: dict[str, Any]) -> dict[str, Any]:
    rows = [r for mode in got["injections"].values() for r in mode]
    prom = [r["to_prometheus"] for r in rows]
    recv = [r["to_receiver"] for r in rows]
    summary: dict[str, Any] = {"n": len(rows), "error": got.get("error")}
    if prom:
        summary |= {
            "p50": quantile(prom, 0.5), "p95": quantile(prom, 0.95), "max": max(prom),
            "receiver_p95": quantile(recv, 0.95),
            "p95_by_mode": {m: quantile([r["to_prometheus"] for r in rs], 0.95)
                            for m, rs in got["injections"].items() if rs},
        }  # fmt: skip
    return summary


def side_by_side(
    first: RunningLab,
    tmp: Path,
    args: argparse.Namespace,
    started: list[RunningLab],
    memory_at_start: dict[str, float],
) -> list[dict[str, Any]]:
    nodes = list(range(1, args.injections + 1))
    runs: list[dict[str, Any]] = []
    baseline_p95: float | None = None
    for n in args.labs:
        if len(started) < n:
            print(f"{n} labs: starting {n - len(started)} more")
            while len(started) < n:
                start_lab(tmp, len(started) + 1, len(started), started)
            print(f"  settling {args.settle:.0f} s")
            time.sleep(args.settle)
        labs = started[:n]
        got: dict[int, dict[str, Any]] = {}

        def drive(lab: RunningLab, got: dict[int, dict[str, Any]] = got) -> None:
            got[lab.number] = detect(lab, nodes, lab.number)

        threads = [threading.Thread(target=drive, args=(lab,)) for lab in labs]
        groups = {f"lab{lab.number}": whole_lab(lab.paths) for lab in labs}
        groups["benchmark"] = lambda: [psutil.Process()]  # the injections and polling
        with Sampler(groups, interval=1.0) as s:
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        after = memory()
        usage = s.usage()
        summaries = {lab.number: summarize(got[lab.number]) for lab in labs}
        if n == 1:
            baseline_p95 = summaries[first.number].get("p95")
        for lab in labs:
            one = summaries[lab.number]
            if baseline_p95 and "p95" in one:
                one["p95_vs_one_lab"] = one["p95"] / baseline_p95
        labs_cores = sum(usage[f"lab{lab.number}"]["cores"] for lab in labs)
        ok = all(x.get("error") is None and x.get("p95", math.inf) <= GOAL_P95_SECONDS
                 for x in summaries.values())  # fmt: skip
        per_lab = {
            str(k): {**v, "usage": usage[f"lab{k}"], "ready_seconds": started[k - 1].ready_seconds,
                     "others_running_at_start": started[k - 1].others_running}
            for k, v in summaries.items()
        }  # fmt: skip
        run = {
            "labs": n,
            "window_seconds": s.elapsed,
            "machine_cores_busy": s.machine_cores,
            "machine_cpu_percent": 100 * s.machine_cores / (psutil.cpu_count() or 1),
            "labs_cores": labs_cores,
            "labs_cores_per_lab": labs_cores / n,
            "benchmark_cores": usage["benchmark"]["cores"],
            "labs_rss_mib": sum(usage[f"lab{lab.number}"]["rss_mib_peak"] for lab in labs),
            "labs_pss_mib": sum(usage[f"lab{lab.number}"]["pss_mib_peak"] for lab in labs),
            "memory": after,
            "memory_used_over_start_gib": after["used_gib"] - memory_at_start["used_gib"],
            "every_lab_p95_within_goal": ok,
            "per_lab": per_lab,
            "injections": {str(k): v["injections"] for k, v in got.items()},
        }
        runs.append(run)
        p95s = [x.get("p95", math.inf) for x in summaries.values()]
        errors = [f"lab {k}: {x['error']}" for k, x in summaries.items() if x.get("error")]
        worst = max(p95s) / baseline_p95 if baseline_p95 else math.nan
        failed = "; " + "; ".join(errors) if errors else ""
        print(f"{n} labs: detection p95 per lab {', '.join(f'{p:.2f}' for p in p95s)} s "
              f"(worst {worst:.2f}x one lab's); machine {s.machine_cores:.2f} cores busy, the "
              f"labs {labs_cores:.2f}, this benchmark {usage['benchmark']['cores']:.2f}; memory "
              f"used {after['used_gib']:.1f} GiB{failed}")  # fmt: skip
    return runs


# -- (3) the capacity table --------------------------------------------------------------------


def capacity(one: dict[str, Any], runs: list[dict[str, Any]]) -> dict[str, Any]:
    cpu = one["lab_in_lesson_cores"]
    mem_gib = one["lab_in_lesson_rss_mib"] / 1024
    rows = []
    hosts = [(c, c * RAM_PER_CORE_GIB, f"{c} cores, {c * RAM_PER_CORE_GIB:.0f} GiB") for c in HOSTS]
    here_cores = psutil.cpu_count() or 1
    here_ram = psutil.virtual_memory().total / GIB
    hosts.append((here_cores, here_ram, f"this machine ({here_cores} cores, {here_ram:.0f} GiB)"))
    for cores, ram, name in hosts:
        by_cpu = math.floor(HEADROOM * cores / cpu) if cpu > 0 else math.inf
        by_mem = math.floor(HEADROOM * ram / mem_gib) if mem_gib > 0 else math.inf
        rest = one["lab_at_rest_cores"]
        rows.append({
            "host": name, "cores": cores, "ram_gib": ram,
            "labs_by_cpu": by_cpu, "labs_by_memory": by_mem, "labs": min(by_cpu, by_mem),
            "limited_by": "CPU" if by_cpu <= by_mem else "memory",
            "labs_at_rest_by_cpu": math.floor(HEADROOM * cores / rest) if rest > 0 else None,
        })  # fmt: skip
    within = [r["labs"] for r in runs if r["every_lab_p95_within_goal"]]
    tried = [r["labs"] for r in runs]
    # the largest N with every smaller N tried within the goal too
    measured = 0
    for r in sorted(runs, key=lambda r: r["labs"]):
        if not r["every_lab_p95_within_goal"]:
            break
        measured = r["labs"]
    return {
        "rule": f"every lab in lesson 2 at once; CPU <= {HEADROOM:.0%} of the cores, memory "
        f"(peak RSS) <= {HEADROOM:.0%} of the RAM; {RAM_PER_CORE_GIB:.0f} GiB per core",
        "per_lab_cores": cpu,
        "per_lab_rss_gib": mem_gib,
        "rows": rows,
        "measured_here": {
            "largest_n_all_within_goal": measured,
            "n_within_goal": within,
            "n_tried": tried,
            "at_least": bool(tried) and measured == max(tried),
        },
    }


# -- main --------------------------------------------------------------------------------------


def print_components(one: dict[str, Any]) -> None:
    rest, lesson, base = one["at_rest"], one["during_lesson"], one["baseline_cores"]

    def x(v: float) -> str:
        return f"{v / base:6.1f}x" if base else "     -"

    print(f"\n{'component':<14}{'at rest':>9} {'':>7}{'lesson 2':>10} {'':>7}"
          f"{'RSS rest':>10}{'RSS lesson':>12}{'PSS lesson':>12}")  # fmt: skip
    for name in [*COMPONENTS, "kernel", "nbval"]:
        r = rest.get(name)
        lesson_row = lesson[name]
        rest_cores = f"{r['cores']:8.3f}c {x(r['cores'])}" if r else f"{'-':>9} {'':>7}"
        rest_rss = f"{r['rss_mib_peak']:8.0f}MiB" if r else f"{'-':>11}"
        note = "  (not counted)" if name == "nbval" else ""
        print(f"{name:<14}{rest_cores}{lesson_row['cores']:9.3f}c {x(lesson_row['cores'])}"
              f"{rest_rss}{lesson_row['rss_mib_peak']:9.0f}MiB"
              f"{lesson_row['pss_mib_peak']:9.0f}MiB{note}")  # fmt: skip
    print(f"{'the lab':<14}{one['lab_at_rest_cores']:8.3f}c {x(one['lab_at_rest_cores'])}"
          f"{one['lab_in_lesson_cores']:9.3f}c {x(one['lab_in_lesson_cores'])}"
          f"{one['lab_at_rest_rss_mib']:8.0f}MiB{one['lab_in_lesson_rss_mib']:9.0f}MiB"
          f"{one['lab_in_lesson_pss_mib']:9.0f}MiB   (baseline: Prometheus at rest, "
          f"{base:.3f} cores)")  # fmt: skip
    rules = one["prometheus_rules_at_rest"]
    if rules:
        top = rules["groups"][0]
        print(f"Prometheus' rules at rest: {rules['seconds_per_second']:.3f} s of evaluation a "
              f"second (wall clock), the most {top['group']}: {top['evaluation_ms']:.1f} ms "
              f"every {top['interval']:.0f} s")  # fmt: skip


def print_capacity(cap: dict[str, Any]) -> None:
    print(f"\ncapacity ({cap['rule']}); a lab in lesson 2: {cap['per_lab_cores']:.3f} cores, "
          f"{cap['per_lab_rss_gib']:.2f} GiB")  # fmt: skip
    print(f"{'host':<34}{'by CPU':>8}{'by memory':>11}{'labs':>6}  {'limit':<8}"
          f"{'(at rest, by CPU)':>18}")  # fmt: skip
    for r in cap["rows"]:
        print(f"{r['host']:<34}{r['labs_by_cpu']:>8}{r['labs_by_memory']:>11}{r['labs']:>6}  "
              f"{r['limited_by']:<8}{r['labs_at_rest_by_cpu']!s:>18}")  # fmt: skip
    m = cap["measured_here"]
    two = next(r for r in cap["rows"] if r["cores"] == 2)
    if m["largest_n_all_within_goal"] == 0:
        measured = "no number of labs tried kept every lab's p95 within it"
    else:
        measured = (f"up to {'at least ' if m['at_least'] else ''}"
                    f"{m['largest_n_all_within_goal']} labs")  # fmt: skip
    print(f"check, 2 cores: the table says {two['labs']} labs; measured on this machine "
          f"(detection p95 <= {GOAL_P95_SECONDS:.0f} s in every lab): {measured} "
          f"(tried {m['n_tried']})")  # fmt: skip


def main() -> None:
    import builtins
    import functools

    builtins.print = functools.partial(print, flush=True)  # progress shows in a log at once
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--labs", default="1,2,4,6,8", help="numbers of labs side by side")
    parser.add_argument("--rest-seconds", type=float, default=60.0)
    parser.add_argument("--lessons", type=int, default=3, help="runs of lesson 2")
    parser.add_argument("--injections", type=int, default=10, help="per mode and lab (<= 12)")
    parser.add_argument("--settle", type=float, default=30.0, help="seconds after a start")
    parser.add_argument("--quick", action="store_true", help="a short trial")
    args = parser.parse_args()
    if args.quick:
        args.labs, args.rest_seconds, args.lessons, args.injections, args.settle = (
            "1,2", 20.0, 1, 1, 10.0)  # fmt: skip
    args.labs = sorted({1, *(int(n) for n in str(args.labs).split(","))})
    if not 1 <= args.injections <= NODES:
        parser.error(f"--injections: 1 to {NODES}")
    began = time.monotonic()
    started: list[RunningLab] = []
    machine = {"cores": psutil.cpu_count(), "load_average_at_start": list(psutil.getloadavg()),
               "memory_at_start": memory()}  # fmt: skip
    results: dict[str, Any] = {"args": vars(args), "machine": machine}
    with tempfile.TemporaryDirectory(prefix="labkit-capacity-") as name:
        tmp = Path(name)
        try:
            print(f"(1) one lab of {NODES} nodes with its past")
            first = start_lab(tmp, 1, 0, started)
            print(f"  settling {args.settle:.0f} s")
            time.sleep(args.settle)
            results["one_lab"] = per_component(first, tmp, args)
            print_components(results["one_lab"])
            print(f"\n(2) labs side by side: {args.labs}")
            results["side_by_side"] = side_by_side(
                first, tmp, args, started, results["machine"]["memory_at_start"]
            )
        finally:
            print(f"stopping {len(started)} labs")
            for lab in reversed(started):
                down(lab.settings, out=io.StringIO(), quiet=True)
            for lab in started:  # nothing of theirs left running
                left = {n: read_pid(lab.paths, n) for n in COMPONENTS}
                if any(left.values()):
                    print(f"  lab {lab.number}: still running after down: {left}")
    results["start_up_seconds"] = [
        {"lab": lab.number, "ready_seconds": lab.ready_seconds,
         "others_running": lab.others_running} for lab in started
    ]  # fmt: skip
    results["capacity"] = capacity(results["one_lab"], results["side_by_side"])
    results["total_seconds"] = time.monotonic() - began
    print_capacity(results["capacity"])
    print(f"\ntotal {results['total_seconds'] / 60:.1f} min")
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "capacity.json").write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
