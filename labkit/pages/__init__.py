"""The lab's own pages, served by Voilà on loopback with the lab (`labkit up`, component
"dashboard"): dashboard.ipynb (the live dashboard and the Alertmanager view) and
alertmanager.ipynb (the Alertmanager view alone). Each is two cells: the work is in
`labkit.pages.view.page`. They ship inside the package so every way of installing labkit has
them. This module is what the lab needs to serve them (their folder, their addresses); the
widgets are in labkit.pages.view, a layer above."""

from __future__ import annotations

from pathlib import Path

FOLDER = Path(__file__).resolve().parent
#: on JUPYTER_PATH for Voilà: its voila/templates/labkit is the lab template without the two
#: stylesheets Voilà links from a CDN, so the pages load nothing from the internet
SHARE = FOLDER.parent / "share"
TEMPLATE = "labkit"
PAGES = {"dashboard": "dashboard.ipynb", "alertmanager": "alertmanager.ipynb"}


def path(base_url: str, name: str = "dashboard") -> str:
    """The address of a page on the Voilà server at `base_url`."""
    return f"{base_url.rstrip('/')}/voila/render/{PAGES[name]}"
