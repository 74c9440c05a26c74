"""The control panel's parts as HTML (every value escaped), from labkit.lessons.panel's data:

node_grid(state, chosen)     one small tile per node: its id, health and active faults
alerts_table(state)          the firing alerts, one row per alert, saying where it is
history_list(history, now)   the last injections, each a sentence with its detection time
describe(record, now)        "cpu_spike on node 3, 11:02:05 UTC, 30 s: <its alert> fired
                              after 0.45 s, resolved after recovery"
problem(state), links(state)

CSS classes (stable for browser tests): labkit-node-grid (tiles: labkit-node-tile, with
labkit-node-ok / -fault / -down and labkit-node-chosen), labkit-alerts (the table; one
tr.labkit-alert per alert), labkit-history (one li.labkit-injection per injection, newest
first), labkit-error.
"""

from __future__ import annotations

import html
import time
from collections import Counter
from typing import Any

from labkit.lessons.panel import PanelState, Record

e = html.escape

STYLE = """<style>
.labkit-node-grid{display:flex;flex-wrap:wrap;gap:4px;margin:2px 0}
.labkit-node-tile{flex:1 1 62px;max-width:110px;min-height:38px;padding:2px 5px;
  border-radius:4px;font-size:11px;line-height:1.3;border:2px solid transparent;
  box-sizing:border-box;overflow:hidden}
.labkit-node-tile b{font-size:13px}
.labkit-node-ok{background:#e8f5e9;color:#1b5e20}
.labkit-node-fault{background:#fff3e0;color:#8a4b00}
.labkit-node-down{background:#ffebee;color:#b00020}
.labkit-node-chosen{border-color:#1565c0}
.labkit-alerts-box{max-height:260px;overflow-y:auto}
table.labkit-alerts{font-size:12px;border-collapse:collapse}
table.labkit-alerts th,table.labkit-alerts td{text-align:left;padding:1px 8px}
.labkit-history{margin:2px 0;padding-left:18px;font-size:12px}
.labkit-panel-part h4{margin:6px 0 2px}
</style>"""


def node_words(nodes: list[int]) -> str:
    """Node ids in words: "node 3", "nodes 2, 5", "nodes 1-4, 6"."""
    spans: list[list[int]] = []
    for n in sorted(nodes):
        if spans and n == spans[-1][-1] + 1:
            spans[-1].append(n)
        else:
            spans.append([n])
    text = ", ".join(f"{s[0]}-{s[-1]}" if len(s) > 2 else ", ".join(map(str, s)) for s in spans)
    return f"node{'s' if len(nodes) != 1 else ''} {text}"


def _outcome(record: Record, node: int, now: float) -> str:
    """What the alert did on one node, after its detection time."""
    if record.detected.get(node) is None:
        return "not fired yet" if record.fault_on(node, now) else "did not fire"
    if node in record.firing:
        return "firing"
    if node in record.recovered_at:
        return "resolved after recovery"
    if not record.fault_on(node, now):
        return "resolved when the fault ended"
    return "resolved"


def describe(record: Record, now: float) -> str:
    """One injection and what its alert did, as a sentence (plain text)."""
    inj = record.injection
    nodes = inj.nodes
    clock = time.strftime("%H:%M:%S", time.gmtime(inj.at))
    head = f"{inj.failure} on {node_words(nodes)}, {clock} UTC, {inj.duration_seconds:g} s"
    times = {n: s for n, s in record.detected.items() if s is not None}
    if not times:
        fired = f"{inj.alert} {_outcome(record, nodes[0], now)}" if nodes else inj.alert
        if len(nodes) > 1:
            fired += " on any of them"
    elif len(nodes) == 1:
        fired = f"{inj.alert} fired after {times[nodes[0]]:.2f} s"
    elif len(times) <= 3:
        each = ", ".join(f"{s:.2f} s (node {n})" for n, s in sorted(times.items()))
        fired = f"{inj.alert} fired after {each}"
    else:
        low, high = min(times.values()), max(times.values())
        count = f"{len(times)} of {len(nodes)} nodes"
        fired = f"{inj.alert} fired on {count} after {low:.2f}-{high:.2f} s"
    if times:
        outcomes = Counter(_outcome(record, n, now) for n in nodes)
        if len(outcomes) == 1:
            fired += f", {next(iter(outcomes))}"
        else:
            fired += ", " + ", ".join(f"{what} on {k}" for what, k in outcomes.most_common())
    restarted = ", timer restarted (it was already active)" if inj.restarted else ""
    return f"{head}{restarted}: {fired}"


