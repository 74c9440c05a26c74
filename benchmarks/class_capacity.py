"""A class on JupyterHub: learners per node (issue 17, point 4), measured on a real hub.

A real JupyterHub with deploy/jupyterhub/jupyterhub_config.py (SimpleLocalProcessSpawner, as
`make hub` runs it) on free loopback ports, an admin token (LABKIT_HUB_ADMIN_TOKEN), the
learners' homes in a temporary folder, every lab of the class default: 12 nodes, its past.

(0) Baseline, in the same run, before the hub starts: `labkit up --ports auto --auth` (what
    labkit.hub runs for a learner) alone, from the command to its exit (ready), --repeats
    times each: in a fresh state folder (the past is backfilled), again in that folder after
    `labkit down` (the past already there), and fresh with `--no-past`. Its CPU-seconds:
    the command's own and its children's (getrusage) plus the lab's processes' at ready.
(1) Start-up through the hub: from `POST /users/NAME/server` to the hub's ready event (its
    progress stream, which the spawn page in a learner's browser waits for). One learner
    alone with a fresh home (--repeats learners, one after another), then the same learner
    again (stopped, its lab stopped by labkit.hub's watcher, started again: the past already
    there); then K learners at once for each K of --learners above 1, fresh homes. Each as a
    ratio to the baseline's median. At ready: the CPU-seconds of the start (the server's
    process, which was labkit.hub and its `labkit up` before it became the server, with its
    reaped children, plus the lab's processes), the hub's own CPU over the start (hub, proxy,
    culler), and the size of the learner's .lab folder.
(2) Per learner at rest: the learners of the last start (the K learners, or the last one
    alone) each get a kernel through the hub that runs `from labkit import Lab; lab =
    Lab.open()` (every lesson's first cell); after --settle seconds, --rest-seconds in 3
    windows, the CPU (psutil cpu_times, sampled every second) and peak RSS and PSS of the
    single-user server, the kernel and the lab's components (benchmarks.capacity's groups),
    and of the hub's own processes (jupyterhub, configurable-http-proxy, the idle culler): a
    fixed cost per host. Medians of the windows, then the median (and max) over learners.
(3) Learners per node for typical cloud VM shapes (2 vCPU/8 GiB, 4/16, 8/32, 16/64), every
    learner in lesson 2 at once: CPU = the lab and its kernel during lesson 2 (taken from
    benchmarks/results/capacity.json, not re-run) + the server's CPU measured here; memory =
    their peak RSS in lesson 2 (capacity.json) + the server's peak RSS here; CPU and memory
    <= 75 % of the node (capacity.py's headroom), the hub's processes counted once. On
    Kubernetes: pods per node by the per-learner guarantee in deploy/kubernetes/values.yaml
    (if there; else 0.25 core and 512M, and it says so).
(4) 200 learners: cores and memory at the busiest, nodes of each shape, how long the class
    takes to start if all click at once (one start alone plus the others' CPU-seconds over
    the cores, checked against the K-at-once starts here), storage per learner.

    .venv/bin/python -m benchmarks.class_capacity [--learners 1,2,4,8] [--repeats 3]
        [--rest-seconds 90] [--settle 30] [--quick]
--quick: one learner, one repeat, 15 s at rest, 5 s to settle (a check that it works: about
2 minutes). A full run takes about 9 minutes on a 2-core machine. Needs `make hub-packages`
and benchmarks/results/capacity.json (benchmarks.capacity; `make bench` runs it first).
Writes benchmarks/results/class_capacity.json. The hub, every server and every lab are
stopped at the end, whatever happens, and no lab process may be left.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import math
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from benchmarks.capacity import (
    COMPONENTS,
    GIB,
    HEADROOM,
    MIB,
    Group,
    Sampler,
    lab_groups,
    median_of,
    memory,
    tree,
)
from benchmarks.live_hub import (
    Hub,
    child_env,
    disk_mib,
    kernel_process,
    lab_pids,
    lab_processes,
    open_kernel,
    processes_cpu,
    running_hub,
    stop_server,
)
from labkit.settings import Settings
from labkit.stack import LabPaths, down

ROOT = Path(__file__).resolve().parent.parent
CAPACITY = ROOT / "benchmarks" / "results" / "capacity.json"
VALUES = ROOT / "deploy" / "kubernetes" / "values.yaml"
NODE_SHAPES = ((2, 8), (4, 16), (8, 32), (16, 64))  # vCPU, GiB: typical cloud VM shapes
CLASS_SIZE = 200
ASSUMED_GUARANTEE = (0.25, "512M")  # cores, memory: when values.yaml is not there
FIRST_CELL = "from labkit import Lab\nlab = Lab.open()"
UP_KILL_AFTER_SECONDS = 150.0  # labkit.hub stops a `labkit up` still running after this


# -- (0) the baseline: `labkit up` alone --------------------------------------------------------


def labkit_up_alone(state: Path, past: bool = True) -> dict[str, float]:
    """`labkit up --ports auto --auth` (12 nodes) from the command to ready; its CPU-seconds:
    the command's and its children's (getrusage; this process has no other child then) plus
    the lab's processes' at ready."""
    argv = [sys.executable, "-m", "labkit.cli", "--state-dir", str(state), "up", "--ports",
            "auto", "--auth", "--timeout", "120", *([] if past else ["--no-past"])]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300,
                          env=child_env())  # fmt: skip
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"labkit up failed ({done.returncode}):\n{done.stderr[-3000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    command = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    lab = processes_cpu(lab_processes(state))
    return {"seconds": seconds, "cpu_seconds": command + lab, "command_cpu_seconds": command,
            "lab_cpu_seconds": lab, "lab_folder_mib": disk_mib(state)}  # fmt: skip


def baseline(tmp: Path, repeats: int) -> dict[str, Any]:
    runs: dict[str, list[dict[str, float]]] = {"fresh": [], "again": [], "fresh_no_past": []}
    for r in range(repeats):
        for kind in ("fresh", "fresh_no_past"):
            state = tmp / f"alone-{kind}-{r}" / ".lab"
            try:
                runs[kind].append(labkit_up_alone(state, past=kind == "fresh"))
                if kind == "fresh":
                    down(Settings(state), quiet=True)
                    runs["again"].append(labkit_up_alone(state))
            finally:
                down(Settings(state), quiet=True)
        print("  `labkit up` alone, run " + f"{r + 1}/{repeats}: " + ", ".join(
            f"{k} {v[-1]['seconds']:.1f} s ({v[-1]['cpu_seconds']:.1f} CPU-s)"
            for k, v in runs.items()))  # fmt: skip
    return {kind: {"runs": rows, **medians(rows)} for kind, rows in runs.items()}


def medians(rows: list[dict[str, float]]) -> dict[str, float]:
    return {f"median_{k}": statistics.median(r[k] for r in rows) for k in rows[0]}


# -- (1) starts ---------------------------------------------------------------------------------


def start(hub: Hub, user: str, got: dict[str, dict[str, Any]]) -> None:
    """`user`'s server started; into `got[user]`: seconds to ready, the start's CPU-seconds
    (server + lab at ready), the .lab folder's size. A failure is kept as `error`."""
    try:
        if hub.request("GET", f"/hub/api/users/{user}")[0] == 404:
            hub.api("POST", f"/users/{user}")
        started = time.monotonic()
        hub.api("POST", f"/users/{user}/server")
        hub.wait_ready(user)
        seconds = time.monotonic() - started
        server_cpu = processes_cpu([hub.server_process(user)])
        lab = processes_cpu(lab_processes(hub.state(user)))
        problem = hub.state(user) / "start-problem.txt"
        said = problem.read_text().strip() if problem.exists() else None
        got[user] = {"seconds": seconds, "cpu_seconds": server_cpu + lab,
                     "server_cpu_seconds": server_cpu, "lab_cpu_seconds": lab,
                     "lab_folder_mib": disk_mib(hub.state(user)), "problem": said}  # fmt: skip
    except Exception as exc:
        got[user] = {"error": f"{type(exc).__name__}: {exc}"}


