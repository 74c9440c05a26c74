"""The Alertmanager view's parts as HTML (pure: a ViewState in, a string out; every value
escaped). labkit.alertview_widget puts each string in its own widget.

render_status(state)                  errors as sentences, or where the view reads from
render_groups(state)                  table.labkit-am-groups-table, one row per alert
render_silence(silence, am_url, now)  one silence's row (its Expire button is a widget)
render_notifications(state)           table.labkit-am-notifications-table, newest first
render_routes(state)                  pre.labkit-am-tree and the amtool commands
amtool_html(command)                  <code class="labkit-amtool">command</code>
"""

from __future__ import annotations

import html
import time

from labkit.alertview import Silence, ViewState, distinguishing_labels
from labkit.amtool import Amtool
from labkit.matchers import labels_text
from labkit.routing import receivers_for, tree_lines

e = html.escape
#: One style sheet for the whole view (the widget shows it once), scoped to its CSS class.
STYLE = """<style>
.labkit-am-view { font-size: 12.5px; }
.labkit-am-view .widget-html-content { line-height: 1.45; }
.labkit-am-view h4 { margin: 10px 0 3px 0; }
.labkit-am-view table { border-collapse: collapse; }
.labkit-am-view th, .labkit-am-view td { padding: 1px 8px; text-align: left; vertical-align: top; }
.labkit-am-view tbody tr:nth-child(odd) { background: rgba(0, 0, 0, 0.035); }
.labkit-am-view .labkit-amtool-line { font-size: 12px; color: #555; margin: 2px 0; }
.labkit-am-view code.labkit-amtool { font-size: 11.5px; overflow-wrap: anywhere; }
.labkit-am-view pre.labkit-am-tree { white-space: pre; overflow-x: auto; margin: 2px 0; }
.labkit-am-view .labkit-am-silence { border-bottom: 1px solid rgba(0, 0, 0, 0.08); padding: 2px 0; }
.labkit-am-view .labkit-am-quiet { color: #666; }
</style>"""
STATE_COLOR = {"active": "#b00020", "suppressed": "#6d6d6d", "pending": "#8a6d00",
               "expired": "#6d6d6d", "firing": "#b00020", "resolved": "#1b5e20"}  # fmt: skip


def clock(ts: float) -> str:
    return time.strftime("%H:%M:%S UTC", time.gmtime(ts))


