"""Serve N nodes from one process: node i on port base_port + i - 1.

One uvicorn server listens on every node's socket; the app tells the nodes apart by the port.
Sockets are bound here, before the server starts, so a taken port is reported by name before
anything listens; they get TCP_NODELAY (inherited by accepted connections) because a
keep-alive scrape otherwise waits ~40 ms on Nagle's algorithm and delayed ACKs.

While it runs the fleet writes its layout to `<state_dir>/fleet.json`, so the CLI and the lab
find the nodes; the file is removed on a clean exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labkit.errors import InvalidInput, PortInUse
from labkit.journal import HEARTBEAT_SECONDS, Journal, close_orphans
from labkit.model import ModelParams
from labkit.node import Clock, Node

if TYPE_CHECKING:
    from labkit.auth import Credentials
    from labkit.past import Past

MAX_NODES = 5000


@dataclass(frozen=True)
class FleetLayout:
    """Where a fleet's nodes listen. Written to fleet.json by a running fleet."""

    host: str = "127.0.0.1"
    ports: dict[int, int] = field(default_factory=dict)  # node id -> port
    pid: int | None = None
    seed: int = 0
    started_at: float | None = None

    @classmethod
    def contiguous(
        cls, nodes: int, base_port: int, host: str = "127.0.0.1", **kw: Any
    ) -> FleetLayout:
        check_fleet_size(nodes, base_port)
        return cls(host=host, ports={i: base_port + i - 1 for i in range(1, nodes + 1)}, **kw)

    def url(self, node_id: int) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.ports[node_id]}"

    def to_json(self) -> str:
        data = asdict(self)
        data["ports"] = {str(k): v for k, v in self.ports.items()}
        return json.dumps(data, indent=1)

    @classmethod
    def from_json(cls, text: str) -> FleetLayout:
        data = json.loads(text)
        data["ports"] = {int(k): int(v) for k, v in data["ports"].items()}
        return cls(**data)


def check_fleet_size(nodes: int, base_port: int) -> None:
    if not 1 <= nodes <= MAX_NODES:
        raise InvalidInput("--nodes", nodes, f"a whole number from 1 to {MAX_NODES}")
    if not base_port >= 1 or base_port + nodes - 1 > 65535:
        raise InvalidInput(
            "--base-port", base_port, f"a port from 1 to {65536 - nodes} for {nodes} nodes"
        )


def raise_fd_limit(wanted: int) -> None:
    """Lift the soft open-files limit towards `wanted` (each node needs a listener and a
    connection per scraper)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def port_owner(port: int) -> str:
    """Who listens on `port`, as ss tells it ('' if unknown)."""
    try:
        out = subprocess.run(
            ["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True, timeout=5
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    if 'users:(("' in out:
        name = out.split('users:(("', 1)[1].split('"', 1)[0]
        pid = out.split("pid=", 1)[1].split(",", 1)[0] if "pid=" in out else "?"
        return f"{name} (pid {pid})"
    return ""


def bind(host: str, ports: dict[int, int], what: str = "node {}") -> dict[int, socket.socket]:
    """Bind and listen on every port (keyed by node id); on failure close them all and raise
    PortInUse naming the port and `what` listens there."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    bound: dict[int, socket.socket] = {}
    try:
        for node_id, port in ports.items():
            sock = socket.socket(family, socket.SOCK_STREAM)
            bound[port] = sock
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                sock.bind((host, port))
            except OSError as exc:
                if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                    raise PortInUse(port, host, what.format(node_id), port_owner(port)) from None
                raise
            sock.listen(1024)
            sock.setblocking(False)
    except BaseException:
        for sock in bound.values():
            sock.close()
        raise
    return bound


HEARTBEAT_FILE = "fleet.alive"  # beside the journal: touched while the fleet runs


def make_nodes(
    layout: FleetLayout,
    *,
    journal: Journal,
    clock: Clock = time.time,
    params: ModelParams | None = None,
    past: Past | None = None,
) -> dict[int, Node]:
    """Nodes keyed by port; with a `past`, each node carries on from its backfilled history."""
    return {
        port: Node(
            node_id,
            seed=layout.seed,
            journal=journal,
            clock=clock,
            params=params,
            started_at=past.origin_epoch if past else None,
            origin=past.origins.get(node_id) if past else None,
        )
        for node_id, port in layout.ports.items()
    }