def start_at_once(hub: Hub, users: list[str]) -> dict[str, Any]:
    """`users` started at once (a thread each); the hub's CPU over it, the machine's CPU and
    the rise of its used memory (sampled every 0.5 s)."""
    got: dict[str, dict[str, Any]] = {}
    threads = [threading.Thread(target=start, args=(hub, u, got)) for u in users]
    hub_before, used_before = hub.own_cpu(), psutil.virtual_memory().used
    peak = [used_before]
    with Sampler({}, interval=0.5) as machine:
        stop = threading.Event()
        watcher = threading.Thread(target=watch_memory, args=(stop, peak), daemon=True)
        watcher.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stop.set()
        watcher.join()
    failed = {u: g["error"] for u, g in got.items() if "error" in g}
    if failed:
        raise RuntimeError(f"starts failed: {failed}")
    seconds = [got[u]["seconds"] for u in users]
    hub_cpu = hub.own_cpu() - hub_before
    ours = sum(got[u]["cpu_seconds"] for u in users) + hub_cpu
    return {
        "learners": got,
        "median_seconds": statistics.median(seconds),
        "max_seconds": max(seconds),
        "median_cpu_seconds": statistics.median(got[u]["cpu_seconds"] for u in users),
        "hub_cpu_seconds_per_start": hub_cpu / len(users),
        "machine_cores_busy": machine.machine_cores,
        # the machine's CPU over the window not counted in the starts or the hub: someone
        # else's work (a disturbed measurement), and the labs' own once they are ready
        "other_cores": machine.machine_cores - ours / machine.elapsed,
        "memory_rise_gib_peak": (peak[0] - used_before) / GIB,
    }


