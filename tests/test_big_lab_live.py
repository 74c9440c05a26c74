"""A big lab, for real: 101 nodes, one more than labkit.stack.TIERED_FROM_NODES, so its SLO
windows longer than 10 s and its period are built from 10-second tiles (labkit.slo_rules
Options.tiles), its past holds the tiles and its Prometheus runs with GOGC=300. The real Prometheus records and reads them; what
they give agrees with Prometheus' own rates over the raw series, the period's budget counts the
whole backfilled day, and lesson 3's error burst fires the page alert as theory says, at most
one tile later."""

from __future__ import annotations

import io
import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labkit.lab import Lab
from labkit.lessons.burn import compare_alerts
from labkit.lessons.burn_theory import disagreements
from labkit.past import Past
from labkit.processes import read_pid
from labkit.stack import TIERED_FROM_NODES, LabPaths, tiled
from tests.conftest import running_lab, wait_for
from tests.test_past_live import TOLERANCE

pytestmark = pytest.mark.live
NODES = TIERED_FROM_NODES + 1
TILE_SECONDS = 10  # lab-day's base window
SLOS = ("availability", "node-availability", "latency", "node-latency")


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(NODES, tmp_path_factory.mktemp("big-lab"), io.StringIO()) as lab:
        assert tiled(lab.config)
        yield lab


def value(lab: Lab, expr: str, at: float | None = None) -> float:
    rows = lab.query(expr, at=at)
    assert len(rows) == 1, (expr, rows)
    return float(rows[0]["value"][1])


def test_every_slo_records_its_tiles_every_10s_and_its_past_holds_them(big: Lab) -> None:
    def evaluated() -> dict[str, Any]:
        with urllib.request.urlopen(f"{big.prometheus_url}/api/v1/rules", timeout=10) as r:
            found = {g["name"]: g for g in json.load(r)["data"]["groups"]}
        tiles = [g for name, g in found.items() if "-tiles-" in name]
        return found if all(g["lastEvaluation"] > "2000" for g in tiles) else {}

    groups = wait_for("every tile group's first evaluation", evaluated)
    for slo in SLOS:
        tiles = groups[f"sloth-slo-sli-tiles-edge-{slo}"]
        assert tiles["interval"] == TILE_SECONDS
        assert [r["name"] for r in tiles["rules"]] == [
            "slo:sli_errors:rate10s",
            "slo:sli_total:rate10s",
            *(f"slo:sli_error:ratio_rate{w}" for w in ("1m", "2m", "4m", "12m", "48m")),
        ]
        assert all(r["health"] == "ok" for r in tiles["rules"]), tiles
    past = Past.load(LabPaths(big.settings.state_dir).past)
    an_hour_ago = past.seam - 3600
    one = '{sloth_slo="node-availability", node="7"}'
    count = value(big, f"count_over_time(slo:sli_total:rate10s{one}[1h])", at=an_hour_ago)
    assert abs(count - 3600 / TILE_SECONDS) <= 1  # one tile per base window
    assert not big.query("slo:sli_error:ratio_rate10s", at=an_hour_ago)  # tiles, not ratios
    pid = read_pid(LabPaths(big.settings.state_dir).pid("prometheus"))
    assert b"GOGC=300" in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    wait = past.seam + 3 * TILE_SECONDS - time.time()
    time.sleep(max(0.0, wait))  # live tiles on the other side of the seam
    live = value(big, f"count_over_time(slo:sli_total:rate10s{one}[25s])")
    assert 2 <= live <= 3


def test_windows_built_from_tiles_agree_with_rates_over_the_raw_series(big: Lab) -> None:
    """At rest, the 2h24m window (the longest, 864 tiles) and the 4m one, for the fleet."""

    def every_slo_has_its_longest_window() -> bool:
        rows = big.query("count by (sloth_slo) (slo:sli_error:ratio_rate2h24m)")
        return {r["metric"]["sloth_slo"] for r in rows} == set(SLOS)

    # each SLO has its own 30 s group, evaluated at its own offset in the interval
    wait_for("every 30 s group's first evaluation", every_slo_has_its_longest_window, timeout=45)
    for window in ("4m", "2h24m"):
        total_tiles = (
            f'sum_over_time(slo:sli_total:rate10s{{sloth_slo="availability"}}[{window}]) / '
            f'count_over_time(slo:sli_total:rate10s{{sloth_slo="availability"}}[{window}])'
        )
        raw_total = f"sum(rate(node_requests_total[{window}]))"
        tiles, raw = value(big, total_tiles), value(big, raw_total)
        assert tiles == pytest.approx(raw, rel=0.02), window
    raw_ratio = {
        "availability": 'sum(rate(node_requests_total{status="error"}[2h24m])) / '
        "sum(rate(node_requests_total[2h24m]))",
        "latency": '1 - sum(rate(node_request_latency_seconds_bucket{le="0.5"}[2h24m])) / '
        "sum(rate(node_request_latency_seconds_count[2h24m]))",
    }
    for slo, expr in raw_ratio.items():
        recorded = value(big, f'slo:sli_error:ratio_rate2h24m{{sloth_slo="{slo}"}}')
        raw = value(big, expr)
        assert raw > 0 and recorded == pytest.approx(raw, rel=0.05), (slo, recorded, raw)


def test_the_period_budget_counts_the_whole_day(big: Lab) -> None:
    query = 'slo:period_error_budget_remaining:ratio{sloth_slo="node-availability"}'
    # the period's ratio is recorded by the longest tier's 30 s group, at its own offset in
    # the interval: it may not have run yet (CI saw none)
    rows = wait_for("the period's 30 s group's first evaluation",
                    lambda: big.query(query) or None, timeout=45)  # fmt: skip
    assert len(rows) == NODES
    # a day at rest spends a few per cent of the budget, not nothing and not all
    assert all(0.8 < float(r["value"][1]) < 1.0 for r in rows), rows


@pytest.mark.timeout(300)
def test_lesson_3_error_burst_fires_the_page_as_theory_says(big: Lab) -> None:
    burst = compare_alerts(big, failure="error_burst", prefer=2)
    assert burst.attrs["node"] == 2
    report = json.dumps(burst.reset_index().to_dict("records"), default=str)
    # the page's long windows (2m, 12m) are built from tiles: they may see the burst a tile late
    assert disagreements(burst, TOLERANCE + TILE_SECONDS) == [], report
    assert all(not isinstance(v, str) for v in burst["fired after (s)"]), report