def history_list(history: list[Record], now: float) -> str:
    if not history:
        return ("<div class='labkit-history-empty'><i>none yet: your injections and their "
                "detection times are listed here</i></div>")  # fmt: skip
    items = "".join(
        f"<li class='labkit-injection'>{e(describe(r, now))}</li>" for r in reversed(history)
    )
    return f"<ul class='labkit-history'>{items}</ul>"


def node_grid(state: PanelState, chosen: set[int]) -> str:
    tiles = []
    for n in state.nodes:
        faults = [f"{a['failure']} {a['seconds_left']:.0f} s" for a in n["active"]]
        health = n["health"]
        kind = "ok" if health == "ok" and not faults else "down" if health != "ok" else "fault"
        lines = [f"<b>{n['node']}</b> {e(health)}", *map(e, faults)]
        css = f"labkit-node-tile labkit-node-{kind}"
        if n["node"] in chosen:
            css += " labkit-node-chosen"
        title = f"node {n['node']}: {health}" + (f"; {', '.join(faults)}" if faults else "")
        tiles.append(f"<div class='{css}' title='{e(title)}'>{'<br>'.join(lines)}</div>")
    return f"<div class='labkit-node-grid'>{''.join(tiles)}</div>"


def alerts_table(state: PanelState) -> str:
    if state.error:
        return ""
    if not state.alerts:
        return "<h4>Firing alerts</h4><i>none</i>"
    head = "".join(f"<th>{h}</th>" for h in
                   ["alert", "node", "details", "severity", "where", "age"])  # fmt: skip
    rows = []
    for a in state.alerts:
        where = a["where"] + (" (silenced)" if a.get("silenced") else "")
        cells = [e(a["alertname"]), e(str(a["node"])), e(a["details"]), e(a["severity"]),
                 e(where), f"{a['age_seconds']:.0f} s"]  # fmt: skip
        rows.append("<tr class='labkit-alert'>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    note = (
        "<div style='font-size:11px;color:#555'>where: <b>both</b> = firing in Prometheus and "
        "held by Alertmanager; <b>Prometheus</b> = not in Alertmanager yet; <b>Alertmanager</b> "
        "= resolved in Prometheus, not yet in Alertmanager</div>"
    )
    return (
        f"<h4>Firing alerts ({len(rows)})</h4><div class='labkit-alerts-box'>"
        f"<table class='labkit-alerts'><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>{note}"
    )


def problem(state: PanelState) -> str:
    if not state.error:
        return ""
    return f"<div class='labkit-error' style='color:#b00020'><b>Problem:</b> {e(state.error)}</div>"


def links(state: PanelState) -> str:
    items = [f"<a href='{e(url)}' target='_blank'>{e(title)}</a>"
             for title, url in state.links.items() if url]  # fmt: skip
    if not items:
        return ""
    return f"<div class='labkit-links' style='font-size:12px'>See also: {' · '.join(items)}</div>"


def everything(state: PanelState, history: list[Record], chosen: set[int]) -> dict[str, Any]:
    """Every part at once, by name (what the widget puts in its HTML parts)."""
    return {
        "problem": problem(state),
        "grid": node_grid(state, chosen),
        "alerts": alerts_table(state),
        "history": "<h4>Last injections</h4>" + history_list(history, state.now),
        "links": links(state),
    }
