"""A Prometheus over a recorded TSDB, on loopback: `labkit replay DIR` and `labkit archive OUT`.

DIR is what `labkit history` writes, or what `labkit archive` packed from a live lab
(`history.json`, `journal.jsonl`, `data/`; a live archive adds `notifications.jsonl`).
An archive file (`.tar.gz`) is unpacked once under `.lab/replays/<name>/` and served from
there. The replay's Prometheus scrapes nothing and evaluates no rule; it keeps every block
(`--storage.tsdb.retention.time=100y`), so old histories are not trimmed away.

While it runs, the replay keeps its own files in DIR/run/ (see `ReplayPaths`):

    DIR/run/prometheus.yml   its config: no scrapes, no rules
    DIR/run/prometheus.pid   its pid file, checked against /proc before use (labkit.processes)
    DIR/run/prometheus.log   its output
    DIR/run/replay.json      its URL
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labkit import processes
from labkit.errors import InvalidInput, LabkitError, StartTimeout
from labkit.journal import iso, read_journal
from labkit.processes import Component, ProcessFiles, check_port_free
from labkit.recording import HistoryInfo
from labkit.settings import Settings
from labkit.stack import LabPaths, find_binary, load_config, read_pid

DEFAULT_PORT = 9190
PORT_RANGE = range(DEFAULT_PORT, DEFAULT_PORT + 10)  # tried in turn when no port is asked for


def resolve(source: Path | str, settings: Settings | None = None) -> Path:
    """The history directory for `source`: itself, or an archive unpacked under .lab/."""
    path = Path(source)
    if path.is_file() and path.name.endswith((".tar.gz", ".tgz")):
        settings = settings or Settings.from_env()
        name = path.name.removesuffix(".tar.gz").removesuffix(".tgz")
        target = settings.state_dir / "replays" / name
        if not (target / "history.json").exists():
            unpack(path, target)
        return target
    if not path.is_dir():
        raise InvalidInput(
            "DIR", str(source), "a directory written by `labkit history` or an archive .tar.gz"
        )
    HistoryInfo.load(path)  # raises a clear error when it is not a history
    return path


def unpack(archive: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=target.parent))
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(staging, filter="data")
        HistoryInfo.load(staging)
        if target.exists():
            shutil.rmtree(target)
        staging.replace(target)
    except (tarfile.TarError, OSError) as exc:
        raise LabkitError(f"{archive} is not a labkit archive: {exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@dataclass(frozen=True)
class ReplayPaths:
    """A replay's own files, all in `DIR/run/`; its Prometheus runs there too."""

    directory: Path

    @property
    def run(self) -> Path:
        return self.directory / "run"

    @property
    def processes(self) -> ProcessFiles:
        return ProcessFiles(pids=self.run, logs=self.run, cwd=self.run)

    @property
    def pid_file(self) -> Path:
        return self.processes.pid("prometheus")

    @property
    def config(self) -> Path:
        return self.run / "prometheus.yml"

    @property
    def meta(self) -> Path:
        return self.run / "replay.json"

    def adopt_legacy(self) -> None:
        """A replay started by an older labkit kept its pid file in DIR/run/run/ (and its log
        in DIR/run/logs/): the pid file moves here, so it is found and can be stopped."""
        old = self.run / "run" / "prometheus.pid"
        if old.exists() and not self.pid_file.exists():
            old.replace(self.pid_file)
        with contextlib.suppress(OSError):
            (self.run / "run").rmdir()


def _paths(directory: Path) -> ReplayPaths:
    paths = ReplayPaths(directory)
    paths.adopt_legacy()
    return paths


def running_url(directory: Path) -> str | None:
    """The URL of the replay Prometheus already serving `directory`, if any."""
    paths = _paths(directory)
    if processes.read_pid(paths.pid_file) is None or not paths.meta.exists():
        return None
    return str(json.loads(paths.meta.read_text())["url"])


