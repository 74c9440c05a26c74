"""The embedded lab: the fleet, the real Prometheus and Alertmanager, and the alert receiver,
run as local processes with their state under `.lab/`.

    .lab/lab.json                      the running lab's configuration (ports, nodes, seed),
                                       which web UI its Prometheus serves, and a digest of
                                       the config files it started from (config_digest)
    .lab/run/<component>.pid           one per process, checked against /proc before use
    .lab/logs/<component>.log          each process's output
    .lab/prometheus/prometheus.yml     rendered from prometheus/prometheus.yml
    .lab/prometheus/targets/*.json     generated targets (file-based discovery): the nodes,
                                       Prometheus itself and Alertmanager (meta-monitoring)
    .lab/prometheus/data/              the TSDB
    .lab/alertmanager/alertmanager.yml rendered from alertmanager/alertmanager.yml
    .lab/alertmanager/data/            silences and notification log
    .lab/journal/                      injections.jsonl, notifications.jsonl
    .lab/past.json                     the at-rest past backfilled on the first start (labkit.past)
    .lab/auth/                         password, web.yml: the secret of a lab started with --auth
    .lab/ports.json                    the ports the last lab had (`--ports auto` takes them again
                                       when free, so series keep their `instance` labels)

`up` is idempotent: on a running lab it does nothing, and on half a lab (a component died or
hangs) it starts only what is missing, keeping the rest (Prometheus' alerts among them), unless
the config files changed since the lab started: then it restarts the whole lab.
`down` stops everything with SIGTERM (Prometheus flushes its head block).
The processes are spawned, waited for and stopped by labkit.processes.
On a first start (an empty TSDB) `up` backfills the fleet's at-rest past before Prometheus
starts, and the nodes carry on from it (labkit.past; `past=False`, `--no-past`, skips it).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import shutil
import signal
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

import yaml

from labkit import auth, processes, rulefiles
from labkit import past as past_mod
from labkit.addresses import address_lines, probe_classic_ui, prometheus_page
from labkit.errors import (
    CredentialsError,
    InvalidInput,
    LabkitError,
    LabNotRunning,
    StartTimeout,
)
from labkit.fleet import FleetLayout, check_fleet_size
from labkit.processes import (
    Component,
    ProcessFiles,
    check_port_free,
    http_ok,
    responds,
    tail,
)
from labkit.resources import PROJECT  # prometheus/, alertmanager/, slo/
from labkit.settings import Settings
from labkit.words import joined, plural

NODE_JOB = "edge-nodes"  # the scrape job of the nodes; alert rules and dashboards select it
META_JOBS = ("prometheus", "alertmanager")  # Prometheus scrapes itself and Alertmanager too


@dataclass(frozen=True)
class LabConfig:
    """What a lab listens on. Stored in lab.json while it runs."""

    nodes: int = 12
    base_port: int = 8001
    prometheus_port: int = 9090
    alertmanager_port: int = 9093
    receiver_port: int = 9095
    dashboard_port: int = 9096  # the Voilà page: labkit's dashboard and Alertmanager view
    seed: int = 0
    host: str = "127.0.0.1"
    slo_profile: str = "lab-day"  # how the SLOs in slo/*.yml are compressed in time
    past: bool = True  # on a first start, backfill the fleet's at-rest past (labkit.past)
    auth: bool = False  # every listener asks for the lab's secret (labkit.auth)
    #: the path under which a reverse proxy serves the lab's web UIs to a browser ("": none):
    #: JupyterHub's jupyter-server-proxy, Prometheus at PREFIX/prometheus/, the pages at
    #: PREFIX/labkit/ (labkit.hub). On loopback both stay where they are.
    proxy_prefix: str = ""

    def __post_init__(self) -> None:
        check_fleet_size(self.nodes, self.base_port)
        prefix = self.proxy_prefix
        if prefix and not (
            prefix.startswith("/") and prefix.endswith("/")
            and all(c.isalnum() or c in "/-._~%@" for c in prefix)
        ):  # fmt: skip
            allowed = "a path that starts and ends with /, such as /user/alice/"
            raise InvalidInput("--proxy-prefix", prefix, allowed)
        from labkit.slo_spec import profile

        profile(self.slo_profile)  # refuses a profile with windows under 4 scrapes
        own = self.service_ports()
        nodes = range(self.base_port, self.base_port + self.nodes)
        for name, port in own.items():
            if not 1 <= port <= 65535:
                raise InvalidInput(f"--{name}-port", port, "a port from 1 to 65535")
            if port in nodes:
                raise InvalidInput(
                    f"--{name}-port", port,
                    f"outside the nodes' ports {nodes.start}-{nodes.stop - 1}",
                )  # fmt: skip
        if len(set(own.values())) < len(own):
            raise InvalidInput("ports", own, "different ports for each service")

    def service_ports(self) -> dict[str, int]:
        return {
            "prometheus": self.prometheus_port,
            "alertmanager": self.alertmanager_port,
            "receiver": self.receiver_port,
            "dashboard": self.dashboard_port,
        }

    def url(self, port: int) -> str:
        return f"http://{self.host}:{port}"

    @property
    def prometheus_url(self) -> str:
        return self.url(self.prometheus_port)

    @property
    def alertmanager_url(self) -> str:
        return self.url(self.alertmanager_port)

    @property
    def receiver_url(self) -> str:
        return self.url(self.receiver_port)

    @property
    def dashboard_url(self) -> str:
        """The Voilà server's root; the pages are `dashboard_page`, `alertmanager_page`."""
        return self.url(self.dashboard_port)

    @property
    def dashboard_page(self) -> str:
        from labkit.pages import path

        return path(self.dashboard_url, "dashboard")

    @property
    def alertmanager_page(self) -> str:
        """labkit's Alertmanager view (Debian's Alertmanager has no web UI of its own)."""
        from labkit.pages import path

        return path(self.dashboard_url, "alertmanager")

    def proxied(self, name: str) -> str:
        """Where the proxy serves one web UI ("prometheus", "labkit": the pages); "" when
        no proxy does."""
        return f"{self.proxy_prefix}{name}/" if self.proxy_prefix else ""

    def layout(self) -> FleetLayout:
        return FleetLayout.contiguous(self.nodes, self.base_port, self.host, seed=self.seed)

    def urls(self) -> list[str]:
        """Every listener's base URL: the nodes, Prometheus, Alertmanager, the receiver and
        the dashboard page."""
        nodes = range(self.base_port, self.base_port + self.nodes)
        return [self.url(port) for port in (*nodes, *self.service_ports().values())]


