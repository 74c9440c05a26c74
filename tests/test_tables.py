"""What a learner reads: counts, times, node order, wrapped tables, recovery summaries."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from labkit import tables
from labkit.recovery import Recovery
from labkit.recovery import summary as recovery_summary
from labkit.words import ago, clock, duration, joined, natural_key, parse_time, plural


@pytest.mark.parametrize(
    ("count", "word", "said"),
    [(0, "node", "0 nodes"), (1, "node", "1 node"), (2, "node", "2 nodes"),
     (1, "fault", "1 fault"), (1200, "sample", "1,200 samples")],
)  # fmt: skip
def test_plural(count: int, word: str, said: str) -> None:
    assert plural(count, word) == said


@pytest.mark.parametrize(
    ("items", "said"),
    [([], ""), (["fleet"], "fleet"), (["fleet", "receiver"], "fleet and receiver"),
     (["a", "b", "c"], "a, b and c")],
)  # fmt: skip
def test_joined(items: list[str], said: str) -> None:
    assert joined(items) == said


def test_natural_order_puts_node_2_before_node_10() -> None:
    assert sorted(["10", "2", "1", "12", "11"], key=natural_key) == ["1", "2", "10", "11", "12"]
    assert sorted(["node 10", "node 9"], key=natural_key) == ["node 9", "node 10"]
    assert sorted(["", "3"], key=natural_key) == ["", "3"]  # no node label: first, no error
    # digits other than 0-9: numbers when int() reads them (Arabic-Indic 3), else text (²)
    assert sorted(["10", "\u0663", "\u00b2", "1"], key=natural_key) == [
        "1",
        "\u0663",
        "10",
        "\u00b2",
    ]


@pytest.mark.parametrize(
    ("when", "said"),
    [("2026-11-27T11:02:05.123456789Z", "11:02:05 UTC"),  # Prometheus' nanoseconds
     ("2026-11-27T11:02:05Z", "11:02:05 UTC"),
     ("2026-11-27T12:02:05.5+01:00", "11:02:05 UTC"),
     (1_795_000_925.4, "11:22:05 UTC"),
     ("0001-01-01T00:00:00Z", "never"), (None, "never")],
)  # fmt: skip
def test_clock_reads_any_time_as_a_utc_time_of_day(when: float | str | None, said: str) -> None:
    assert clock(when) == said


def test_parse_time_keeps_the_fraction_and_the_zone() -> None:
    assert parse_time("2026-11-27T11:02:05.123456789Z") == pytest.approx(
        parse_time("2026-11-27T11:02:05Z") + 0.123457  # type: ignore[operator]
    )


@pytest.mark.parametrize(
    ("seconds", "said"),
    [(0.43, "0.4 s"), (42, "42 s"), (60, "1 min"), (75, "1 min 15 s"), (7300, "2 h 1 min"),
     (90000, "1 d 1 h")],
)  # fmt: skip
def test_durations_in_words(seconds: float, said: str) -> None:
    assert duration(seconds) == said
    assert ago(seconds) == f"{said} ago"


def test_wrap_shows_long_text_whole_and_lets_headers_break() -> None:
    why = "the ticket reads a 6 h window that still holds the hour before the burst " * 2
    frame = pd.DataFrame(
        {"alert": ["page", "ticket"], "fired_after_seconds": [6.91234, float("nan")],
         "why_they_differ": [why, "short"]}
    ).set_index("alert")  # fmt: skip
    assert len(why) > 50  # pandas would cut it at display.max_colwidth
    html = tables.wrap(frame, precision=2).to_html()
    assert why.strip() in html  # whole, not cut with "..."
    assert "fired_<wbr>after_<wbr>seconds" in html and "why_<wbr>they_<wbr>differ" in html
    assert "white-space: normal" in html and "text-align: left" in html
    assert "6.91" in html and "6.912" not in html and "NaN" in html
    assert tables.wrap(frame).data is frame  # a display only


def test_wrap_escapes_html_in_cells_and_headers() -> None:
    html = tables.wrap(pd.DataFrame({"<b>": ["<script>"]})).to_html()
    assert "<script>" not in html and "&lt;script&gt;" in html and "&lt;b&gt;" in html


def test_a_recovery_is_one_line_and_keeps_the_details() -> None:
    r = Recovery({n: [] for n in range(1, 13)} | {2: ["cpu_spike"], 4: ["error_burst"]})
    assert repr(r) == (
        "Recovery: recovered 2 faults on 2 nodes (node 2: cpu_spike; node 4: error_burst); "
        "10 nodes had nothing to recover"
    )
    assert "\n" not in repr(r)
    assert r.ended == {2: ["cpu_spike"], 4: ["error_burst"]} and r.faults == 2
    assert r.nodes == list(range(1, 13)) and r[4] == ["error_burst"] and len(r) == 12
    assert dict(r.items())[3] == [] and r == dict(r)  # still a mapping, as before


@pytest.mark.parametrize(
    ("faults", "nodes", "idle", "said"),
    [(2, 2, 10, "recovered 2 faults on 2 nodes; 10 nodes had nothing to recover"),
     (1, 1, 0, "recovered 1 fault on 1 node"),
     (1, 1, 1, "recovered 1 fault on 1 node; 1 node had nothing to recover"),
     (0, 0, 12, "nothing to recover on 12 nodes"), (0, 0, 1, "nothing to recover")],
)  # fmt: skip
def test_recovery_summary_counts(faults: int, nodes: int, idle: int, said: str) -> None:
    assert recovery_summary(faults, nodes, idle) == said


def test_many_recovered_nodes_are_counted_not_listed() -> None:
    r = Recovery({n: ["cpu_spike"] for n in range(1, 101)})
    assert repr(r) == "Recovery: recovered 100 faults on 100 nodes"


def test_lab_targets_come_in_node_order_with_readable_times(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import random
    import time

    from labkit.lab import Endpoints, Lab
    from labkit.settings import Settings

    now = time.time()
    stamp = datetime.fromtimestamp(now - 2.5, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"
    targets = [
        {"labels": {"job": "edge-nodes", "node": str(n), "instance": f"127.0.0.1:{8000 + n}"},
         "health": "up", "lastError": "", "lastScrape": stamp}
        for n in range(1, 13)
    ] + [{"labels": {"job": "prometheus", "instance": "127.0.0.1:9090"}, "health": "up",
          "lastError": "", "lastScrape": "0001-01-01T00:00:00Z"}]  # fmt: skip
    random.Random(4).shuffle(targets)
    lab = Lab(None, Settings(tmp_path), endpoints=Endpoints("http://prom", "", "", {}))
    monkeypatch.setattr(lab, "_get", lambda url: {"data": {"activeTargets": targets}})
    rows = lab.targets()
    assert [r["node"] for r in rows] == [str(n) for n in range(1, 13)]
    assert rows[0]["last_scrape"] == clock(now - 2.5) and rows[0]["last_scrape"].endswith(" UTC")
    assert 2 <= rows[0]["seconds_ago"] < 60
    every = lab.targets(job=None)
    assert every[-1]["job"] == "prometheus" and every[-1]["last_scrape"] == "never"
    assert every[-1]["seconds_ago"] is None
