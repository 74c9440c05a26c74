"""Where a learner points a browser, and where a script points its HTTP client: the pages a
lab's Prometheus really serves, the address lines `labkit up` and `labkit status` print, and
the document `labkit status --json` prints.

Prometheus comes with one of two web UIs. Upstream builds serve the React UI at /graph,
/alerts, /targets, ... (Prometheus 3 redirects /graph to /query). Debian's package (2.42 here)
leaves the React UI out and serves only the classic UI under /classic/: /classic/alerts
answers, /alerts answers "404 page not found". `probe_classic_ui` asks the server which
one it has; `labkit up` asks once and records the answer in lab.json, `Lab` asks lazily for a
lab labkit did not start. Debian's Alertmanager has no web UI at all (its page says so):
labkit's own Alertmanager view is on the dashboard page, and the API is /api/v2/.

    prometheus_page("http://127.0.0.1:9090", "alerts", classic=True)
        -> "http://127.0.0.1:9090/classic/alerts"
"""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from labkit.errors import InvalidInput

if TYPE_CHECKING:
    from labkit.stack import LabConfig

#: The pages both UIs serve (the classic UI has no tsdb-status page).
PROMETHEUS_PAGES = ("graph", "alerts", "targets", "rules", "status", "config", "flags",
                    "service-discovery")  # fmt: skip
#: Alertmanager's API, under its base URL; `/api/v2/alerts` lists the alerts it holds.
ALERTMANAGER_API = "/api/v2"


def prometheus_page(base_url: str, page: str, classic: bool) -> str:
    """The address of one Prometheus UI page: under /classic/ when the server serves only
    the classic UI (Debian's package), at the root otherwise."""
    if page not in PROMETHEUS_PAGES:
        raise InvalidInput("page", page, "one of " + ", ".join(PROMETHEUS_PAGES))
    return f"{base_url.rstrip('/')}{'/classic' if classic else ''}/{page}"


def _answers(url: str, timeout: float) -> bool:
    from labkit.auth import headers

    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers(url)),
                                    timeout=timeout) as r:  # fmt: skip
            return bool(r.status == 200)
    except (OSError, ValueError):  # HTTPError (a 404) is an OSError too
        return False


def probe_classic_ui(
    base_url: str, timeout: float = 2.0, answers: Callable[[str, float], bool] = _answers
) -> bool | None:
    """True when the Prometheus at `base_url` serves only the classic UI, False when it
    serves the new one at /alerts, None when neither page answers (not reachable yet)."""
    base = base_url.rstrip("/")
    if answers(f"{base}/alerts", timeout):
        return False
    if answers(f"{base}/classic/alerts", timeout):
        return True
    return None


def prometheus_pages(base_url: str, classic: bool | None) -> dict[str, str]:
    """graph, alerts, targets and rules pages; with `classic` unknown, only the root, which
    redirects to whichever UI the server has."""
    if classic is None:
        return {"graph": base_url.rstrip("/")}
    return {
        p: prometheus_page(base_url, p, classic) for p in ("graph", "alerts", "targets", "rules")
    }


def address_lines(config: LabConfig, classic: bool | None) -> list[str]:
    """What `labkit up` and `labkit status` print: every address a learner opens."""
    from labkit.auth import credentials, page

    pages = prometheus_pages(config.prometheus_url, classic)
    last = config.base_port + config.nodes - 1
    ui = {True: "   (the classic UI: this Prometheus has no other)", False: "", None: ""}[classic]
    lines = [
        f"  dashboard      {page(config.dashboard_page)}",
        f"  Prometheus     {pages['graph']}{ui}",
        *(f"    {page:<13}{pages[page]}" for page in ("alerts", "targets") if page in pages),
        f"  Alertmanager   {page(config.alertmanager_page)}   (labkit's view; also on the "
        "dashboard)",
        f"    API          {config.alertmanager_url}{ALERTMANAGER_API}/alerts",
        f"  receiver       {config.receiver_url}/notifications",
        f"  nodes          {config.url(config.base_port)}/metrics ... :{last}",
    ]
    if credentials(config.prometheus_url) is not None:
        lines.append("  credentials    every address asks for them (--auth): user labkit, the "
                     "password in the state folder's auth/password; the dashboard's links "
                     "carry it")  # fmt: skip
    return lines


def status_document(
    config: LabConfig,
    classic: bool | None,
    components: list[dict[str, Any]],
    targets: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """`labkit status --json`: the running lab's addresses, its components' state (rows of
    `stack.status_rows`) and, when Prometheus answers, its scrape targets."""
    from labkit.auth import page

    layout = config.layout()
    doc: dict[str, Any] = {
        "prometheus": config.prometheus_url,
        "alertmanager": config.alertmanager_url,
        "receiver": config.receiver_url,
        "dashboard": page(config.dashboard_page),
        "alertmanager_view": page(config.alertmanager_page),
        "auth": config.auth,
        "nodes": [layout.url(i) for i in sorted(layout.ports)],
        "prometheus_ui": {True: "classic", False: "new", None: "unknown"}[classic],
        "prometheus_pages": prometheus_pages(config.prometheus_url, classic),
        "alertmanager_api": config.alertmanager_url + ALERTMANAGER_API,
        "notifications": config.receiver_url + "/notifications",
        "components": {
            c["component"]: {"pid": c["pid"], "state": c["state"], "ready_url": c["url"]}
            for c in components
        },
    }
    if targets is not None:
        doc["targets"] = targets
    return doc