AUTO_PORTS = (20_000, 32_000)  # where `--ports auto` looks: below Linux's ephemeral range


def free_ports(config: LabConfig, paths: LabPaths) -> LabConfig:
    """`config` on free ports (`labkit up --ports auto`): one block of consecutive free ports,
    the nodes' first, then Prometheus, Alertmanager, the receiver and the dashboard page. A
    lab already running from `paths` keeps the ports it has (lab.json records them)."""
    recorded = load_config(paths)
    if recorded is not None and recorded.nodes == config.nodes and any(running(paths).values()):
        return replace(config, **{f: getattr(recorded, f) for f in PORT_FIELDS})
    low, high = AUTO_PORTS
    count = config.nodes + len(PORT_FIELDS) - 1
    last = _last_base(paths)  # the same ports as last time, when free: the same series
    with processes.claims(str(paths.state)) as claimed:  # labs starting at once: other blocks
        if (
            last is not None
            and low <= last <= high - count
            and claimed.free(last, count)
            and processes.block_is_free(last, count, config.host, reuse=True)
        ):
            base = last
        else:
            base = _free_block(count, config.host, claimed)
        claimed.claim(base, count)
    ports: dict[str, Any] = dict(zip(PORT_FIELDS[1:], range(base + config.nodes, base + count),
                                     strict=True))  # fmt: skip
    return replace(config, base_port=base, **ports)


