"""The lab's own pages, served by Voilà on loopback with the lab (`labkit up`, component
"dashboard"): dashboard.ipynb (the live dashboard and the Alertmanager view) and
alertmanager.ipynb (the Alertmanager view alone). Each is two cells: the work is in
`labkit.pages.page`. They ship inside the package so every way of installing labkit has them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

FOLDER = Path(__file__).resolve().parent
PAGES = {"dashboard": "dashboard.ipynb", "alertmanager": "alertmanager.ipynb"}


def path(base_url: str, name: str = "dashboard") -> str:
    """The address of a page on the Voilà server at `base_url`."""
    return f"{base_url.rstrip('/')}/voila/render/{PAGES[name]}"


def page(which: str = "dashboard") -> Any:
    """The widgets of a page: a header with the lab's addresses, then the views."""
    import ipywidgets as w

    from labkit.dashboard_widget import Dashboard, header

    parts: list[Any] = [header(which)]
    if which == "dashboard":
        parts += [Dashboard().widget, w.HTML("<h2 style='margin:18px 0 4px'>Alertmanager</h2>")]
    parts.append(_alertmanager_view())
    return w.VBox(parts, layout={"width": "100%", "padding": "0 12px"})


def _alertmanager_view() -> Any:
    from labkit.alertview_widget import AlertmanagerView

    return AlertmanagerView().widget