def watch_memory(stop: threading.Event, peak: list[float]) -> None:
    while not stop.wait(0.5):
        peak[0] = max(peak[0], psutil.virtual_memory().used)


def labkit_up_in_hub(hub: Hub, offset: int) -> float | None:
    """`labkit up`'s own "ready in S s" in the hub's log past `offset` (one start alone)."""
    said = hub.log.read_text(errors="replace")[offset:]
    found = [line for line in said.splitlines() if "labkit up: ready in " in line]
    if len(found) != 1:
        return None
    return float(found[0].split("labkit up: ready in ")[1].split(" s")[0])


def starts(hub: Hub, args: argparse.Namespace) -> tuple[dict[str, Any], list[str]]:
    """The starts of (1); returns them and the learners left running for (2)."""
    alone: list[dict[str, Any]] = []
    again: list[dict[str, Any]] = []
    stops: list[float] = []
    groups = [k for k in args.learners if k > 1]
    for r in range(args.repeats):
        user = f"solo{r + 1}"
        for rows in (alone, again):
            offset = len(hub.log.read_text(errors="replace"))
            one = start_at_once(hub, [user])
            one["labkit_up_seconds_in_hub"] = labkit_up_in_hub(hub, offset)
            rows.append(one)
            last = r == args.repeats - 1 and rows is again and not groups
            if not last:
                stops.append(stop_server(hub, user))
        first, then = alone[-1], again[-1]
        print(f"  one learner alone, {user}: first start {first['max_seconds']:.1f} s "
              f"({first['median_cpu_seconds']:.1f} CPU-s), again {then['max_seconds']:.1f} s "
              f"({then['median_cpu_seconds']:.1f} CPU-s); the rest of the machine "
              f"{first['other_cores']:.2f}, {then['other_cores']:.2f} cores")  # fmt: skip
    at_once: dict[str, Any] = {}
    running = [f"solo{args.repeats}"]
    for k in groups:
        users = [f"k{k}-{n + 1}" for n in range(k)]
        at_once[str(k)] = start_at_once(hub, users)
        each = ", ".join(f"{at_once[str(k)]['learners'][u]['seconds']:.1f}" for u in users)
        one = at_once[str(k)]
        print(f"  {k} learners at once: {each} s (median {one['median_seconds']:.1f}, max "
              f"{one['max_seconds']:.1f}; the rest of the machine {one['other_cores']:.2f} "
              "cores)")  # fmt: skip
        running = users
        if k != groups[-1]:
            stops += [stop_server(hub, u) for u in users]
    return {"alone": summary(alone), "again": summary(again), "at_once": at_once,
            "stop_seconds": stops}, running  # fmt: skip


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def med(key: str) -> float:
        return float(statistics.median(r[key] for r in rows))

    ups = [r["labkit_up_seconds_in_hub"] for r in rows if r["labkit_up_seconds_in_hub"]]
    firsts = [next(iter(r["learners"].values())) for r in rows]
    return {
        "runs": rows,
        "median_seconds": med("max_seconds"),
        "median_cpu_seconds": med("median_cpu_seconds"),
        "median_server_cpu_seconds": statistics.median(f["server_cpu_seconds"] for f in firsts),
        "median_lab_cpu_seconds": statistics.median(f["lab_cpu_seconds"] for f in firsts),
        "median_hub_cpu_seconds": med("hub_cpu_seconds_per_start"),
        "median_labkit_up_seconds_in_hub": statistics.median(ups) if ups else None,
        "median_lab_folder_mib": statistics.median(f["lab_folder_mib"] for f in firsts),
    }