def start(directory: Path | str, port: int | None = None, host: str = "127.0.0.1") -> str:
    """Serve the history in `directory` with Prometheus; returns its URL (reused if running).
    Without a port: the first free one from 9190 to 9199, else any free one (many labs on
    one host replay at once)."""
    directory = Path(directory).resolve()
    HistoryInfo.load(directory)
    if (url := running_url(directory)) is not None:
        return url
    if port is None:
        try:
            port = processes.first_free_port(host, PORT_RANGE, "the replay Prometheus")
        except LabkitError:
            port = processes.free_port_block(1, host)
    elif not 1 <= port <= 65535:
        raise InvalidInput("port", port, "a TCP port from 1 to 65535")
    check_port_free(host, port, "the replay Prometheus")
    paths = _paths(directory)
    paths.processes.make()
    config = paths.config
    config.write_text("# labkit replay: no scrapes, no rules; the TSDB is all\nglobal: {}\n")
    url = f"http://{host}:{port}"
    comp = Component(
        "prometheus",
        [
            find_binary("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={directory / 'data'}",
            "--storage.tsdb.retention.time=100y",
            f"--web.listen-address={host}:{port}",
            "--log.level=warn",
        ],
        f"{url}/-/ready",
        [port],
    )
    processes.spawn(comp, paths.processes)
    try:
        processes.wait_ready(comp, paths.processes, time.monotonic() + 60)
    except StartTimeout:
        processes.stop(paths.pid_file)
        raise
    paths.meta.write_text(json.dumps({"url": url}))
    return url


def stop(directory: Path | str) -> bool:
    """Stop the replay Prometheus of `directory`; False if none was running."""
    paths = _paths(Path(directory).resolve())
    paths.meta.unlink(missing_ok=True)
    return processes.stop(paths.pid_file)


# -- archives of a live lab ------------------------------------------------------------------


def archive(settings: Settings, out: Path | str) -> dict[str, Any]:
    """Pack the lab's TSDB and journals into `out` (.tar.gz); works running or stopped.
    The TSDB is copied as it is on disk (Prometheus' snapshot API stays off: the lab runs
    without admin APIs)."""
    out = Path(out)
    if not out.name.endswith((".tar.gz", ".tgz")):
        raise InvalidInput("OUT", str(out), "a file name ending in .tar.gz")
    paths = LabPaths(settings.state_dir)
    config = load_config(paths)
    data = paths.prometheus / "data"
    if config is None or not data.exists():
        raise LabkitError(
            f"no lab recording in {settings.state_dir}: start one with `labkit up`, "
            "inject some faults, then archive it"
        )
    running = read_pid(paths, "prometheus") is not None
    injections = list(read_journal(paths.journal / "injections.jsonl"))
    notes = list(read_journal(paths.journal / "notifications.jsonl"))
    # the recording spans from `labkit up` (lab.json is written then) to now, or, for a
    # stopped lab, to Prometheus' last write-ahead-log write
    wal = [f.stat().st_mtime for f in (data / "wal").glob("*") if f.is_file()]
    first = min([paths.lab_json.stat().st_mtime] + [e["ts"] for e in injections])
    info = HistoryInfo(
        name=out.name.removesuffix(".tar.gz").removesuffix(".tgz"),
        kind="live",
        start=float(first),
        end=time.time() if running else max(wal, default=time.time()),
        step_seconds=1.0,
        nodes=config.nodes,
        seed=config.seed,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="labkit-archive-") as tmp:
        staging = Path(tmp)
        info.save(staging)
        for name in ("injections.jsonl", "notifications.jsonl"):
            src = paths.journal / name
            dst = staging / ("journal.jsonl" if name == "injections.jsonl" else name)
            if src.exists():
                shutil.copyfile(src, dst)
            else:
                dst.touch()
        partial = out.with_name(out.name + ".partial")
        with tarfile.open(partial, "w:gz") as tar:
            for item in sorted(staging.iterdir()):
                tar.add(item, arcname=item.name)
            # blocks are immutable; the write-ahead log is append-only, and a record torn by
            # copying it while Prometheus writes is repaired when the replay opens it
            tar.add(data, arcname="data", filter=_skip_transient)
        partial.replace(out)
    return {
        "path": str(out),
        "bytes": out.stat().st_size,
        "start": iso(info.start),
        "end": iso(info.end),
        "injections": sum(e["event"] == "inject" for e in injections),
        "notifications": len(notes),
    }


def _skip_transient(member: tarfile.TarInfo) -> tarfile.TarInfo | None:
    """Leave out the running Prometheus' lock files and half-written compactions."""
    parts = Path(member.name).parts
    if parts[-1] in {"lock", "queries.active"} or any(".tmp-for-" in p for p in parts):
        return None
    return member
