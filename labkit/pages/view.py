"""A page's widgets: a header with the lab's addresses, then the views (what the two pages'
notebooks display)."""

from __future__ import annotations

import os
import urllib.parse
from typing import Any


def page(which: str = "dashboard", query: str | None = None) -> Any:
    """The widgets of a page: a header with the lab's addresses, then the views. The page's
    address may narrow the dashboard page to one view: `?only=dashboard` or
    `?only=alertmanager` (Voilà hands the query string to the kernel as QUERY_STRING)."""
    import ipywidgets as w

    from labkit.dashboard_widget import Dashboard, header

    if query is None:
        query = os.environ.get("QUERY_STRING", "")
    only = urllib.parse.parse_qs(query).get("only", [""])[0]
    parts: list[Any] = [header(which)]
    if which == "dashboard" and only != "alertmanager":
        parts.append(Dashboard().widget)
        if only != "dashboard":
            parts.append(w.HTML("<h2 style='margin:18px 0 4px'>Alertmanager</h2>"))
    if only != "dashboard":
        parts.append(_alertmanager_view())
    return w.VBox(parts, layout={"width": "100%", "padding": "0 12px"})


def _alertmanager_view() -> Any:
    from labkit.alertview_widget import AlertmanagerView

    return AlertmanagerView().widget