def _last_base(paths: LabPaths) -> int | None:
    """The nodes' first port the last time this state folder's lab ran on `--ports auto`."""
    try:
        value = json.loads(paths.auto_ports.read_text())["base_port"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return value if isinstance(value, int) else None


def _free_block(count: int, host: str, claimed: processes.PortClaims) -> int:
    low, high = AUTO_PORTS
    try:
        return processes.free_port_block(count, host, low, high, unclaimed=claimed.free)
    except LabkitError:
        raise InvalidInput(
            "--ports", "auto", f"possible with {count} consecutive free ports on {host}",
            hint=f"none are free from {low} to {high}: stop a lab there (`labkit down` in "
            "its folder), or give the ports with --base-port, --prometheus-port, ...",
        ) from None  # fmt: skip


PORT_FIELDS = ("base_port", "prometheus_port", "alertmanager_port", "receiver_port",
               "dashboard_port")  # fmt: skip


def check_owner(state: Path) -> None:
    """A state folder belongs to whoever runs labkit (one that does not exist yet will): on a
    shared host, another user's lab is theirs."""
    if not state.exists():
        return
    owner = state.stat().st_uid
    if owner != os.geteuid():
        import pwd

        try:
            name = pwd.getpwuid(owner).pw_name
        except KeyError:
            name = f"uid {owner}"
        raise InvalidInput(
            "the state folder", str(state), "a folder you own",
            hint=f"it belongs to {name}: run your own lab from a folder of yours, or set "
            "LABKIT_STATE_DIR",
        )  # fmt: skip


# -- paths and configs -----------------------------------------------------------------------


@dataclass(frozen=True)
class LabPaths:
    state: Path

    @property
    def lab_json(self) -> Path:
        return self.state / "lab.json"

    @property
    def processes(self) -> ProcessFiles:
        """run/<component>.pid, logs/<component>.log; each process runs in the state folder."""
        return ProcessFiles(pids=self.state / "run", logs=self.state / "logs", cwd=self.state)

    def pid(self, name: str) -> Path:
        return self.processes.pid(name)

    def log(self, name: str) -> Path:
        return self.processes.log(name)

    @property
    def prometheus(self) -> Path:
        return self.state / "prometheus"

    @property
    def alertmanager(self) -> Path:
        return self.state / "alertmanager"

    @property
    def journal(self) -> Path:
        return self.state / "journal"

    @property
    def past(self) -> Path:
        return self.state / "past.json"

    @property
    def auto_ports(self) -> Path:
        """The ports `--ports auto` gave the last lab (kept after `down`: the next start
        takes them again when free, so the series keep their `instance` labels)."""
        return self.state / "ports.json"


BINARIES = {
    "prometheus": ["prometheus"],
    "alertmanager": ["prometheus-alertmanager", "alertmanager"],
}
PACKAGES = {"prometheus": "prometheus", "alertmanager": "prometheus-alertmanager"}


def find_binary(kind: str) -> str:
    for name in BINARIES[kind]:
        found = shutil.which(name)
        if found:
            return found
    raise missing_binaries([kind])


def missing_binaries(kinds: list[str]) -> LabkitError:
    looked = "; ".join(f"{k}: {', '.join(BINARIES[k])}" for k in kinds)
    packages = " ".join(PACKAGES[k] for k in kinds)
    return LabkitError(
        f"{' and '.join(kinds)} {'is' if len(kinds) == 1 else 'are'} not installed "
        f"(looked on PATH for {looked}). Install with: sudo apt-get install {packages}"
        f"   (`make lab` does this for you)"
    )


def require_binaries() -> None:
    missing = [k for k in BINARIES if not any(shutil.which(n) for n in BINARIES[k])]
    if missing:
        raise missing_binaries(missing)


def node_targets(config: LabConfig) -> list[dict[str, Any]]:
    """File-based discovery entries: one target per node, labelled with its id."""
    layout = config.layout()
    return [
        {"targets": [f"{config.host}:{port}"], "labels": {"node": str(node_id)}}
        for node_id, port in sorted(layout.ports.items())
    ]


def render_prometheus(
    config: LabConfig, paths: LabPaths, source: Path = PROJECT, rules: bool = True
) -> Path:
    """prometheus/prometheus.yml with absolute paths, and this lab's targets beside it.
    `rules=False` leaves the rule files out: `up` starts Prometheus that way and adds them
    once every target has been scraped (see `up`)."""
    base = yaml.safe_load((source / "prometheus" / "prometheus.yml").read_text())
    rules_dir = source / "prometheus"
    base["rule_files"] = [str(rules_dir / pattern) for pattern in base.get("rule_files", [])]
    base["rule_files"].append(str(paths.prometheus / "rules" / "*.yml"))  # generated rules
    if not rules:
        base["rule_files"] = []
    targets = paths.prometheus / "targets"
    targets.mkdir(parents=True, exist_ok=True)
    (paths.prometheus / "rules").mkdir(exist_ok=True)

    def absolute(sd: dict[str, Any]) -> None:
        sd["files"] = [str(paths.prometheus / f) for f in sd["files"]]

    secret = basic_auth(config, paths)
    for am in base.get("alerting", {}).get("alertmanagers", []):
        am.update(secret)
        for sd in am.get("file_sd_configs", []):
            absolute(sd)
    for job in base.get("scrape_configs", []):
        job.update(secret)
        for sd in job.get("file_sd_configs", []):
            absolute(sd)
    _write_json(targets / "nodes.json", node_targets(config))
    # Alertmanager: where Prometheus sends alerts, and the `alertmanager` job's target
    _write_json(
        targets / "alertmanagers.json",
        [{"targets": [f"{config.host}:{config.alertmanager_port}"]}],
    )
    _write_json(
        targets / "prometheus.json", [{"targets": [f"{config.host}:{config.prometheus_port}"]}]
    )
    out = paths.prometheus / "prometheus.yml"
    out.write_text("# Rendered by labkit from prometheus/prometheus.yml: edit that one.\n"
                   + yaml.safe_dump(base, sort_keys=False))  # fmt: skip
    return out


def basic_auth(config: LabConfig, paths: LabPaths) -> dict[str, Any]:
    """What a scrape job, an Alertmanager or a webhook of a lab that asks for credentials
    carries (the secret stays in its file); nothing for one that does not."""
    if not config.auth:
        return {}
    password = auth.folder(paths.state) / auth.PASSWORD_FILE
    return {"basic_auth": {"username": auth.USER, "password_file": str(password)}}


#: A lab of more nodes than this records its SLOs' long windows less often (`rule_tiers`).
TIERED_FROM_NODES = 100
#: (unscaled window from, interval): lab-day's 2h24m and the period's ratio every 30 s; its
#: other windows with the tiles, every 10 s (labkit.slo_rules.Options).
RULE_TIERS = ((3 * 86400.0, "30s"),)


def tiled(config: LabConfig) -> bool:
    """Whether the lab builds its SLOs' long windows from tiles (labkit.slo_rules.Options):
    a lab of more than TIERED_FROM_NODES nodes. Its past then holds the tiles, not the base
    window's ratio (labkit.past)."""
    return config.nodes > TIERED_FROM_NODES


#: Go's garbage collector target for a big lab's Prometheus: a collection when the heap has
#: grown 300 % (Go's default is 100 %). Scraping 1,000 nodes a second churns through its heap
#: about once a second; at 300 % it collects a third as often, for about 0.15 core less
#: (benchmarks/big_lab.py) and up to twice the memory (about 0.8 GB at 1,000 nodes).
BIG_LAB_GOGC = "300"


def prometheus_env(config: LabConfig) -> dict[str, str]:
    """What Prometheus adds to its environment: GOGC for a big lab (`tiled`), else nothing."""
    return {"GOGC": BIG_LAB_GOGC} if tiled(config) else {}


def rule_tiers(config: LabConfig) -> tuple[tuple[float, str], ...]:
    """How often the lab records its SLOs' longest windows. A 12-node lab records every window
    every second over the raw series (and the lessons' timings are then theory's); a lab of
    1,000 could not (benchmarks/big_lab.py), so above TIERED_FROM_NODES nodes the windows are
    built from tiles every 10 s, and the longest (lab-day: 2h24m, 864 tiles per node) and the
    period's ratio (8,640) every 30 s, as Sloth's rule_intervals plugin does for a whole SLO:
    a ticket then fires up to that much later."""
    return RULE_TIERS if tiled(config) else ()


def render_slo_rules(config: LabConfig, paths: LabPaths, source: Path = PROJECT) -> list[Path]:
    """Rules for every SLO spec in slo/, under the lab's profile, beside the seed's alerts."""
    from labkit import slo_spec

    prof = slo_spec.profile(config.slo_profile, lab=True)  # the lab backfills its past
    rules = paths.prometheus / "rules"
    rules.mkdir(parents=True, exist_ok=True)
    for old in rules.glob("slo-*.yml"):
        old.unlink()
    written = []
    for spec in sorted((source / "slo").glob("*.yml")):
        out = rules / f"slo-{spec.stem}.yml"
        tiers = slo_spec.Options(tiers=rule_tiers(config), tiles=tiled(config))
        out.write_text(
            slo_spec.render(slo_spec.load(spec), prof, str(spec.relative_to(source)), tiers)
        )
        written.append(out)
    return written


def point_webhooks(
    alertmanager: dict[str, Any], receiver_url: str, http_config: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Every webhook of an Alertmanager config sent to `receiver_url`/notify/<route>, keeping
    each route (default, critical, warning) from the shared config; with `http_config` (the
    lab's credentials), each webhook carries it."""
    for receiver in alertmanager.get("receivers", []):
        for hook in receiver.get("webhook_configs", []):
            route = hook["url"].rstrip("/").rsplit("/", 1)[-1]
            hook["url"] = f"{receiver_url}/notify/{route}"
            if http_config:
                hook["http_config"] = {**hook.get("http_config", {}), **http_config}
    return alertmanager


def render_alertmanager(config: LabConfig, paths: LabPaths, source: Path = PROJECT) -> Path:
    """alertmanager/alertmanager.yml with the webhooks pointed at this lab's receiver."""
    base = point_webhooks(
        yaml.safe_load((source / "alertmanager" / "alertmanager.yml").read_text()),
        config.receiver_url,
        basic_auth(config, paths),
    )
    paths.alertmanager.mkdir(parents=True, exist_ok=True)
    out = paths.alertmanager / "alertmanager.yml"
    out.write_text("# Rendered by labkit from alertmanager/alertmanager.yml: edit that one.\n"
                   + yaml.safe_dump(base, sort_keys=False))  # fmt: skip
    return out


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)  # atomic: Prometheus never reads half a file


def components(config: LabConfig, paths: LabPaths, past: bool = False) -> list[Component]:
    """The lab's processes, in start order; with `past`, the fleet carries on from the past
    in `paths.past`."""
    python = sys.executable
    h = config.host
    carry_on = ["--past", str(paths.past)] if past else []
    secret = auth.folder(paths.state)
    auth_file = ["--auth-file", str(secret / auth.PASSWORD_FILE)] if config.auth else []
    web = [f"--web.config.file={secret / auth.WEB_CONFIG}"] if config.auth else []
    return [
        Component(
            "receiver",
            [python, "-m", "labkit.cli", "--state-dir", str(paths.state), "receiver",
             "--host", h, "--port", str(config.receiver_port), *auth_file],
            f"{config.receiver_url}/health", [config.receiver_port],
        ),
        Component(
            "alertmanager",
            [find_binary("alertmanager"),
             f"--config.file={paths.alertmanager / 'alertmanager.yml'}",
             f"--storage.path={paths.alertmanager / 'data'}",
             f"--web.listen-address={h}:{config.alertmanager_port}",
             "--cluster.listen-address=",  # no gossip: no 0.0.0.0:9094, no 10 s settle delay
             "--log.level=warn", *web],
            f"{config.alertmanager_url}/-/ready", [config.alertmanager_port],
        ),
        Component(
            "fleet",
            [python, "-m", "labkit.cli", "--state-dir", str(paths.state), "fleet",
             "--nodes", str(config.nodes), "--base-port", str(config.base_port),
             "--host", h, "--seed", str(config.seed), *carry_on, *auth_file],
            f"{config.url(config.base_port)}/health",
            list(range(config.base_port, config.base_port + config.nodes)),
        ),
        Component(
            "prometheus",
            [find_binary("prometheus"),
             f"--config.file={paths.prometheus / 'prometheus.yml'}",
             f"--storage.tsdb.path={paths.prometheus / 'data'}",
             "--storage.tsdb.retention.time=30d",
             f"--web.listen-address={h}:{config.prometheus_port}",
             "--log.level=warn", *web, *prometheus_behind_proxy(config)],
            f"{config.prometheus_url}/-/ready", [config.prometheus_port],
            prometheus_env(config),
        ),
        dashboard_component(config, paths),
    ]  # fmt: skip


def prometheus_behind_proxy(config: LabConfig) -> list[str]:
    """Behind a proxy, Prometheus' pages link under the proxy's path (its external URL)
    while it still answers at / on loopback (its route prefix), where labkit calls it."""
    if not config.proxy_prefix:
        return []
    return [f"--web.external-url={config.proxied('prometheus')}", "--web.route-prefix=/"]


def dashboard_component(config: LabConfig, paths: LabPaths) -> Component:
    """Voilà serving labkit's pages (the dashboard, the Alertmanager view) on loopback; each
    page's kernel finds this lab through LABKIT_STATE_DIR. Jupyter's files stay in the lab's
    state folder."""
    from labkit.pages import FOLDER, SHARE, TEMPLATE

    jupyter = paths.state / "jupyter"
    env = {
        "LABKIT_STATE_DIR": str(paths.state),
        "JUPYTER_PATH": str(SHARE),  # labkit's Voilà template (no CDN: the lab works offline)
        "JUPYTER_RUNTIME_DIR": str(jupyter / "runtime"),
        "JUPYTER_CONFIG_DIR": str(jupyter / "voila-config"),
        "JUPYTER_DATA_DIR": str(jupyter / "data"),
        "IPYTHONDIR": str(jupyter / "ipython"),
        "MPLCONFIGDIR": str(jupyter / "mpl"),
    }
    argv = [
        sys.executable, "-m", "voila", str(FOLDER), "--no-browser",
        f"--Voila.ip={config.host}", f"--port={config.dashboard_port}", "--Voila.port_retries=0",
        f"--template={TEMPLATE}", "--theme=light", "--strip_sources=True",
        "--show_tracebacks=True",
        "--Voila.log_level=WARN", "--token=",
        # a page's kernel ends when its browser tab is gone for a minute
        "--MappingKernelManager.cull_idle_timeout=60", "--MappingKernelManager.cull_interval=30",
        "--MappingKernelManager.cull_connected=False",
        # the secret, when the lab asks for one, from the state folder (labkit.pages.identity)
        "--Voila.identity_provider_class=labkit.pages.identity.LabIdentity",
    ]  # fmt: skip
    if config.proxy_prefix:  # the browser's addresses under the proxy's path; served at /
        argv += [f"--Voila.base_url={config.proxied('labkit')}", "--Voila.server_url=/"]
    return Component("dashboard", argv, f"{config.dashboard_url}/", [config.dashboard_port], env)


# -- processes (labkit.processes) ------------------------------------------------------------


def read_pid(paths: LabPaths, name: str) -> int | None:
    """The pid of a running component; a stale pid file is removed."""
    return processes.read_pid(paths.pid(name))


def stop_component(name: str, paths: LabPaths, wait: float = 20.0) -> bool:
    """SIGTERM, then SIGKILL after `wait` seconds; False when it was not running."""
    return processes.stop(paths.pid(name), wait)


def get_json(url: str, timeout: float = 3.0) -> Any:
    request = urllib.request.Request(url, headers=auth.headers(url))
    with urllib.request.urlopen(request, timeout=timeout) as r:
        return json.loads(r.read())


# -- up / down / status ----------------------------------------------------------------------


@dataclass
class Progress:
    out: TextIO
    started: float = field(default_factory=time.monotonic)

    def line(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


def load_config(paths: LabPaths) -> LabConfig | None:
    """The running lab's configuration, from lab.json; a lab that asks for credentials has
    its secret registered for its addresses (labkit.auth), when it can be read."""
    try:
        config = LabConfig(**json.loads(paths.lab_json.read_text())["config"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    use_credentials(config, paths, strict=False)
    return config


def use_credentials(config: LabConfig, paths: LabPaths, strict: bool = True) -> None:
    """This process's calls to the lab carry its secret when it asks for one; with `strict`,
    an unreadable secret is an error (CredentialsError), else the calls go without and get
    401."""
    if not config.auth:
        auth.register(config.urls(), None)
        return
    try:
        auth.register(config.urls(), auth.read(paths.state))
    except CredentialsError:
        if strict:
            raise


NAMES = ("receiver", "alertmanager", "fleet", "prometheus", "dashboard")  # start order


def recorded_classic_ui(paths: LabPaths) -> bool | None:
    """Whether the lab's Prometheus serves only the classic UI, as `labkit up` found out;
    None when lab.json does not say (no lab, or one started by an older labkit)."""
    try:
        value = json.loads(paths.lab_json.read_text()).get("prometheus_classic_ui")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, bool) else None


def classic_ui(config: LabConfig, paths: LabPaths) -> bool | None:
    """As recorded in lab.json, else asked of the running Prometheus."""
    recorded = recorded_classic_ui(paths)
    return recorded if recorded is not None else probe_classic_ui(config.prometheus_url)


CONFIG_FOLDERS = ("prometheus", "alertmanager", "slo")  # the config sources a lab starts from


def config_files(source: Path = PROJECT) -> dict[str, str]:
    """The sha256 of every file under `source`'s prometheus/, alertmanager/ and slo/, by its
    path from `source` ("prometheus/rules/alerts.yml"); hidden files (an editor's) left out."""
    found: dict[str, str] = {}
    for folder in CONFIG_FOLDERS:
        for path in sorted((source / folder).rglob("*")):
            name = path.relative_to(source)
            if path.is_file() and not any(part.startswith(".") for part in name.parts):
                found[name.as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def config_digest(source: Path = PROJECT) -> str:
    """One sha256 of the config files a lab starts from (`config_files`): lab.json records it,
    and `up` restarts half a lab alone only while it is unchanged."""
    text = json.dumps(config_files(source), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def config_changes(paths: LabPaths, source: Path = PROJECT) -> list[str] | None:
    """The config files changed since the lab in `paths` started, by path ([]: none); None
    when lab.json records no digest (no lab, or one started by an older labkit)."""
    try:
        record = json.loads(paths.lab_json.read_text())
        recorded = record.get("config_digest")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(recorded, str):
        return None
    if recorded == config_digest(source):
        return []
    before, now = record.get("config_files"), config_files(source)
    named = []
    if isinstance(before, dict):
        named = sorted(f for f in before.keys() | now.keys() if before.get(f) != now.get(f))
    return named or [f"{folder}/" for folder in CONFIG_FOLDERS]  # which: not recorded


def running(paths: LabPaths) -> dict[str, int | None]:
    return {c: read_pid(paths, c) for c in NAMES}


def up(
    config: LabConfig, settings: Settings, out: TextIO = sys.stdout, timeout: float = 60
) -> float:
    """Start the lab (or confirm it is up); returns the seconds it took to be ready."""
    paths = LabPaths(settings.state_dir)
    check_owner(paths.state)
    progress = Progress(out)
    current = load_config(paths)
    pids = running(paths)
    if current is not None and all(pids.values()):
        if replace(current, past=config.past) != config:
            raise LabkitError(
                f"a lab is already running from {paths.state} with a different setup "
                f"({setup_changes(current, config)}); run `labkit down` first to start it "
                "anew, or leave those options out to use the running lab"
            )
        if not dead_components(current, paths):
            progress.line(f"labkit up: the lab is already running from {paths.state}")
            _say_config_changed(paths, progress)
            _print_urls(config, classic_ui(config, paths), progress)
            return 0.0
    if any(pids.values()):  # half a lab: something crashed or hangs
        why = why_restart_all(config, current, paths)
        if why is None:
            return restart_dead(config, paths, progress, timeout)
        progress.line(f"labkit up: {why}")
        down(settings, out=out, quiet=True)

    require_binaries()  # first: a clear error, and nothing started
    first = backfills_past(config, paths)
    todo = components(config, paths, past=first)
    for comp in todo:
        for port in comp.ports[:1] if comp.name == "fleet" else comp.ports:
            check_port_free(config.host, port, f"the lab's {comp.name}")
    if todo[2].ports:  # every node port, checked at once by binding them all
        from labkit.fleet import bind

        for sock in bind(config.host, config.layout().ports).values():
            sock.close()

    paths.processes.make()
    prepare_credentials(config, paths)
    sources = {"config_digest": config_digest(), "config_files": config_files()}
    render_slo_rules(config, paths)
    rule_counts = rulefiles.count(rulefiles.rule_files(render_prometheus(config, paths)))
    # Prometheus starts without its rules, given them once every target is scraped: a
    # restarted lab's TSDB still holds the previous run's last samples (no staleness markers
    # at shutdown), and for 5 minutes of lookback a `for: 0s` alert would fire on them until
    # the first scrapes (about 5 s) replace them; and the past's blocks run 5 s beyond
    # Prometheus' start, so a rule evaluated before then writes "out of bounds". Only a first
    # start without a past (an empty TSDB, nothing backfilled) has neither: its rules are
    # there from the start, and no reload makes Prometheus rediscover Alertmanager (about
    # 4 s sooner ready).
    if first or not past_mod.tsdb_is_empty(paths.prometheus / "data"):
        render_prometheus(config, paths, rules=False)
    render_alertmanager(config, paths)
    drop_notification_log(paths)
    nodes = plural(config.nodes, "node")
    progress.line(f"labkit up: starting {nodes}, Prometheus, Alertmanager, the alert receiver "
                  f"and the dashboard page (state in {paths.state})")  # fmt: skip
    sim = _simulate_past(config, paths, progress) if first else None
    classic = _start_and_wait(todo, config, paths, progress, timeout, rule_counts, sim, fresh=True)
    paths.auto_ports.write_text(json.dumps({f: getattr(config, f) for f in PORT_FIELDS}))
    paths.lab_json.write_text(json.dumps({"config": asdict(config), "started_at": time.time(),
                                          "prometheus_classic_ui": classic,
                                          **sources}))  # fmt: skip
    ready = progress.elapsed
    progress.line(f"labkit up: ready in {ready:.1f} s")
    _print_urls(config, classic, progress)
    return ready


def _start_and_wait(
    todo: list[Component],
    config: LabConfig,
    paths: LabPaths,
    progress: Progress,
    timeout: float,
    counts: list[rulefiles.RuleCount] | None,
    sim: Any = None,
    fresh: bool = False,
) -> bool | None:
    """Start `todo` (Prometheus last: on a first start, `sim`'s past is backfilled while the
    others start), wait until each is ready and Prometheus scrapes every target with its
    rules loaded (`counts`; None: as its rendered config names them); whatever this started
    is stopped again if that fails. Returns whether Prometheus serves only the classic UI
    (asked of it when `fresh`, else as recorded)."""
    started: list[Component] = []
    try:
        for comp in sorted(todo, key=lambda c: c.name == "prometheus"):
            if comp.name == "prometheus" and sim is not None:
                _backfill_past(config, paths, sim, progress)
            processes.spawn(comp, paths.processes)
            started.append(comp)
        deadline = time.monotonic() + timeout
        for comp in todo:
            processes.wait_ready(comp, paths.processes, deadline)
            progress.line(f"  {comp.name:<13} ready   {progress.elapsed:5.1f} s")
        classic = probe_classic_ui(config.prometheus_url) if fresh else classic_ui(config, paths)
        _wait_targets(config, paths, deadline, progress, classic, counts)
    except BaseException:
        for comp in reversed(started):
            stop_component(comp.name, paths)
        raise
    return classic


def setup_changes(running: LabConfig, asked: LabConfig) -> str:
    """What `asked` changes of the `running` lab's setup, as options: "--nodes 3 -> 12"."""
    said = []
    for name, was in asdict(running).items():
        now = getattr(asked, name)
        if name != "past" and was != now:
            if isinstance(was, bool):
                said.append(f"--{'' if was else 'no-'}{name} -> --{'no-' if was else ''}{name}")
            else:
                said.append(f"--{name.replace('_', '-')} {was} -> {now}")
    return ", ".join(said)


def prepare_credentials(config: LabConfig, paths: LabPaths) -> None:
    """A new secret for a lab that asks for one (none left behind for one that does not),
    registered for this process's own calls to it."""
    if config.auth:
        auth.create(paths.state)
    else:
        shutil.rmtree(auth.folder(paths.state), ignore_errors=True)
    use_credentials(config, paths)


def backfills_past(config: LabConfig, paths: LabPaths) -> bool:
    """A first start (an empty TSDB) of a lab that wants its past."""
    return config.past and past_mod.tsdb_is_empty(paths.prometheus / "data")


def _simulate_past(config: LabConfig, paths: LabPaths, progress: Progress) -> Any:
    """The fleet's at-rest past, simulated, its seam now; the fleet's origins in past.json."""
    plan = past_mod.plan(config, time.time())
    progress.line(
        f"  past          a first start: backfilling the fleet's past at rest (raw series "
        f"over {plan.longest} + {past_mod.MARGIN_SECONDS / 60:.0f} min, the SLIs over the "
        f"{plan.period} SLO period; `--no-past` skips this)"
    )
    sim = past_mod.simulate_fleet(config, plan)
    sim.past().save(paths.past)
    return sim


def _backfill_past(config: LabConfig, paths: LabPaths, sim: Any, progress: Progress) -> None:
    """The simulated past into the TSDB, then the seconds the live nodes have served since
    its seam, up to now: Prometheus starts next."""
    from labkit import slo_spec

    slos = [s for spec in sorted((PROJECT / "slo").glob("*.yml")) for s in slo_spec.load(spec)]
    data = paths.prometheus / "data"
    result = past_mod.backfill(config, sim, slos, data, tiles=tiled(config))
    result = past_mod.close_gap(config, result, time.time() + past_mod.LEAD_SECONDS, data)
    result.save(paths.past)
    skipped = f"; no past for {', '.join(result.skipped_slos)}" if result.skipped_slos else ""
    progress.line(f"  past          {result.samples:,} samples backfilled{skipped} "
                  f"{progress.elapsed:5.1f} s")  # fmt: skip


def _print_urls(config: LabConfig, classic: bool | None, progress: Progress) -> None:
    for line in address_lines(config, classic):
        progress.line(line)
    cmd = labkit_command()
    progress.line(f"  stop with `{cmd} down`; see it with `{cmd} status` (`--json` for scripts)")


def labkit_command() -> str:
    """How to type labkit in this shell: `labkit` when it is on the PATH, else the venv's
    script as a path (after `make lab` a learner's own shell has no venv activated)."""
    script = Path(sys.executable).parent / "labkit"
    found = shutil.which("labkit")
    if found is not None and Path(found).resolve() == script.resolve():
        return "labkit"
    if not script.exists():
        return "labkit"
    rel = os.path.relpath(script)
    return str(script) if rel.startswith("..") else rel


# -- half a lab: restart what died ----------------------------------------------------------


def dead_components(config: LabConfig, paths: LabPaths) -> dict[str, str]:
    """The components that are "not running", or "not responding": their pid runs but their
    ready address gives no answer at all (a 503 is an answer: a node down by node_crash)."""
    dead: dict[str, str] = {}
    for comp in components_for_status(config, paths):
        if read_pid(paths, comp.name) is None:
            dead[comp.name] = "not running"
        elif not processes.responds(comp.ready_url):
            dead[comp.name] = "not responding"
    return dead


def why_restart_all(config: LabConfig, current: LabConfig | None, paths: LabPaths) -> str | None:
    """Why half a lab cannot keep what runs and must restart whole (the words `up` says), or
    None: the lab was started with `config` from the config files as they are now."""
    if current is None:
        return "part of the lab is running; stopping it to start clean"
    if replace(current, past=config.past) != config:
        return (
            f"part of a lab with another setup is running ({plural(current.nodes, 'node')} from "
            f"port {current.base_port}); stopping it to start this one"
        )
    changed = config_changes(paths)
    if changed is None:
        return (
            "lab.json does not say which config files the lab started from (an older labkit "
            "started it); restarting the whole lab"
        )
    if changed:
        return (
            f"the lab's configuration changed since it started ({_some(changed)}); "
            "restarting the whole lab"
        )
    return None


def _some(names: list[str], most: int = 3) -> str:
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return ", ".join(names[:most]) + more


def _say_config_changed(paths: LabPaths, progress: Progress) -> None:
    changed = config_changes(paths)
    if changed:
        cmd = labkit_command()
        progress.line(f"  the config files changed since it started ({_some(changed)}): "
                      f"`{cmd} down` then `{cmd} up` applies them")  # fmt: skip


def restart_dead(config: LabConfig, paths: LabPaths, progress: Progress, timeout: float) -> float:
    """Start again the components of a running lab that died or hang (those are stopped
    first), keeping the others and their state: Prometheus' alerts, Alertmanager's. Ready
    when the restarted ones answer and Prometheus scrapes every target (`_wait_targets`);
    returns the seconds that took. lab.json is left as it is: the lab's config is the same.
    The fleet restarts without its past (it is no first start)."""
    dead = dead_components(config, paths)
    kept = [name for name in NAMES if name not in dead]
    said = [f"{n} ({state})" if state == "not responding" else n for n, state in dead.items()]
    alive = f"{joined(kept)} {plural(len(kept), 'is', 'are', number=False)} running"
    progress.line(f"labkit up: {alive if kept else 'nothing answers'}; "
                  f"restarting {joined(said)}")  # fmt: skip
    require_binaries()
    for name, state in dead.items():
        if state == "not responding":
            stop_component(name, paths, wait=5)
    todo = [comp for comp in components(config, paths) if comp.name in dead]
    check_ports(config, todo)
    paths.processes.make()
    counts = _render_for_restart(config, paths, set(dead))
    classic = _start_and_wait(todo, config, paths, progress, timeout, counts)
    ready = progress.elapsed
    progress.line(f"labkit up: {joined(list(dead))} restarted in {ready:.1f} s")
    _print_urls(config, classic, progress)
    return ready


def check_ports(config: LabConfig, todo: list[Component]) -> None:
    """PortInUse unless every port of the components `todo` is free (every node's, checked
    at once by binding them all)."""
    for comp in todo:
        for port in comp.ports[:1] if comp.name == "fleet" else comp.ports:
            check_port_free(config.host, port, f"the lab's {comp.name}")
    if any(comp.name == "fleet" for comp in todo):
        from labkit.fleet import bind

        for sock in bind(config.host, config.layout().ports).values():
            sock.close()


def _render_for_restart(
    config: LabConfig, paths: LabPaths, dead: set[str]
) -> list[rulefiles.RuleCount] | None:
    """The configs of the components restarting, as `up` renders them: a Prometheus that
    restarts starts without its rules (they load once every target is scraped; the rules it
    will load are returned), one that runs on keeps its config and rules. An Alertmanager
    that restarts loses its notification log (`drop_notification_log`), one that runs on
    keeps it."""
    counts: list[rulefiles.RuleCount] | None = None
    if "prometheus" in dead:
        render_slo_rules(config, paths)
        counts = rulefiles.count(rulefiles.rule_files(render_prometheus(config, paths)))
        render_prometheus(config, paths, rules=False)
    if "alertmanager" in dead:
        render_alertmanager(config, paths)
        drop_notification_log(paths)
    return counts


def drop_notification_log(paths: LabPaths) -> None:
    """Forget which alerts Alertmanager last notified, keeping its silences.

    Alertmanager deduplicates against its notification log, which it saves on shutdown: an
    alert notified as firing when the lab stopped stays "notified: firing" there, no
    resolution ever goes out (Prometheus is gone), and the same alert firing again in a later
    lab counts as already notified until `repeat_interval` (1 h) has passed. The alerts
    themselves live only in memory and end with the lab, so the log has nothing worth keeping
    across a restart.

    An Alertmanager restarted while Prometheus runs on (`up` on half a lab) loses it too.
    Prometheus sends its firing alerts again, and the receiver gets each once more; kept, the
    log would be the one Alertmanager saved last, at its last shutdown or maintenance (every
    15 min), not at its crash, and an alert notified before that and resolved since would
    count as notified when it fires again."""
    (paths.alertmanager / "data" / "nflog").unlink(missing_ok=True)


def load_rules(config: LabConfig, paths: LabPaths) -> None:
    """Give the running Prometheus its rule files (a config reload, SIGHUP)."""
    render_prometheus(config, paths)
    pid = read_pid(paths, "prometheus")
    if pid is not None:
        os.kill(pid, signal.SIGHUP)


def _wait_targets(
    config: LabConfig,
    paths: LabPaths,
    deadline: float,
    progress: Progress,
    classic: bool | None,
    counts: list[rulefiles.RuleCount] | None = None,
) -> None:
    """Until Prometheus scrapes every node, itself and Alertmanager successfully, and has
    loaded every rule of `counts` (default: the rule files its rendered config names). A
    Prometheus started without its rules gets them once every target is up."""
    if counts is None:
        counts = rulefiles.count(rulefiles.rule_files(paths.prometheus / "prometheus.yml"))
    wanted = sum(c.rules for c in counts)
    reloaded = bool(rulefiles.rule_files(paths.prometheus / "prometheus.yml"))
    shown_targets: tuple[int, dict[str, str]] | None = None
    shown_rules: int | None = None
    while True:
        nodes_up, meta, loaded, notifying = _targets_and_rules(config)
        meta_words = ", ".join(
            f"{job} {meta[job] if meta.get(job) in ('up', 'down') else 'not scraped yet'}"
            for job in META_JOBS
        )
        if (nodes_up, meta) != shown_targets:
            progress.line(f"  targets       {nodes_up}/{config.nodes} nodes up; {meta_words}")
            shown_targets = (nodes_up, meta)
        if loaded != shown_rules:
            if not reloaded:
                progress.line(f"  rules         {wanted} to load once every target is scraped")
            else:
                loading = (
                    f"{loaded} of {wanted}" if loaded != wanted else rulefiles.describe(counts)
                )
                progress.line(f"  rules         {loading} loaded")
            shown_rules = loaded
        targets_up = nodes_up == config.nodes and all(meta.get(job) == "up" for job in META_JOBS)
        if targets_up and not reloaded:
            load_rules(config, paths)
            reloaded = True
        # a reload rediscovers Alertmanager (about 3 s): alerts fired before it is known are
        # dropped and sent again only after Prometheus' resend delay (1 min)
        if targets_up and loaded == wanted and notifying:
            return
        if time.monotonic() > deadline:
            where = (
                prometheus_page(config.prometheus_url, "targets", classic)
                if classic is not None
                else config.prometheus_url
            )
            raise StartTimeout(
                f"Prometheus sees {nodes_up} of {config.nodes} nodes up ({meta_words}) and "
                f"has loaded {loaded} of the {wanted} rules of its rule files "
                f"({rulefiles.describe(counts)}). See {where}; its log says:\n"
                + tail(paths.log("prometheus"))
            )
        time.sleep(0.1)


def _targets_and_rules(config: LabConfig) -> tuple[int, dict[str, str], int, bool]:
    """Nodes scraped successfully, the health of the meta-monitoring jobs, rules loaded, and
    whether Prometheus knows where to send alerts."""
    try:
        targets = get_json(f"{config.prometheus_url}/api/v1/targets?state=active")
        rules = get_json(f"{config.prometheus_url}/api/v1/rules")
        managers = get_json(f"{config.prometheus_url}/api/v1/alertmanagers")
    except (OSError, ValueError, http.client.HTTPException):
        return 0, {}, 0, False
    active = targets["data"]["activeTargets"]
    nodes_up = sum(1 for t in active if t["labels"].get("job") == NODE_JOB and t["health"] == "up")
    meta = {t["labels"]["job"]: t["health"] for t in active if t["labels"].get("job") in META_JOBS}
    loaded = sum(len(g["rules"]) for g in rules["data"]["groups"])
    return nodes_up, meta, loaded, bool(managers["data"]["activeAlertmanagers"])


def ensure_dashboard(settings: Settings, out: TextIO = sys.stdout, timeout: float = 60) -> None:
    """Start the running lab's dashboard page when it is not running (`labkit up` starts it;
    this brings it back after it was stopped or crashed), then say where its pages are."""
    paths = LabPaths(settings.state_dir)
    config = load_config(paths)
    if config is None or read_pid(paths, "prometheus") is None:
        raise LabNotRunning(paths.state)
    comp = dashboard_component(config, paths)
    if read_pid(paths, "dashboard") is None or not http_ok(comp.ready_url):
        stop_component("dashboard", paths)
        check_port_free(config.host, config.dashboard_port, "the lab's dashboard page")
        print(f"labkit dashboard: starting the dashboard page on port {config.dashboard_port}",
              file=out, flush=True)  # fmt: skip
        processes.spawn(comp, paths.processes)
        processes.wait_ready(comp, paths.processes, time.monotonic() + timeout)
    print(f"  dashboard      {config.dashboard_page}", file=out)
    print(f"  Alertmanager   {config.alertmanager_page}", file=out)


def down(settings: Settings, out: TextIO = sys.stdout, quiet: bool = False) -> int:
    """Stop every component (Prometheus first, so it flushes while the nodes still answer)."""
    paths = LabPaths(settings.state_dir)
    stopped = 0
    for name in ("dashboard", "prometheus", "fleet", "alertmanager", "receiver"):
        if stop_component(name, paths):
            stopped += 1
            if not quiet:
                print(f"  {name:<13} stopped", file=out)
    paths.lab_json.unlink(missing_ok=True)
    if not quiet:
        print("labkit down: " + ("the lab is stopped" if stopped else "nothing was running"),
              file=out)  # fmt: skip
    return stopped


def status_rows(settings: Settings) -> tuple[LabConfig | None, list[dict[str, Any]]]:
    """Each component: name, pid, state (running / not running / not responding), url."""
    paths = LabPaths(settings.state_dir)
    config = load_config(paths)
    if config is None:
        return None, []
    rows = []
    for comp in components_for_status(config, paths):
        pid = read_pid(paths, comp.name)
        if pid is None:
            state = "not running"
        else:
            # a node down by node_crash answers 503 on the fleet's ready address: it runs
            up = http_ok(comp.ready_url) or (comp.name == "fleet" and responds(comp.ready_url))
            state = "running" if up else "not responding"
        rows.append({"component": comp.name, "pid": pid, "state": state, "url": comp.ready_url})
    return config, rows


def components_for_status(config: LabConfig, paths: LabPaths) -> list[Component]:
    with contextlib.suppress(LabkitError):
        return components(config, paths)
    names = {"receiver": config.receiver_url + "/health",
             "alertmanager": config.alertmanager_url + "/-/ready",
             "fleet": config.url(config.base_port) + "/health",
             "prometheus": config.prometheus_url + "/-/ready",
             "dashboard": config.dashboard_url + "/"}  # fmt: skip
    return [Component(n, [n], url) for n, url in names.items()]