# -- (2) per learner at rest --------------------------------------------------------------------


def at_rest(hub: Hub, users: list[str], args: argparse.Namespace) -> dict[str, Any]:
    groups: dict[str, Group] = dict(hub.own())
    groups["benchmark"] = functools.partial(list, [psutil.Process()])  # this sampling
    first_cell = {}
    for user in users:
        kernel, first_cell[user] = open_kernel(hub, user, FIRST_CELL)
        server = hub.server_process(user)
        kernel_proc = kernel_process(server, kernel)
        groups[f"{user}:server"] = functools.partial(list, [server])
        groups[f"{user}:kernel"] = functools.partial(tree, kernel_proc)
        groups |= lab_groups(LabPaths(hub.state(user)), prefix=f"{user}:")
    print(f"  kernels: the first cell took {', '.join(f'{s:.1f}' for s in first_cell.values())}"
          f" s; settling {args.settle:.0f} s")  # fmt: skip
    time.sleep(args.settle)
    folders = {u: disk_mib(hub.state(u)) for u in users}
    clock = time.monotonic()
    windows: list[dict[str, dict[str, float]]] = []
    others: list[float] = []  # the machine's CPU besides the learners', the hub's and this
    for w in range(3):
        with Sampler(groups, interval=1.0) as s:
            time.sleep(args.rest_seconds / 3)
        windows.append(s.usage())
        others.append(s.machine_cores - sum(u["cores"] for u in windows[-1].values()))
        each = ", ".join(f"{learner(windows[-1], u)['cores']:.3f}" for u in users)
        print(f"  at rest, window {w + 1}/3: per learner {each} cores; the hub's processes "
              f"{hub_total(windows[-1])['cores']:.3f}; the rest of the machine "
              f"{others[-1]:.3f}")  # fmt: skip
    hours = (time.monotonic() - clock) / 3600
    growth = [(disk_mib(hub.state(u)) - folders[u]) / hours for u in users]
    usage = median_of(windows)
    per = {u: learner(usage, u) for u in users}
    parts = ("server", "kernel", "lab")
    return {
        "rest_seconds": args.rest_seconds, "windows": 3, "learners": users,
        "first_cell_seconds": first_cell,
        "usage": usage,
        "per_learner": per,
        "median": {key: statistics.median(p[key] for p in per.values())
                   for key in next(iter(per.values()))},
        "max": {key: max(p[key] for p in per.values()) for key in next(iter(per.values()))},
        "parts": parts,
        "hub": {name: usage[name] for name in hub.own()},
        "benchmark_cores": usage["benchmark"]["cores"],
        "hub_total": hub_total(usage),
        "lab_folder_growth_mib_per_hour": statistics.median(growth),
        "other_cores_per_window": others,
        "raw": windows,
    }  # fmt: skip


def learner(usage: dict[str, dict[str, float]], user: str) -> dict[str, float]:
    """One learner's whole footprint, and its server, kernel and lab apart."""
    lab = [usage[f"{user}:{name}"] for name in COMPONENTS]
    server, kernel = usage[f"{user}:server"], usage[f"{user}:kernel"]
    got = {"server_cores": server["cores"], "kernel_cores": kernel["cores"],
           "lab_cores": sum(u["cores"] for u in lab),
           "server_rss_mib": server["rss_mib_peak"], "kernel_rss_mib": kernel["rss_mib_peak"],
           "lab_rss_mib": sum(u["rss_mib_peak"] for u in lab),
           "server_pss_mib": server["pss_mib_peak"], "kernel_pss_mib": kernel["pss_mib_peak"],
           "lab_pss_mib": sum(u["pss_mib_peak"] for u in lab)}  # fmt: skip
    got["cores"] = got["server_cores"] + got["kernel_cores"] + got["lab_cores"]
    got["rss_mib"] = got["server_rss_mib"] + got["kernel_rss_mib"] + got["lab_rss_mib"]
    got["pss_mib"] = got["server_pss_mib"] + got["kernel_pss_mib"] + got["lab_pss_mib"]
    return got


