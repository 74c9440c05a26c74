"""`Lab`: one handle on a running lab, for notebooks, widgets and tests.

lab = Lab.open()                # connect to the running lab, or start one
lab.inject(3, "cpu_spike", 30)
lab.recover("all")              # Recovery: "recovered 1 fault on 1 node; ..." (.ended: details)
lab.prometheus_alerts()         # as Prometheus sees them
lab.alertmanager_alerts()       # as Alertmanager holds them
lab.notifications()             # as the receiver got them
lab.urls                        # where to look: dashboard, Prometheus' pages, Alertmanager, ...
lab.prometheus_page("alerts")   # a page of Prometheus' UI that exists (classic or new)
lab.stop()

lab = Lab.open("runs/one-of-each")  # a recorded history (labkit history / labkit archive):
lab.history                     # starts a Prometheus over it; lab.history says what it holds
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labkit.addresses import probe_classic_ui, prometheus_page
from labkit.client import FleetClient, request_json
from labkit.errors import InvalidInput, LabkitError, LabNotRunning, LabNotStarted
from labkit.recording import HistoryInfo
from labkit.recovery import Recovery
from labkit.settings import Settings
from labkit.stack import (
    NODE_JOB,
    LabConfig,
    LabPaths,
    down,
    load_config,
    read_pid,
    recorded_classic_ui,
    up,
    use_credentials,
)
from labkit.words import clock, natural_key, parse_time, plural

Nodes = int | str | list[int]


@dataclass(frozen=True)
class Endpoints:
    """Base URLs (no trailing slash), but `dashboard`: the dashboard page to open, "" when
    there is none (a replay)."""

    prometheus: str
    alertmanager: str
    receiver: str
    nodes: dict[int, str]
    dashboard: str = ""

    @classmethod
    def of(cls, config: LabConfig) -> Endpoints:
        layout = config.layout()
        nodes = {i: layout.url(i) for i in layout.ports}
        return cls(config.prometheus_url, config.alertmanager_url, config.receiver_url, nodes,
                   config.dashboard_page)  # fmt: skip

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Endpoints | None:
        """LABKIT_PROMETHEUS_URL (required), LABKIT_ALERTMANAGER_URL, LABKIT_RECEIVER_URL,
        LABKIT_DASHBOARD_URL, and the nodes: LABKIT_NODE_URLS (node 1's URL, node 2's, ...,
        separated by commas or spaces), else LABKIT_NODES nodes at LABKIT_NODE_URL (a
        template with {id} and {port}, the port 8000 + id as in the compose stack). Each
        defaults to the embedded lab's seed address."""
        if not env.get("LABKIT_PROMETHEUS_URL"):
            return None
        given = env.get("LABKIT_NODE_URLS", "").replace(",", " ").split()
        if given:
            nodes = {i: url.rstrip("/") for i, url in enumerate(given, start=1)}
        else:
            count = env.get("LABKIT_NODES", "12")
            if not count.isdecimal() or int(count) < 1:
                raise InvalidInput("LABKIT_NODES", count, "a whole number of nodes, 1 or more")
            template = env.get("LABKIT_NODE_URL", "http://127.0.0.1:{port}")
            nodes = {i: template.format(id=i, port=8000 + i) for i in range(1, int(count) + 1)}
        return cls(
            env["LABKIT_PROMETHEUS_URL"].rstrip("/"),
            env.get("LABKIT_ALERTMANAGER_URL", "http://127.0.0.1:9093").rstrip("/"),
            env.get("LABKIT_RECEIVER_URL", "http://127.0.0.1:9095").rstrip("/"),
            nodes,
            env.get("LABKIT_DASHBOARD_URL", LabConfig().dashboard_page),
        )