async def sweep_expiries(
    nodes: list[Node], clock: Clock = time.time, heartbeat: Path | None = None
) -> None:
    """Journal every fault as it expires, with nobody asking (runs until cancelled); touch
    `heartbeat` at least every HEARTBEAT_SECONDS, so that the next fleet knows when this one
    was last alive if it dies (labkit.journal.close_orphans)."""
    while True:
        if heartbeat is not None:
            heartbeat.touch()
        due = [n.next_expiry() for n in nodes]
        soonest = min((d for d in due if d is not None), default=None)
        now = clock()
        if soonest is not None and soonest <= now:
            for node in nodes:
                node.expire_due(now)
            continue
        beat = HEARTBEAT_SECONDS
        await asyncio.sleep(beat if soonest is None else min(beat, soonest - now + 0.001))


@contextlib.contextmanager
def state_file(path: Path, layout: FleetLayout) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(layout.to_json())
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            if FleetLayout.from_json(path.read_text()).pid == layout.pid:
                path.unlink()


def serve(
    layout: FleetLayout,
    *,
    journal_path: Path | None,
    state_path: Path | None,
    params: ModelParams | None = None,
    log: Any = sys.stderr,
    past: Past | None = None,
    credentials: Credentials | None = None,
) -> None:
    """Run the fleet in the foreground until interrupted (Ctrl-C or SIGTERM); with a `past`
    (labkit.past), the nodes' counters carry on from their backfilled history."""
    import uvicorn

    raise_fd_limit(4 * len(layout.ports) + 256)
    sockets = bind(layout.host, layout.ports)
    layout = FleetLayout(
        host=layout.host,
        ports=layout.ports,
        pid=os.getpid(),
        seed=layout.seed,
        started_at=time.time(),
    )
    journal = Journal(journal_path)
    heartbeat = journal_path.with_name(HEARTBEAT_FILE) if journal_path else None
    last_alive = heartbeat.stat().st_mtime if heartbeat and heartbeat.exists() else None
    orphans = close_orphans(journal, last_alive, time.time())
    if orphans:
        print(
            f"labkit: the previous fleet ended with {orphans} fault{'s' * (orphans > 1)} "
            "active: journalled as ended when it was last alive",
            file=log,
            flush=True,
        )
    nodes = make_nodes(layout, journal=journal, params=params, past=past)

    from labkit.auth import guard
    from labkit.service import NodeApp

    app = guard(NodeApp(nodes), credentials)  # 401 without the lab's secret (--auth)
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        http="httptools",
        loop="uvloop" if _has("uvloop") else "asyncio",
        timeout_keep_alive=30,
        backlog=1024,
    )
    server = uvicorn.Server(config)

    async def main() -> None:
        sweeper = asyncio.create_task(sweep_expiries(list(nodes.values()), heartbeat=heartbeat))
        try:
            await server.serve(sockets=list(sockets.values()))
        finally:
            sweeper.cancel()
            for node in nodes.values():  # the faults end with the nodes, and say so
                node.stop("fleet-stopped")
            if heartbeat is not None:
                heartbeat.unlink(missing_ok=True)

    first, last = min(layout.ports.values()), max(layout.ports.values())
    ports = f"port {first}" if first == last else f"ports {first}-{last}"
    where = layout.url(min(layout.ports)).rsplit(":", 1)[0]
    print(
        f"labkit: serving {len(nodes)} node{'s' * (len(nodes) > 1)} on {where} {ports} "
        f"(seed {layout.seed}); journal: {journal_path or 'off'}. Ctrl-C stops.",
        file=log,
        flush=True,
    )
    ctx = state_file(state_path, layout) if state_path else contextlib.nullcontext()
    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then raises the signal again with the
    # handler it found: make that one unwind (so fleet.json is removed) instead of killing us.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        with ctx, asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
            runner.run(main())
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        for sock in sockets.values():
            sock.close()


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None