def span(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def when(ts: float, now: float) -> str:
    """`08:28:15 UTC (42 s ago)` or `(in 3 min)`."""
    rel = f"{span(now - ts)} ago" if ts <= now else f"in {span(ts - now)}"
    return f"{clock(ts)} ({rel})"


def _nowrap(text: str) -> str:
    return f"<span style='white-space:nowrap'>{e(text)}</span>"


def amtool_html(command: str, label: str = "amtool") -> str:
    return (f"<div class='labkit-amtool-line'>{e(label)}: "
            f"<code class='labkit-amtool'>{e(command)}</code></div>")  # fmt: skip


def _table(css: str, head: list[str], rows: list[tuple[str, list[str]]]) -> str:
    th = "".join(f"<th>{e(h)}</th>" for h in head)
    body = "".join(
        f"<tr class='{row_css}'>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"
        for row_css, cells in rows
    )
    return f"<table class='{css}'><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _state(state: str, extra: str = "") -> str:
    color = STATE_COLOR.get(state, "#000")
    return f"<span style='color:{color};font-weight:600'>{e(state)}</span>{extra}"


def render_status(state: ViewState) -> str:
    if state.errors:
        return "".join(
            f"<div class='labkit-error' style='color:#b00020'><b>Problem:</b> {e(msg)}</div>"
            for msg in state.errors
        )
    return (f"<div style='font-size:12px;color:#555'>Alertmanager {e(state.am_url)}, "
            f"receiver {e(state.receiver_url)}; read at {e(clock(state.now))}</div>")  # fmt: skip


def render_groups(state: ViewState) -> str:
    alerts = [(g, a) for g in state.groups for a in g.alerts]
    extra = distinguishing_labels([a.labels for _, a in alerts])
    rows = []
    for (group, alert), labels in zip(alerts, extra, strict=True):
        why = ""
        if alert.silenced_by:
            ids = ", ".join(f"<span title='{e(i)}'>{e(i[:8])}</span>" for i in alert.silenced_by)
            why = f" silenced by {ids}"
        if alert.inhibited_by:
            why += " inhibited by " + e(", ".join(alert.inhibited_by))
        name = f"<span title='{e(alert.summary)}'>{e(alert.alertname)}</span>"
        since = _nowrap(when(alert.starts_at, state.now))
        # the group's labels are the alert's own (alertname, node here): name them, values on hover
        grouped = (
            f"<span title='{e(labels_text(group.labels))}'>{e(', '.join(group.labels))}</span>"
        )
        cells = [name, e(alert.node), e(labels_text(labels)), _state(alert.state, why), since,
                 e(group.receiver), grouped]  # fmt: skip
        rows.append((f"labkit-am-alert labkit-am-state-{e(alert.state)}", cells))
    head = ["alertname", "node", "labels", "state", "since", "receiver", "grouped by"]
    table = _table("labkit-am-groups-table", head, rows) if rows else "<i>no alerts</i>"
    return ("<h4>Alert groups</h4>" + table
            + amtool_html(Amtool(state.am_url).alert_query()))  # fmt: skip


def render_silence(silence: Silence, am_url: str, now: float) -> str:
    """One silence: matchers, state, start and end, who and why (and how to expire it)."""
    if silence.state == "pending":
        period = f"starts {when(silence.starts_at, now)}, ends {when(silence.ends_at, now)}"
    elif silence.state == "active":
        period = f"since {clock(silence.starts_at)}, ends {when(silence.ends_at, now)}"
    else:
        period = f"{clock(silence.starts_at)} to {when(silence.ends_at, now)}"
    body = (
        f"<code>{e(silence.matchers_text)}</code> {_state(silence.state)}, {e(period)}<br>"
        f"<span class='labkit-am-quiet'>by {e(silence.created_by or '?')}: "
        f"{e(silence.comment)} &middot; id {e(silence.id)}</span>"
    )
    if silence.state != "expired":
        body += amtool_html(Amtool(am_url).silence_expire(silence.id), "expire with amtool")
    return f"<div>{body}</div>"


def render_notifications(state: ViewState) -> str:
    notes = state.notifications
    extra = distinguishing_labels([n.get("labels") or {} for n in notes])
    rows = [
        (f"labkit-am-notification labkit-am-status-{e(str(n.get('status')))}",
         [_nowrap(when(float(n.get("ts", 0)), state.now)), e(str(n.get("route", ""))),
          _state(str(n.get("status", ""))), e(str(n.get("alertname") or "")),
          e(str(n.get("node") or "")), e(labels_text(labels))])
        for n, labels in zip(notes, extra, strict=True)
    ]  # fmt: skip
    head = ["received", "receiver", "status", "alertname", "node", "labels"]
    table = (_table("labkit-am-notifications-table", head, rows) if rows
             else "<i>no notifications yet</i>")  # fmt: skip
    return (f"<h4>Notifications at the receiver, newest first</h4>{table}"
            f"<div style='font-size:12px;color:#555'>from {e(state.receiver_url)}/notifications"
            "</div>")  # fmt: skip


def render_routes(state: ViewState) -> str:
    if state.route is None:
        return "<h4>Routing tree</h4><i>not available</i>"
    tree = "\n".join(tree_lines(state.route))
    example = {"severity": "critical"}
    goes = ", ".join(receivers_for(state.route, example))
    amtool = Amtool(state.am_url)
    return (
        "<h4>Routing tree</h4>"
        f"<pre class='labkit-am-tree'>{e(tree)}</pre>"
        + amtool_html(amtool.routes_show())
        + f"<div style='font-size:12px'>an alert with {e(labels_text(example))} goes to "
        f"<b>{e(goes)}</b></div>" + amtool_html(amtool.routes_test(example))
    )
