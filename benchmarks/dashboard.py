"""The live dashboard's cost, in the real embedded lab.

(a) 12 nodes, the dashboard page open in headless Chromium (Debian's) for --seconds: the CPU
    of the page's kernel and of the Voilà server, plus the extra CPU of Prometheus answering
    the page's queries. Measured for the dashboard alone (`?only=dashboard`, the goal's
    subject) and for the whole page (the dashboard and the Alertmanager view). Baseline,
    measured in the same run and alternated with it: the same lab with no page open
    (Prometheus and Voilà at rest). Goal: at most 0.1 core.
(b) 100 nodes: one refresh in the kernel (the queries, decoding, and the figures' updates),
    in-process with no browser attached, which costs more than with one (the figures' whole
    state is copied for a page that may connect later). Cold: a new dashboard, every point of
    the 5-minute range fetched; warm: the next refreshes, incremental. Baseline: the same
    PromQL sent as plain HTTP requests and read without decoding (what Prometheus alone
    takes). Goal: under 1 s.

    .venv/bin/python -m benchmarks.dashboard [--rounds 3] [--seconds 20]
Writes benchmarks/results/dashboard.json. Medians, on a shared 2-core machine.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import psutil

from labkit import dashboard
from labkit.dashboard_view import step_for
from labkit.lab import Lab
from labkit.settings import Settings
from labkit.stack import LabConfig, LabPaths, down, read_pid, up
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, free_ports

ROOT = Path(__file__).resolve().parent.parent
GOAL_CORES = 0.1
GOAL_REFRESH_SECONDS = 1.0


def config_for(nodes: int) -> LabConfig:
    base = free_ports(nodes + 4)
    return LabConfig(nodes=nodes, base_port=base, prometheus_port=base + nodes,
                     alertmanager_port=base + nodes + 1, receiver_port=base + nodes + 2,
                     dashboard_port=base + nodes + 3)  # fmt: skip


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for p in processes:
        try:
            t = p.cpu_times()
            total += t.user + t.system  # live children (the kernels) are counted apart
        except psutil.NoSuchProcess:
            pass
    return total


def cores(processes: list[psutil.Process], seconds: float) -> float:
    before, started = cpu_seconds(processes), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(processes) - before) / (time.monotonic() - started)


def page_cost(lab: Lab, rounds: int, seconds: float, query: str = "") -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    paths = LabPaths(lab.settings.state_dir)
    prometheus = psutil.Process(read_pid(paths, "prometheus"))
    voila = psutil.Process(read_pid(paths, "dashboard"))
    assert lab.config is not None
    rows = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for r in range(rounds):
            rest = {"prometheus": cores([prometheus], seconds), "voila": cores([voila], seconds)}
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(lab.config.dashboard_page + query, timeout=90_000)
            page.wait_for_selector(".labkit-dash-status:has-text('updated')", timeout=90_000)
            time.sleep(10)  # past the first, full-range refresh
            kernels = voila.children(recursive=True)
            watched = {"kernel": 0.0, "prometheus": 0.0, "voila": 0.0}
            groups = {"kernel": kernels, "prometheus": [prometheus], "voila": [voila]}
            before = {k: cpu_seconds(v) for k, v in groups.items()}
            started = time.monotonic()
            status_before = page.locator(".labkit-dash-status").inner_text()
            time.sleep(seconds)
            elapsed = time.monotonic() - started
            status_after = page.locator(".labkit-dash-status").inner_text()
            for k, v in groups.items():
                watched[k] = (cpu_seconds(v) - before[k]) / elapsed
            page.close()
            assert status_before != status_after, "the page stopped refreshing"
            cost = (watched["kernel"] + max(0.0, watched["voila"] - rest["voila"])
                    + max(0.0, watched["prometheus"] - rest["prometheus"]))  # fmt: skip
            rows.append({"round": r, "rest": rest, "watched": watched, "cost_cores": cost})
            print(
                f"  round {r}: dashboard {cost:.3f} cores (kernel {watched['kernel']:.3f}, "
                f"Prometheus {watched['prometheus']:.3f}, {rest['prometheus']:.3f} at rest)"
            )
            time.sleep(25)  # the kernel stops querying without a page; let it settle
        browser.close()
    cost = statistics.median(r["cost_cores"] for r in rows)
    rest_prom = statistics.median(r["rest"]["prometheus"] for r in rows)
    return {"rounds": rows, "cost_cores": cost, "goal_cores": GOAL_CORES,
            "share_of_goal": cost / GOAL_CORES, "prometheus_at_rest_cores": rest_prom,
            "cost_vs_prometheus_at_rest": cost / rest_prom if rest_prom else None}  # fmt: skip


def raw_queries(url: str, nodes: list[int] | None, range_seconds: int = 300) -> float:
    """The dashboard's queries as plain HTTP, bodies read but not decoded: Prometheus alone."""
    end = time.time()
    step = step_for(range_seconds)
    started = time.perf_counter()
    for p in dashboard.panels():
        for expr, _ in p.targets:
            q = dashboard.for_nodes(expr, nodes)
            if p.kind == "timeseries":
                params = {"query": q, "start": end - range_seconds, "end": end, "step": step}
                path = "query_range"
            else:
                params, path = {"query": q, "time": end}, "query"
            with urllib.request.urlopen(
                f"{url}/api/v1/{path}?{urllib.parse.urlencode(params)}", timeout=30
            ) as r:
                r.read()
    return time.perf_counter() - started