class Lab:
    def __init__(
        self,
        config: LabConfig | None,
        settings: Settings,
        timeout: float = 5.0,
        endpoints: Endpoints | None = None,
    ) -> None:
        if endpoints is None:
            if config is None:
                raise ValueError("Lab needs a LabConfig or Endpoints")
            endpoints = Endpoints.of(config)
        self.config = config  # None for a lab labkit did not start (compose)
        self.settings = settings
        self.timeout = timeout
        self.endpoints = endpoints
        self._fleet = FleetClient(endpoints.nodes, timeout=timeout) if endpoints.nodes else None
        self.history: HistoryInfo | None = None  # set when this lab is a replayed recording
        self.history_dir: Path | None = None
        # which UI Prometheus serves: as `labkit up` recorded it, else asked on first use
        self._classic_ui: bool | None = (
            recorded_classic_ui(LabPaths(settings.state_dir)) if config is not None else None
        )
        if config is not None:  # its secret, when it asks for one (labkit.auth)
            use_credentials(config, LabPaths(settings.state_dir), strict=False)

    # -- finding or starting a lab ---------------------------------------------------------

    @classmethod
    def connect(cls, state_dir: Path | str | None = None) -> Lab:
        """The lab named by LABKIT_PROMETHEUS_URL and friends, else the one running from
        `state_dir` (default: the project's .lab/)."""
        settings = Settings(Path(state_dir).resolve()) if state_dir else Settings.from_env()
        endpoints = Endpoints.from_env(os.environ) if state_dir is None else None
        if endpoints is not None:
            return cls(None, settings, endpoints=endpoints)
        config = load_config(LabPaths(settings.state_dir))
        if config is None or read_pid(LabPaths(settings.state_dir), "prometheus") is None:
            raise LabNotRunning(settings.state_dir)
        return cls(config, settings)

    @classmethod
    def connect_or_none(cls, state_dir: Path | str | None = None) -> Lab | None:
        """The running lab, or None (a widget then says how to start one)."""
        try:
            return cls.connect(state_dir)
        except LabkitError:
            return None

    @classmethod
    def start(
        cls, state_dir: Path | str | None = None, *, quiet: bool = True, **config: Any
    ) -> Lab:
        """Start the embedded lab (LabConfig fields as keywords) and connect to it. Under
        JupyterHub, as labkit.hub starts it: with its secret, its pages under the server's
        prefix, on free ports (the last ones when free) unless ports are given."""
        from labkit.stack import PORT_FIELDS, free_ports

        settings = Settings(Path(state_dir).resolve()) if state_dir else Settings.from_env()
        shared = bool(os.environ.get("JUPYTERHUB_USER"))
        if shared:
            prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "")
            config = {"auth": True, "proxy_prefix": prefix, **config}
        lab_config = LabConfig(**config)
        if shared and not any(field in config for field in PORT_FIELDS):
            lab_config = free_ports(lab_config, LabPaths(settings.state_dir))
        up(lab_config, settings, out=io.StringIO() if quiet else sys.stdout)
        return cls(lab_config, settings)

    @classmethod
    def replay(cls, source: Path | str, port: int | None = None) -> Lab:
        """A recorded history (a `labkit history` directory or a `labkit archive` file)
        served by a Prometheus of its own on loopback: PromQL only, no nodes to inject."""
        from labkit import replay

        settings = Settings.from_env()
        directory = replay.resolve(source, settings)
        url = replay.start(directory, port=port)
        lab = cls(None, settings, endpoints=Endpoints(url, "", "", {}))
        lab.history = HistoryInfo.load(directory)
        lab.history_dir = directory
        return lab

    @classmethod
    def open(cls, state_dir: Path | str | None = None, **config: Any) -> Lab:
        """Connect to the running lab, or start one; given a recorded history or an archive,
        replay it (see `Lab.replay`)."""
        if state_dir is not None and (
            (Path(state_dir) / "history.json").exists()
            or str(state_dir).endswith((".tar.gz", ".tgz"))
        ):
            return cls.replay(state_dir, **config)
        try:
            return cls.connect(state_dir)
        except LabNotRunning as exc:
            from labkit.hub import problem

            said = problem(exc.state_dir)  # under JupyterHub: the lab failed to start
            if said is not None:
                raise LabNotStarted(said) from None
            return cls.start(state_dir, **config)

    def stop(self) -> None:
        """Stop the embedded lab or the replay (a compose stack: docker compose down)."""
        if self.history_dir is not None:
            from labkit import replay

            replay.stop(self.history_dir)
            return
        if self.config is None:
            raise LabkitError("this lab was not started by labkit: stop it where it was started")
        down(self.settings, out=io.StringIO(), quiet=True)

    @property
    def fleet(self) -> FleetClient:
        if self._fleet is None:
            raise LabkitError(
                "this lab is a replayed recording: it has PromQL but no nodes to inject into"
            )
        return self._fleet

    # -- addresses ---------------------------------------------------------------------------

    @property
    def prometheus_url(self) -> str:
        return self.endpoints.prometheus

    @property
    def alertmanager_url(self) -> str:
        return self.endpoints.alertmanager

    @property
    def receiver_url(self) -> str:
        return self.endpoints.receiver

    @property
    def dashboard_url(self) -> str:
        """The dashboard page (labkit's dashboard and Alertmanager view; Grafana in compose),
        to open in a browser: with the lab's token when it asks for credentials (--auth);
        behind a proxy (JupyterHub), the proxy's path, which needs no token."""
        from labkit.auth import page
        from labkit.pages import path

        if self.behind_proxy:
            return path(self._proxied("labkit"), "dashboard")
        return page(self.endpoints.dashboard)

    @property
    def behind_proxy(self) -> bool:
        """Whether a learner's browser reaches this lab's web UIs through a proxy (JupyterHub's
        jupyter-server-proxy: `labkit up --proxy-prefix`), not on loopback."""
        return self.config is not None and bool(self.config.proxy_prefix)

    def _proxied(self, name: str) -> str:
        assert self.config is not None
        return self.config.proxied(name).rstrip("/")

    def node_url(self, node_id: int) -> str:
        return self.fleet.url(node_id)

    @property
    def prometheus_classic_ui(self) -> bool | None:
        """True when this lab's Prometheus serves only the classic UI (Debian's package),
        False for the new UI, None while it cannot be asked (it does not answer)."""
        if self._classic_ui is None:
            self._classic_ui = probe_classic_ui(self.prometheus_url, timeout=self.timeout)
        return self._classic_ui

    def prometheus_page(self, page: str) -> str:
        """The address of a page of Prometheus' UI ("graph", "alerts", "targets", "rules",
        ...) that exists on this lab's Prometheus, for a browser (behind a proxy, the proxy's
        path); the new UI's address while it cannot be asked."""
        base = self._proxied("prometheus") if self.behind_proxy else self.prometheus_url
        return prometheus_page(base, page, bool(self.prometheus_classic_ui))

    @property
    def urls(self) -> dict[str, str]:
        """Where to look, for a learner: the dashboard page, Prometheus (its root redirects to
        its UI) and its alerts and targets pages, Alertmanager's API, the receiver, the nodes.
        Behind a proxy (JupyterHub), what the browser opens is the proxy's path (dashboard,
        Prometheus, Alertmanager's API); the receiver and the nodes answer the kernel alone."""
        prometheus = {
            "prometheus": self._proxied("prometheus") + "/"
            if self.behind_proxy
            else self.prometheus_url,
            "prometheus_alerts": self.prometheus_page("alerts"),
            "prometheus_targets": self.prometheus_page("targets"),
        }
        if self._fleet is None:
            return prometheus
        ids = list(self.fleet.urls)
        alertmanager = self._proxied("alertmanager") if self.behind_proxy else self.alertmanager_url
        return {
            "dashboard": self.dashboard_url,
            **prometheus,
            "alertmanager": alertmanager,
            "alertmanager_api": f"{alertmanager}/api/v2/alerts",
            "receiver": self.receiver_url,
            "nodes": f"{self.node_url(ids[0])} ... {self.node_url(ids[-1])}",
        }

    def links(self) -> dict[str, str]:
        """The pages a learner opens in a browser, by name (each one answers 200; behind a
        proxy, through it)."""
        from labkit.pages import path

        out = {"Prometheus": self.prometheus_page("graph"),
               "alerts": self.prometheus_page("alerts"),
               "targets": self.prometheus_page("targets"),
               "rules": self.prometheus_page("rules")}  # fmt: skip
        if self.behind_proxy:  # the pages through the proxy; the receiver is not proxied
            out["dashboard"] = path(self._proxied("labkit"), "dashboard")
            out["alertmanager"] = path(self._proxied("labkit"), "alertmanager")
            return out
        if self.config is not None:
            out["dashboard"] = self.config.dashboard_page
            out["alertmanager"] = self.config.alertmanager_page
        if self.receiver_url:
            out["notifications (JSON)"] = f"{self.receiver_url}/notifications?limit=50"
        return out

    # -- faults ------------------------------------------------------------------------------

    def _ids(self, nodes: Nodes) -> list[int]:
        if isinstance(nodes, list):
            return [i for n in nodes for i in self.fleet.node_ids(n)]
        return self.fleet.node_ids(nodes)

    def inject(
        self, nodes: Nodes, failure: str, duration_seconds: float = 30
    ) -> list[dict[str, Any]]:
        """Inject `failure` on a node id, a list of ids, or "all"; raises on any failure."""
        results = self.fleet.each(self._ids(nodes), lambda n: n.inject(failure, duration_seconds))
        return [_ok(r) for _, r in results]

    def recover(self, nodes: Nodes = "all", failure: str | None = None) -> Recovery:
        """End the faults on a node id, a list of ids, or "all" (only `failure`, if given);
        raises on any failure. The answer says it in one line; `.ended` has the details."""
        results = self.fleet.each(self._ids(nodes), lambda n: n.recover(failure))
        return Recovery({node_id: _ok(r) for node_id, r in results})

    def status(self, nodes: Nodes = "all") -> list[dict[str, Any]]:
        """Per node: id, health ("ok", "down", "unreachable"), active faults with time left."""

        def probe(node: Any) -> dict[str, Any]:
            code, health = node.health()
            return {"health": "ok" if code == 200 else health.get("status", str(code)),
                    "active": node.faults()["active"]}  # fmt: skip

        rows = []
        for node_id, r in self.fleet.each(self._ids(nodes), probe):
            if isinstance(r, LabkitError):
                rows.append({"node": node_id, "health": "unreachable", "active": []})
            else:
                rows.append({"node": node_id, **r})
        return rows

    # -- what the monitoring sees ---------------------------------------------------------------

    def _get(self, url: str) -> Any:
        status, payload = request_json("GET", url, None, self.timeout)
        if status != 200:
            raise LabkitError(f"{url} answered {status}: {payload}")
        return payload

    def targets(self, job: str | None = NODE_JOB) -> list[dict[str, Any]]:
        """Prometheus' scrape targets of `job` (the nodes by default; None for every job,
        Prometheus itself and Alertmanager included), in node order (1, 2, ..., 10): node,
        instance, job, health, last error, last scrape ("11:02:05 UTC") and how long ago it
        was, in seconds (None before the first scrape)."""
        data = self._get(f"{self.prometheus_url}/api/v1/targets?state=active")["data"]
        now = time.time()
        rows = []
        for t in data["activeTargets"]:
            if job is not None and t["labels"]["job"] != job:
                continue
            scraped = parse_time(t["lastScrape"])
            rows.append(
                {"node": t["labels"].get("node"), "instance": t["labels"]["instance"],
                 "job": t["labels"]["job"], "health": t["health"], "last_error": t["lastError"],
                 "last_scrape": clock(scraped),
                 "seconds_ago": None if scraped is None else round(max(now - scraped, 0), 1)}
            )  # fmt: skip
        return sorted(rows, key=lambda r: (r["job"], natural_key(r["node"] or ""), r["instance"]))

    def prometheus_alerts(self) -> list[dict[str, Any]]:
        """Alerts pending or firing in Prometheus (with activeAt)."""
        return list(self._get(f"{self.prometheus_url}/api/v1/alerts")["data"]["alerts"])

    def alertmanager_alerts(self) -> list[dict[str, Any]]:
        return list(self._get(f"{self.alertmanager_url}/api/v2/alerts"))

    def notifications(self, since: float | None = None) -> list[dict[str, Any]]:
        query = f"?since={since}" if since is not None else ""
        return list(self._get(f"{self.receiver_url}/notifications{query}"))

    def query(self, promql: str, at: float | None = None) -> list[dict[str, Any]]:
        """An instant PromQL query's raw result (labkit.query, later, makes DataFrames)."""
        params = {"query": promql, **({"time": str(at)} if at is not None else {})}
        url = f"{self.prometheus_url}/api/v1/query?{urllib.parse.urlencode(params)}"
        status, payload = request_json("GET", url, None, self.timeout)
        if status != 200:
            raise LabkitError(f"PromQL error for {promql!r}: {json.dumps(payload)}")
        return list(payload["data"]["result"])

    def __repr__(self) -> str:
        if self.history is not None:
            return f"Lab(replay of {self.history.name!r}, prometheus={self.prometheus_url})"
        return f"Lab({plural(len(self.fleet.urls), 'node')}, prometheus={self.prometheus_url})"


def _ok(result: Any) -> Any:
    if isinstance(result, LabkitError):
        raise result
    return result