def hub_total(usage: dict[str, dict[str, float]]) -> dict[str, float]:
    names = ("jupyterhub", "proxy", "culler")
    return {"cores": sum(usage[n]["cores"] for n in names),
            "rss_mib": sum(usage[n]["rss_mib_peak"] for n in names),
            "pss_mib": sum(usage[n]["pss_mib_peak"] for n in names)}  # fmt: skip


# -- (3) and (4): learners per node, a class of 200 ---------------------------------------------


def capacity_figures() -> dict[str, Any]:
    """Lesson 2's figures from benchmarks.capacity's latest run, and that run's date."""
    if not CAPACITY.exists():
        raise SystemExit(f"{CAPACITY} is missing: run `.venv/bin/python -m benchmarks.capacity` "
                         "first (`make bench` runs it before this)")  # fmt: skip
    one = json.loads(CAPACITY.read_text())["one_lab"]
    date = datetime.datetime.fromtimestamp(CAPACITY.stat().st_mtime, datetime.UTC)
    return {"file": str(CAPACITY.relative_to(ROOT)), "date": date.strftime("%Y-%m-%d"),
            "lab_in_lesson_cores": one["lab_in_lesson_cores"],
            "lab_in_lesson_rss_mib": one["lab_in_lesson_rss_mib"],
            "lab_in_lesson_pss_mib": one["lab_in_lesson_pss_mib"],
            "lab_at_rest_cores": one["lab_at_rest_cores"],
            "kernel_in_lesson_cores": one["during_lesson"]["kernel"]["cores"],
            "nbval_in_lesson_cores": one["during_lesson"]["nbval"]["cores"]}  # fmt: skip


def mebibytes(quantity: str | int | float) -> float:
    """KubeSpawner's byte units in MiB: K, M, G, T are powers of 1024 (Ki, Mi, Gi, Ti too);
    a plain number is bytes."""
    text = str(quantity).strip()
    for unit, mib in (("Ki", 1 / 1024), ("Mi", 1.0), ("Gi", 1024.0), ("Ti", 1024.0**2),
                      ("K", 1 / 1024), ("M", 1.0), ("G", 1024.0), ("T", 1024.0**2)):  # fmt: skip
        if text.endswith(unit):
            return float(text[: -len(unit)]) * mib
    return float(text) / MIB


def guarantee() -> dict[str, Any]:
    """The per-learner pod's guarantee: deploy/kubernetes/values.yaml's, else assumed."""
    if VALUES.exists():
        import yaml

        user = yaml.safe_load(VALUES.read_text())["singleuser"]
        cpu, mem = user["cpu"]["guarantee"], user["memory"]["guarantee"]
        source = str(VALUES.relative_to(ROOT))
    else:
        (cpu, mem), source = ASSUMED_GUARANTEE, "assumed (no deploy/kubernetes/values.yaml)"
    return {"cores": float(cpu), "memory": str(mem), "memory_mib": mebibytes(mem),
            "source": source}  # fmt: skip


def per_node(cores: float, ram_gib: float, learner_cores: float, learner_mib: float,
             fixed_cores: float, fixed_mib: float) -> dict[str, Any]:  # fmt: skip
    """Learners that fit a node at their busiest: CPU and memory each <= HEADROOM of the
    node, the hub's own processes (`fixed_*`) counted once."""
    by_cpu = math.floor((HEADROOM * cores - fixed_cores) / learner_cores)
    by_mem = math.floor((HEADROOM * ram_gib * 1024 - fixed_mib) / learner_mib)
    return {"cores": cores, "ram_gib": ram_gib, "by_cpu": by_cpu, "by_memory": by_mem,
            "learners": min(by_cpu, by_mem),
            "limited_by": "CPU" if by_cpu <= by_mem else "memory"}  # fmt: skip


def pods_by_guarantee(cores: float, ram_gib: float, g: dict[str, Any]) -> dict[str, Any]:
    by_cpu = math.floor(cores / g["cores"] + 1e-9)
    by_mem = math.floor(ram_gib * 1024 / g["memory_mib"] + 1e-9)
    return {"by_cpu": by_cpu, "by_memory": by_mem, "pods": min(by_cpu, by_mem),
            "limited_by": "CPU" if by_cpu <= by_mem else "memory"}  # fmt: skip


def start_seconds(starts: int, cores: float, alone_seconds: float, cpu_seconds: float) -> float:
    """How long `starts` begun at once on `cores` take until the last is ready: one start's
    own time alone, plus the CPU-seconds of the others over the cores. (Not their CPU alone,
    K x CPU-seconds / cores: a start also waits, for Prometheus' scrapes and rules and for
    its servers to answer, and the K-at-once starts here show those waits do not overlap
    away; the benchmark checks this against them.)"""
    return alone_seconds + (starts - 1) * cpu_seconds / cores


