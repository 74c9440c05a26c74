"""Recompute an availability SLI and its budget from the raw counters, with pandas, and set
the result beside what Prometheus' recording rule says and what each node reports.

    recompute(prom, window="2m")   one row per node, three figures side by side, and why
                                   they differ

Three numbers for "how much budget is left", each honest about what it measures:
  pandas     errors / requests counted from the raw node_requests_total samples in the window
             (the increase between the first and last sample; counter resets handled);
  recorded   slo:sli_error:ratio_rate<window>, from Prometheus' rate(), which extrapolates the
             increase to the window's edges, so it reads slightly differently on short windows;
  node       error_budget_remaining, computed by the node itself from its *expected* errors
             (error probability x traffic) over its own 600 s window, not from sampled requests.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from labkit.slo import check_objective
from labkit.slo_spec import parse_duration, ratio_record

if TYPE_CHECKING:
    import pandas as pd

    from labkit.query import Prom


def counter_increase(samples: pd.Series) -> float:
    """Increase of a counter over its samples, as the sum of its rises (a drop is a reset:
    the value after it counts from zero)."""
    values = samples.to_numpy()
    if len(values) < 2:
        return 0.0
    diffs = values[1:] - values[:-1]
    return float(sum(d if d >= 0 else values[i + 1] for i, d in enumerate(diffs)))


def recompute(
    prom: Prom,
    window: str = "2m",
    objective: float = 0.999,
    end: float | None = None,
    slo_name: str = "node-availability",
) -> pd.DataFrame:
    """Per node: the SLI error ratio and remaining budget over `window`, three ways."""
    import pandas as pd

    check_objective(objective)
    seconds = parse_duration(window, "window")
    end = time.time() if end is None else end
    raw = prom.range("node_requests_total", end - seconds, end, step=1)
    rows = []
    if not raw.empty:
        for (node, status), part in raw.groupby(["node", "status"], observed=True):
            rows.append(
                {"node": node, "status": status, "increase": counter_increase(part["value"])}
            )
    counts = pd.DataFrame(rows, columns=["node", "status", "increase"])
    table = counts.pivot_table(
        index="node", columns="status", values="increase", observed=True, fill_value=0.0
    )
    table = table.reindex(columns=["success", "error"], fill_value=0.0)
    table["requests"] = table["success"] + table["error"]
    table["pandas_error_ratio"] = table["error"] / table["requests"]
    budget = 1 - objective
    table["pandas_budget_remaining"] = 1 - table["pandas_error_ratio"] / budget
    recorded = prom.instant(f'{ratio_record(window)}{{sloth_slo="{slo_name}"}}', at=end)
    node_gauge = prom.instant("error_budget_remaining", at=end)
    table["recorded_error_ratio"] = _by_node(recorded)
    table["recorded_budget_remaining"] = 1 - table["recorded_error_ratio"] / budget
    table["node_budget_remaining"] = _by_node(node_gauge)
    table["why_they_differ"] = [
        _explain(r.pandas_error_ratio, r.recorded_error_ratio, r.error)
        + _node_note(r.recorded_budget_remaining, r.node_budget_remaining, r.error)
        for r in table.itertuples()
    ]
    table.index = table.index.astype(int)
    table.columns.name = None  # the pivot's "status": not a heading a learner should see
    return table.sort_index().rename(columns={"error": "errors", "success": "successes"})


def _by_node(frame: pd.DataFrame) -> pd.Series:
    import pandas as pd

    if frame.empty or "node" not in frame:
        return pd.Series(dtype=float)
    return frame.set_index(frame["node"].astype(str))["value"]


def _node_note(recorded_remaining: float, node_remaining: float, errors: float) -> str:
    """Why the node's own budget tells another story, said only where it does."""
    if node_remaining != node_remaining or abs(node_remaining - recorded_remaining) < 0.2:
        return ""
    if errors == 0:
        return ("; the node's own budget still carries an earlier burst: it counts the last "
                "600 s, not this window")  # fmt: skip
    return "; the node's own budget counts expected errors over its last 600 s, not this window"


def _explain(pandas_ratio: float, recorded_ratio: float, errors: float) -> str:
    if errors == 0:
        return "no errors in the window: both SLIs are 0"
    if recorded_ratio != recorded_ratio:  # NaN: not recorded yet
        return "no recorded value yet: the recording rule needs a full window of samples"
    gap = abs(pandas_ratio - recorded_ratio) / max(pandas_ratio, recorded_ratio)
    if gap < 0.05:
        return "pandas and the recording rule agree (within 5 %)"
    return (f"{gap:.0%} apart: rate() extrapolates to the window's edges and sees a slightly "
            "different set of samples than the raw increase")  # fmt: skip