def refresh_cost(lab: Lab, repeats: int) -> dict[str, Any]:
    from labkit.dashboard_widget import Dashboard

    cold, warm, baseline = [], [], []
    for _ in range(repeats):
        board = Dashboard(lab, auto_refresh=False)  # draws once: the cold refresh
        started = time.perf_counter()
        board.refresh()
        cold.append(time.perf_counter() - started)  # a second full draw of a young feed
        time.sleep(1)
        started = time.perf_counter()
        snap = board.refresh()
        warm.append(time.perf_counter() - started)
        assert not isinstance(snap, str) and snap.error is None
        baseline.append(raw_queries(lab.prometheus_url, None))
    board = Dashboard(lab, auto_refresh=False)
    fresh = []
    for _ in range(repeats):
        board.feed._caches.clear()  # every point of the range again
        board.feed._view = None
        started = time.perf_counter()
        board.refresh()
        fresh.append(time.perf_counter() - started)
    med = statistics.median
    return {"full_refresh_seconds": med(fresh), "incremental_refresh_seconds": med(warm),
            "second_refresh_seconds": med(cold), "prometheus_alone_seconds": med(baseline),
            "full_vs_prometheus_alone": med(fresh) / med(baseline),
            "goal_seconds": GOAL_REFRESH_SECONDS}  # fmt: skip


def main() -> None:
    import builtins
    import functools

    builtins.print = functools.partial(print, flush=True)  # progress shows in a log at once
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    quiet = io.StringIO()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="labkit-dash-") as tmp:
        settings = Settings(Path(tmp) / "twelve")
        config = config_for(12)
        try:
            up(config, settings, out=quiet)
            print("12 nodes: warming up 30 s (rate windows fill)", flush=True)
            time.sleep(30)
            lab = Lab(config, settings)
            print("the dashboard alone:")
            results["page_12_nodes"] = page_cost(lab, args.rounds, args.seconds, "?only=dashboard")
            print("the whole page (dashboard and Alertmanager view):")
            results["whole_page_12_nodes"] = page_cost(lab, args.rounds, args.seconds)
        finally:
            down(settings, out=quiet)
        settings = Settings(Path(tmp) / "hundred")
        config = config_for(100)
        try:
            up(config, settings, out=quiet, timeout=120)
            print("100 nodes: warming up 40 s")
            time.sleep(40)
            results["refresh_100_nodes"] = refresh_cost(Lab(config, settings), 5)
        finally:
            down(settings, out=quiet)
    a, b = results["page_12_nodes"], results["refresh_100_nodes"]
    whole = results["whole_page_12_nodes"]["cost_cores"]
    print(
        f"(a) 12 nodes, page open: {a['cost_cores']:.3f} cores (goal <= {GOAL_CORES}: "
        f"{a['share_of_goal']:.2f} of it); Prometheus at rest {a['prometheus_at_rest_cores']:.3f}; "
        f"the whole page {whole:.3f}"
    )
    print(
        f"(b) 100 nodes: full refresh {b['full_refresh_seconds']:.3f} s (goal < 1 s), "
        f"incremental {b['incremental_refresh_seconds']:.3f} s; Prometheus alone "
        f"{b['prometheus_alone_seconds']:.3f} s ({b['full_vs_prometheus_alone']:.1f}x)"
    )
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "dashboard.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