def cpu_under_load(starts_per_core: float, measured: list[tuple[float, float]]) -> float:
    """One start's CPU-seconds when `starts_per_core` start at once on each core: a start
    takes more CPU the more of them share the cores. `measured`: (starts per core, CPU-seconds)
    pairs; the one of the least crowding at least as crowded, else the most crowded."""
    ordered = sorted(measured)
    for load, cpu in ordered:
        if load >= starts_per_core - 1e-9:
            return cpu
    return ordered[-1][1]


def plan(starts_: dict[str, Any], rest: dict[str, Any], cap: dict[str, Any],
         g: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    """(3) and (4) from the measured figures."""
    from jupyterhub.app import JupyterHub  # type: ignore[import-untyped]

    server = rest["median"]
    learner_cores = cap["lab_in_lesson_cores"] + server["server_cores"]
    learner_mib = cap["lab_in_lesson_rss_mib"] + server["server_rss_mib"]
    fixed = rest["hub_total"]
    cpu_per_start = starts_["alone"]["median_cpu_seconds"]
    cpu_per_restart = starts_["again"]["median_cpu_seconds"]
    hub_per_start = starts_["alone"]["median_hub_cpu_seconds"]
    alone, again = starts_["alone"]["median_seconds"], starts_["again"]["median_seconds"]
    limit = JupyterHub.concurrent_spawn_limit.default_value
    # the server's CPU in use is not measured here: at most, nbval's notebook client's during
    # lesson 2 (capacity.json), which does the same relaying and more
    in_use_bound = cap["lab_in_lesson_cores"] + max(server["server_cores"],
                                                    cap["nbval_in_lesson_cores"])  # fmt: skip
    here = psutil.cpu_count() or 1
    measured = [(1 / here, cpu_per_start)] + [
        (int(k) / here, one["median_cpu_seconds"]) for k, one in starts_["at_once"].items()
    ]
    rows = []
    for cores, ram in NODE_SHAPES:
        fixed_cost = (fixed["cores"], fixed["rss_mib"])
        row: dict[str, Any] = {
            "cores": cores, "ram_gib": ram,
            # one host: the hub and its proxy on it too
            "one_host": per_node(cores, ram, learner_cores, learner_mib, *fixed_cost),
            # a node of several (Kubernetes): the learners only, the hub on a node of its own
            "node": per_node(cores, ram, learner_cores, learner_mib, 0.0, 0.0),
            "node_by_cpu_if_server_as_nbval": per_node(
                cores, ram, in_use_bound, learner_mib, 0.0, 0.0)["by_cpu"],
            "kubernetes": pods_by_guarantee(cores, ram, g),
        }  # fmt: skip
        fits = row["node"]["learners"]
        nodes = math.ceil(CLASS_SIZE / fits) if fits > 0 else None
        row["nodes_for_class"] = nodes
        if nodes:  # every learner clicks at once, spread evenly: each node starts its share
            share = math.ceil(CLASS_SIZE / nodes)
            cpu = cpu_under_load(share / cores, measured)
            again_cpu = cpu_per_restart * cpu / cpu_per_start  # as much dearer under load
            row["starts_at_once"] = share
            row["cpu_seconds_per_start_under_load"] = cpu
            row["class_start_seconds"] = start_seconds(share, cores, alone, cpu)
            row["class_restart_seconds"] = start_seconds(share, cores, again, again_cpu)
        rows.append(row)
    check = {
        k: {"predicted_max_seconds": start_seconds(
                int(k), here, alone, cpu_under_load(int(k) / here, measured)),
            "measured_max_seconds": one["max_seconds"]}
        for k, one in starts_["at_once"].items()
    }  # fmt: skip
    busiest_cores = CLASS_SIZE * learner_cores + fixed["cores"]
    busiest_gib = (CLASS_SIZE * learner_mib + fixed["rss_mib"]) / 1024
    return {
        "rule": f"every learner in lesson 2 at once; CPU and memory (peak RSS) <= "
        f"{HEADROOM:.0%} of the node; on one host, the hub's own processes too",
        "learner_cores": learner_cores,
        "learner_rss_mib": learner_mib,
        "learner_cores_if_server_as_nbval": in_use_bound,
        "hub_fixed": fixed,
        "guarantee": g,
        "rows": rows,
        "class_size": CLASS_SIZE,
        "class_busiest_cores": busiest_cores,
        "class_busiest_gib": busiest_gib,
        "class_cores_with_headroom": busiest_cores / HEADROOM,
        "class_gib_with_headroom": busiest_gib / HEADROOM,
        "cpu_seconds_per_start": cpu_per_start,
        "cpu_seconds_per_restart": cpu_per_restart,
        "hub_cpu_seconds_per_start": hub_per_start,
        "hub_serial_seconds_for_class": CLASS_SIZE * hub_per_start,
        "concurrent_spawn_limit_default": limit,
        "refused_at_once_by_default": max(0, CLASS_SIZE - limit),
        "start_model_check_here": check,
        "starts_per_core_minute": 60 / cpu_per_start,
        "starts_per_core_within_kill": UP_KILL_AFTER_SECONDS / cpu_per_start,
        "storage_mib_at_first_start": starts_["alone"]["median_lab_folder_mib"],
        "storage_growth_mib_per_hour": rest["lab_folder_growth_mib_per_hour"],
    }


# -- printing and main --------------------------------------------------------------------------


def print_starts(base: dict[str, Any], got: dict[str, Any]) -> None:
    ref = base["fresh"]["median_seconds"]
    print(f"\nstart-up (to ready)            {'seconds':>8} {'x labkit up':>12} {'CPU-s':>7}")
    rows = [("`labkit up` alone (baseline)", base["fresh"]["median_seconds"],
             base["fresh"]["median_cpu_seconds"]),
            ("`labkit up` again (past there)", base["again"]["median_seconds"],
             base["again"]["median_cpu_seconds"]),
            ("`labkit up --no-past`", base["fresh_no_past"]["median_seconds"],
             base["fresh_no_past"]["median_cpu_seconds"]),
            ("hub: one learner, first start", got["alone"]["median_seconds"],
             got["alone"]["median_cpu_seconds"]),
            ("hub: the same learner again", got["again"]["median_seconds"],
             got["again"]["median_cpu_seconds"])]  # fmt: skip
    for k, one in got["at_once"].items():
        rows += [(f"hub: {k} at once, median", one["median_seconds"], one["median_cpu_seconds"]),
                 (f"hub: {k} at once, max", one["max_seconds"], None)]  # fmt: skip
    for name, seconds, cpu in rows:
        said = f"{cpu:7.1f}" if cpu is not None else f"{'-':>7}"
        print(f"{name:<31}{seconds:8.1f} {seconds / ref:11.2f}x {said}")


def print_rest(rest: dict[str, Any]) -> None:
    m = rest["median"]
    print(f"\nper learner at rest ({len(rest['learners'])} learners, median)   cores     RSS     "
          "PSS")  # fmt: skip
    for part in rest["parts"]:
        print(f"  {part:<38}{m[part + '_cores']:7.3f} {m[part + '_rss_mib']:6.0f}M "
              f"{m[part + '_pss_mib']:6.0f}M")  # fmt: skip
    print(f"  {'the learner':<38}{m['cores']:7.3f} {m['rss_mib']:6.0f}M {m['pss_mib']:6.0f}M")
    h = rest["hub_total"]
    print(f"  {'the hub (once per host)':<38}{h['cores']:7.3f} {h['rss_mib']:6.0f}M "
          f"{h['pss_mib']:6.0f}M")  # fmt: skip


def print_plan(p: dict[str, Any], cap: dict[str, Any]) -> None:
    g = p["guarantee"]
    print(f"\nlearners per node ({p['rule']}); a learner in lesson 2: {p['learner_cores']:.3f} "
          f"cores, {p['learner_rss_mib']:.0f} MiB (lesson 2 from {cap['file']}, "
          f"{cap['date']})")  # fmt: skip
    print(f"{'node':<16}{'one host (the hub too)':>32}  {'a node of several':>17}{'k8s pods':>9}"
          f"{'nodes for 200':>14}{'class start':>12}{'again':>7}")  # fmt: skip
    print(f"{'':<16}{'by CPU':>8}{'by mem':>8}{'learners':>9}{'limit':>7}  {'learners':>17}")
    for r in p["rows"]:
        one, node = r["one_host"], r["node"]
        start = f"{r.get('class_start_seconds', math.nan):.0f} s"
        again = f"{r.get('class_restart_seconds', math.nan):.0f} s"
        print(f"{r['cores']:>2} vCPU {r['ram_gib']:>3} GiB  {one['by_cpu']:>8}{one['by_memory']:>8}"
              f"{one['learners']:>9}{one['limited_by']:>7}  {node['learners']:>17}"
              f"{r['kubernetes']['pods']:>9}{r['nodes_for_class']!s:>14}{start:>12}"
              f"{again:>7}")  # fmt: skip
    print(f"k8s pods: by the guarantee {g['cores']} core, {g['memory']} ({g['source']})")
    print(f"200 learners at the busiest: {p['class_busiest_cores']:.1f} cores, "
          f"{p['class_busiest_gib']:.0f} GiB ({p['class_cores_with_headroom']:.0f} cores, "
          f"{p['class_gib_with_headroom']:.0f} GiB with headroom); a start takes "
          f"{p['cpu_seconds_per_start']:.1f} CPU-s ({p['cpu_seconds_per_restart']:.1f} again), "
          f"the hub {p['hub_cpu_seconds_per_start']:.2f} CPU-s of its one core "
          f"({p['hub_serial_seconds_for_class']:.0f} s for 200); concurrent_spawn_limit "
          f"{p['concurrent_spawn_limit_default']} by default; .lab "
          f"{p['storage_mib_at_first_start']:.0f} MiB at the first start, +"
          f"{p['storage_growth_mib_per_hour']:.0f} MiB an hour at rest")  # fmt: skip
    for k, c in p["start_model_check_here"].items():
        print(f"check, {k} at once here: the model says the last is ready after "
              f"{c['predicted_max_seconds']:.0f} s; measured "
              f"{c['measured_max_seconds']:.0f} s")  # fmt: skip


def main() -> None:
    import builtins
    import functools

    builtins.print = functools.partial(print, flush=True)  # progress shows in a log at once
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--learners", default="1,2,4,8", help="1 alone, and K at once")
    parser.add_argument("--repeats", type=int, default=3, help="of each start alone")
    parser.add_argument("--rest-seconds", type=float, default=90.0, help="in 3 windows")
    parser.add_argument("--settle", type=float, default=30.0, help="seconds before at rest")
    parser.add_argument("--quick", action="store_true", help="a short trial")
    args = parser.parse_args()
    if args.quick:
        args.learners, args.repeats, args.rest_seconds, args.settle = "1", 1, 15.0, 5.0
    args.learners = sorted({1, *(int(n) for n in str(args.learners).split(","))})
    cap = capacity_figures()
    began = time.monotonic()
    machine = {"cores": psutil.cpu_count(), "load_average_at_start": list(psutil.getloadavg()),
               "memory_at_start": memory()}  # fmt: skip
    results: dict[str, Any] = {"args": vars(args), "machine": machine, "from_capacity": cap}
    with tempfile.TemporaryDirectory(prefix="labkit-class-") as name:
        tmp = Path(name)
        print(f"(0) baseline: `labkit up` alone, 12 nodes, {args.repeats} runs")
        results["baseline"] = baseline(tmp, args.repeats)
        print("(1) start-up through the hub")
        with running_hub(tmp) as hub:
            results["starts"], running = starts(hub, args)
            print(f"(2) per learner at rest: {', '.join(running)}")
            results["at_rest"] = at_rest(hub, running, args)
        left = {str(s): lab_pids(s) for s in (tmp / "homes").glob("*/.lab") if lab_pids(s)}
        results["labs_left_running"] = left
        if left:
            print(f"  labs still running after the hub stopped: {left}")
    base = results["baseline"]["fresh"]["median_seconds"]
    for key in ("alone", "again"):
        results["starts"][key]["vs_labkit_up"] = results["starts"][key]["median_seconds"] / base
    for one in results["starts"]["at_once"].values():
        one["median_vs_labkit_up"] = one["median_seconds"] / base
        one["max_vs_labkit_up"] = one["max_seconds"] / base
    results["plan"] = plan(results["starts"], results["at_rest"], cap, guarantee())
    results["total_seconds"] = time.monotonic() - began
    print_starts(results["baseline"], results["starts"])
    print_rest(results["at_rest"])
    print_plan(results["plan"], cap)
    print(f"\ntotal {results['total_seconds'] / 60:.1f} min")
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "class_capacity.json").write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
