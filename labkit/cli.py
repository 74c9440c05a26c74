"""The `labkit` command.

    labkit fleet   [--nodes 12] [--base-port 8001] [--host 127.0.0.1] [--seed 0]
    labkit node    --id 3 [--port 8000] [--host 127.0.0.1] [--seed 0]
    labkit inject  --node 3|all --failure MODE [--duration 30]
    labkit recover --node 3|all [--failure MODE]
    labkit status  [--node 3|all] [--json]
    labkit notifications [--limit 20] [--json] [--follow]
    labkit up      [--nodes 12] [--seed 0] [--base-port 8001] [--prometheus-port 9090] ...
    labkit down
    labkit lessons DIR [--force]   (copy the lessons into DIR to work in)
    labkit dashboard   (the dashboard page: start it if it is not running; print its pages)

Exit codes: 0 done, 1 something did not work (a node unreachable, a start timed out),
2 bad input (the message names the flag, the value and what is allowed; a port another
program holds and a refused secret too).
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from labkit import durations
from labkit.errors import InvalidInput, LabkitError, NodeUnreachable
from labkit.failures import (
    DEFAULT_DURATION_SECONDS,
    FAILURE_EFFECTS,
    FAILURE_MODES,
    check_duration,
)
from labkit.settings import Settings
from labkit.words import plural

if TYPE_CHECKING:
    from typing import TypeAlias

    _Subcommands: TypeAlias = "argparse._SubParsersAction[_Parser]"

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
_LIST_LIMIT = 24  # above this many nodes, inject/recover print a summary instead of a line each


def _duration(text: str) -> float:
    try:
        return check_duration(durations.parse(text, "--duration"), "--duration")
    except InvalidInput:
        raise argparse.ArgumentTypeError(
            f"--duration must be a number of seconds from 1 to 3600, or a duration such as "
            f"90s or 1m30s; got {text!r}"
        ) from None


#: `labkit up`'s port options: flag, the seed's port, what listens there
PORT_FLAGS = (
    ("--base-port", 8001, "node 1's port; node N listens on base + N - 1"),
    ("--prometheus-port", 9090, "Prometheus' port"),
    ("--alertmanager-port", 9093, "Alertmanager's port"),
    ("--receiver-port", 9095, "the alert receiver's port: the webhook Alertmanager notifies"),
    ("--dashboard-port", 9096, "the dashboard page (Voilà): labkit's dashboard and "
                               "Alertmanager view"),
)  # fmt: skip


def _dest(flag: str) -> str:
    return flag.removeprefix("--").replace("-", "_")


def _positive_int(name: str, upper: int = 65535) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = -1
        if not 1 <= value <= upper:
            raise argparse.ArgumentTypeError(
                f"{name} must be a whole number from 1 to {upper}; got {text!r}"
            )
        return value

    return parse


def _seed(text: str) -> int:
    """A simulation seed, bounded as a scenario's (labkit.scenario.MAX_SEED: the simulator
    hashes 64 bits, so every seed in range is its own fleet)."""
    from labkit.scenario import MAX_SEED

    try:
        seed = int(text)
    except ValueError:
        seed = -1
    if not 0 <= seed <= MAX_SEED:
        raise argparse.ArgumentTypeError(
            f"--seed must be a whole number from 0 to 2**64 - 1; got {text!r}"
        ) from None
    return seed


class _Parser(argparse.ArgumentParser):
    """argparse, but a value checker's message names its option once: the checkers here say
    "--duration must be ..." themselves, which argparse would prefix with "argument
    --duration: " again."""

    def error(self, message: str) -> NoReturn:
        said = re.match(r"argument ([^:]+): ", message)
        if said and any(message[said.end() :].startswith(f"{name} ")
                        for name in said.group(1).split("/")):  # fmt: skip
            message = message[said.end() :]
        super().error(message)


def _seconds(name: str, zero_ok: bool = False) -> Any:
    """A finite number of seconds, above 0 (or 0 and more with `zero_ok`)."""

    def parse(text: str) -> float:
        try:
            value = durations.parse(text, name)
        except InvalidInput:
            value = math.nan
        if not (value >= 0 if zero_ok else value > 0) or math.isinf(value):
            allowed = "a number, 0 or more" if zero_ok else "a number above 0"
            raise argparse.ArgumentTypeError(
                f"{name} must be {allowed} (seconds, or a duration such as 15s or 1m); got {text!r}"
            )
        return value

    return parse


def _iso_time(text: str) -> float:
    from datetime import UTC, datetime

    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--start must be a UTC time such as 2026-01-05T00:00:00Z; got {text!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="labkit",
        description="An SRE lab on a laptop: simulated edge nodes, failure injection, alerts.",
        epilog=f"Failure modes:\n{_modes_text()}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--state-dir", type=Path, help="lab state folder (default: .lab/ in the project)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # `labkit --help` lists the commands in this order
    _add_serving(sub)  # fleet, node
    _add_faults(sub)  # inject, recover
    _add_views(sub)  # dashboard, status, notifications
    _add_up_down(sub)  # up, down
    _add_slo(sub)  # slo generate
    _add_scenario(sub)  # scenario validate, scenario run
    _add_recordings(sub)  # history, replay, archive, score
    _add_plumbing(sub)  # compose-files, receiver
    return parser


def _modes_text() -> str:
    return "\n".join(f"  {m:<14} {effect}" for m, effect in FAILURE_EFFECTS.items())


_TARGET_HELP = "a node id, or all"


def _add_serving(sub: _Subcommands) -> None:
    def serving(p: argparse.ArgumentParser) -> None:
        p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
        p.add_argument("--seed", type=_seed, default=0, help="simulation seed (0)")
        p.add_argument(
            "--journal", type=Path, help="injection journal (.lab/journal/injections.jsonl)"
        )
        p.add_argument("--auth-file", type=Path, metavar="FILE",
                       help="answer 401 to requests without basic auth: user labkit, the "
                            "secret in FILE (labkit up --auth sets this)")  # fmt: skip

    fleet = sub.add_parser("fleet", help="serve N simulated nodes from one process")
    fleet.add_argument("--nodes", type=_positive_int("--nodes", 5000), default=12,
                       help="how many nodes to serve, 1-5000 (12)")  # fmt: skip
    fleet.add_argument(
        "--base-port", type=_positive_int("--base-port"), default=8001, help="node 1's port (8001)"
    )
    serving(fleet)
    fleet.add_argument(
        "--past",
        type=Path,
        metavar="PAST_JSON",
        help="the backfilled past to carry on from (labkit up writes it)",
    )

    node = sub.add_parser("node", help="serve one simulated node (as in a container)")
    node.add_argument("--id", type=_positive_int("--id", 5000), required=True, help="node id")
    node.add_argument("--port", type=_positive_int("--port"), default=8000,
                      help="port to listen on (8000)")  # fmt: skip
    serving(node)


def _add_faults(sub: _Subcommands) -> None:
    inject = sub.add_parser(
        "inject",
        help="inject a failure into one node or all",
        description="Inject a failure into one node or all; it ends by itself after\n"
        "--duration seconds (or earlier with `labkit recover`).",
        epilog=f"Failure modes (--failure):\n{_modes_text()}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    inject.add_argument("--node", required=True, help=_TARGET_HELP)
    inject.add_argument(
        "--failure",
        required=True,
        choices=FAILURE_MODES,
        metavar="MODE",
        help="the failure mode, one of: " + ", ".join(FAILURE_MODES) + " (listed below)",
    )
    inject.add_argument(
        "--duration",
        type=_duration,
        default=DEFAULT_DURATION_SECONDS,
        help="seconds, 1-3600 (30); the fault then ends by itself",
    )

    recover = sub.add_parser(
        "recover",
        help="end injected failures early",
        description="End injected failures before they expire. Prints a line per node that "
        "had something to recover, then (for several nodes) one summary line.",
    )
    recover.add_argument("--node", required=True, help=_TARGET_HELP)
    recover.add_argument(
        "--failure",
        choices=FAILURE_MODES,
        metavar="MODE",
        help="the mode to end (default: all of them)",
    )


def _add_views(sub: _Subcommands) -> None:
    sub.add_parser(
        "dashboard",
        help="the running lab's dashboard page (Voilà): start it if it is not running, and "
        "print its addresses (the dashboard, the Alertmanager view)",
    )

    status = sub.add_parser("status", help="the lab's components, addresses, targets and nodes")
    status.add_argument("--node", default="all", help=_TARGET_HELP + " (all)")
    status.add_argument(
        "--json",
        action="store_true",
        help="print the running lab's addresses and components' state as JSON, for scripts "
        "(exit 1 and a message on stderr when no lab is running)",
    )

    notes = sub.add_parser(
        "notifications",
        help="what the alert receiver got: a table, newest first",
        description="The alert receiver's journal (.lab/journal/notifications.jsonl: every "
        "alert of every notification Alertmanager sent, with the time it arrived, across "
        "restarts), as a table, newest first. Works while the lab is stopped too.",
    )
    notes.add_argument("--limit", type=_positive_int("--limit", 10_000), default=20,
                       metavar="N", help="show the N newest, 1-10000 (20)")  # fmt: skip
    notes.add_argument("--json", action="store_true",
                       help="JSON instead of a table: a list, newest first (with --follow, "
                            "one object per line)")  # fmt: skip
    notes.add_argument("--follow", action="store_true",
                       help="then print new ones as they arrive, oldest first like tail -f, "
                            "until Ctrl-C")  # fmt: skip


def _add_up_down(sub: _Subcommands) -> None:
    up = sub.add_parser(
        "up",
        help="start the lab: nodes, Prometheus, Alertmanager, alert receiver, dashboard page",
        description="Start the embedded lab as local processes (state in .lab/) and wait "
        "until Prometheus scrapes every node and has loaded the alert rules. Running it "
        "again while the lab is up does nothing (options left out are the running lab's); "
        "on half a lab it starts what is missing.",
    )
    up.add_argument("--nodes", type=_positive_int("--nodes", 5000), default=None,
                    help="how many simulated nodes, 1-5000 (12)")  # fmt: skip
    up.add_argument("--seed", type=_seed, default=None, help="simulation seed (0)")
    ports = up.add_argument_group(
        "ports", "where the lab listens (on 127.0.0.1); defaults as in the seed, or --ports auto"
    )
    ports.add_argument(
        "--ports",
        choices=("seed", "auto"),
        default=None,
        help="seed: the ports below (8001-..., 9090, 9093, 9095, 9096); auto: free ones, "
        "recorded in the state folder for every command, lesson and page (many labs on "
        "one host, each with its own state folder)",
    )
    for flag, port, what in PORT_FLAGS:
        ports.add_argument(flag, type=_positive_int(flag), default=None,
                           help=f"{what} ({port})")  # fmt: skip
    up.add_argument(
        "--slo-profile",
        default=None,
        help="time compression of the SLOs in slo/: lab-day (windows x 1/30), production, "
        "or a period such as 12h (lab-day)",
    )
    up.add_argument(
        "--timeout",
        type=_positive_int("--timeout", 600),
        default=60,
        help="seconds to wait for the lab to be ready (60)",
    )
    up.add_argument(
        "--no-past",
        action="store_true",
        help="on a first start (an empty TSDB), do not backfill the fleet's at-rest past: "
        "alerts with long windows then see only the lab's own minutes",
    )
    up.add_argument(
        "--auth",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="every listener asks for a secret of this lab (in the state folder, readable by "
        "you alone), which labkit's tools send by themselves: for a shared host (default: on "
        "when JUPYTERHUB_USER is set, else off)",
    )
    up.add_argument(
        "--proxy-prefix",
        default=None,
        metavar="PATH",
        help="the URL path under which a reverse proxy serves the lab's web UIs (Prometheus "
        "at PATH/prometheus/, the pages at PATH/labkit/), as JupyterHub's jupyter-server-proxy "
        "does (default: JUPYTERHUB_SERVICE_PREFIX under JupyterHub, else none)",
    )
    sub.add_parser("down", help="stop the lab (the TSDB and silences are kept in .lab/)")
    lessons = sub.add_parser(
        "lessons",
        help="copy the lessons (notebooks) into a folder to work in",
        description="Copy the lesson notebooks into DIR (created if needed). A lesson already "
        "there with other text (your work) is kept unless --force. Start the lab and "
        "JupyterLab from DIR: the lessons find the lab in DIR/.lab (or LABKIT_STATE_DIR).",
    )
    lessons.add_argument("dir", type=Path, metavar="DIR", help="where to put them")
    lessons.add_argument("--force", action="store_true",
                         help="overwrite lessons already there with other text")  # fmt: skip


def _add_slo(sub: _Subcommands) -> None:
    from labkit import slo_spec

    slo = sub.add_parser("slo", help="SLOs: generate burn-rate rules from a spec")
    slo_sub = slo.add_subparsers(dest="slo_command", required=True, metavar="SLO_COMMAND")
    generate = slo_sub.add_parser(
        "generate",
        help="recording rules and multi-window multi-burn-rate alerts from an SLO spec",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=slo_spec.__doc__,
        epilog="Profiles: "
        + ", ".join(
            f"{p.name} (a 30d period lasts {slo_spec.duration(p.period_seconds)})"
            for p in slo_spec.PROFILES.values()
        )
        + ", or any duration such as 12h (refused if a window falls under 4 scrape intervals). "
        "Sloth's flags carry over: -l/--extra-labels, --disable-alerts, --disable-recordings, "
        "--period (Sloth's --default-slo-period), --windows (one AlertWindows file, where "
        "Sloth's --slo-period-windows-path takes a folder of them).",
    )
    generate.add_argument("spec", type=Path, metavar="SPEC", help="an SLO spec (YAML)")
    generate.add_argument(
        "--period",
        help="the SLO period, as Sloth's --default-slo-period: the windows stay, the factors "
        "change so each alert lets 2, 5, 10, 10 %% of the budget go (30d, or the --windows "
        "file's)",
    )
    generate.add_argument(
        "--profile",
        default="production",
        help="time compression, labkit's own: how long the whole SLO period lasts in the lab, "
        "every window scaled alike: production (real time), lab-day (1 day), or a duration "
        "such as 12h (production)",
    )
    generate.add_argument(
        "--windows",
        type=Path,
        metavar="FILE",
        help="Sloth's AlertWindows spec (apiVersion: sloth.slok.dev/v1): its period, windows "
        "and budget shares instead of the defaults",
    )
    generate.add_argument(
        "-l",
        "--extra-labels",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a label for every recording rule, as Sloth's -l (repeat for more)",
    )
    generate.add_argument("--disable-alerts", action="store_true", help="no alert rules")
    generate.add_argument(
        "--disable-recordings", action="store_true", help="no recording rules (alerts only)"
    )
    generate.add_argument(
        "--out", type=Path, help="write the rules here (default: standard output)"
    )
    generate.add_argument("--tests", type=Path, help="also write promtool test cases for them here")


def _add_scenario(sub: _Subcommands) -> None:
    scenario = sub.add_parser("scenario", help="timed schedules of injections")
    scenario_sub = scenario.add_subparsers(dest="scenario_command", required=True, metavar="ACTION")
    validate = scenario_sub.add_parser(
        "validate",
        help="report every problem of a scenario file",
        description="Check a scenario file without running it: every problem at once, each "
        "with its line (unknown or repeated keys, wrong types, values out of bounds, overlapping "
        "faults, a fault in a control period; a file that is not UTF-8 YAML, too large, too "
        "deep or with aliases). Exit status 0 and a summary when it is fine, 2 when it is not. "
        "The format and its bounds: docs/scenarios.md.",
    )
    validate.add_argument("file", type=Path, metavar="FILE", help="a scenario (YAML)")
    play = scenario_sub.add_parser(
        "run",
        help="play a scenario against the running lab",
        description="Validate a scenario file (as `validate` does: exit 2 on any problem, "
        "nothing played), then play it against the running lab in real time, with a progress "
        "bar; every injection is journalled as the ground truth.",
    )
    play.add_argument("file", type=Path, metavar="FILE", help="a scenario (YAML)")


def _add_recordings(sub: _Subcommands) -> None:
    hist = sub.add_parser(
        "history", help="simulate a scenario offline into a Prometheus TSDB (promtool backfill)"
    )
    hist.add_argument("file", type=Path, metavar="FILE", help="a scenario (YAML)")
    hist.add_argument("--out", type=Path, required=True, metavar="DIR",
                      help="where to write history.json, journal.jsonl and data/")  # fmt: skip
    hist.add_argument("--start", type=_iso_time, default=None, metavar="TIME",
                      help="UTC start such as 2026-01-05T00:00:00Z (the default)")  # fmt: skip
    hist.add_argument("--keep-openmetrics", action="store_true",
                      help="keep the OpenMetrics files (DIR/labkit-om-*)")  # fmt: skip

    rep = sub.add_parser("replay", help="serve a recorded history with Prometheus on loopback")
    rep.add_argument("dir", type=Path, metavar="DIR", help="a history directory or archive file")
    rep.add_argument("--port", type=_positive_int("--port"), default=None,
                     help="Prometheus' port (the first free from 9190 to 9199)")  # fmt: skip
    rep.add_argument("--stop", action="store_true", help="stop the replay of DIR")

    arch = sub.add_parser(
        "archive", help="pack the lab's TSDB and journals into one .tar.gz (replay opens it)"
    )
    arch.add_argument("out", type=Path, metavar="OUT", help="the archive to write (.tar.gz)")

    sc = sub.add_parser("score", help="replay alert rules over a history and score them")
    sc.add_argument("dir", type=Path, metavar="DIR", help="a history directory or archive file")
    sc.add_argument("--rules", type=Path, action="append", metavar="FILE",
                    help="score this rule file instead of the seed and SLO rule sets "
                         "(repeatable)")  # fmt: skip
    sc.add_argument("--step", type=_seconds("--step"), default=None,
                    help="evaluation step in seconds (default: the history's)")  # fmt: skip
    sc.add_argument("--grace", type=_seconds("--grace", zero_ok=True), default=None,
                    help="seconds after a fault ends in which a firing still counts "
                         "(default: 60 or 4 steps)")  # fmt: skip
    sc.add_argument("--port", type=_positive_int("--port"), default=None,
                    help="the replay Prometheus' port (the first free from 9190)")  # fmt: skip
    sc.add_argument("--csv", type=Path, metavar="FILE", help="also write the per-mode table")


def _add_plumbing(sub: _Subcommands) -> None:
    files = sub.add_parser(
        "compose-files",
        help="write the compose stack's generated files (targets, Alertmanager, dashboard)",
    )
    files.add_argument("--check", action="store_true",
                       help="only check they are up to date (exit 1 if not)")  # fmt: skip

    receiver = sub.add_parser("receiver", help="(internal) the alert webhook sink")
    receiver.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    receiver.add_argument("--port", type=_positive_int("--port"), default=9095,
                          help="port to listen on (9095)")  # fmt: skip
    receiver.add_argument("--auth-file", type=Path, metavar="FILE",
                          help="answer 401 without basic auth: user labkit, the secret in "
                               "FILE")  # fmt: skip


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    parser = build_parser()
    args = parser.parse_args(argv)
    settings = Settings(args.state_dir.resolve()) if args.state_dir else Settings.from_env()
    try:
        if args.command in ("fleet", "node"):
            return _serve(args, settings)
        if args.command == "receiver":
            from labkit.receiver import serve

            serve(args.host, args.port, settings.notifications_path, _credentials(args))
            return EXIT_OK
        _lab_credentials(settings)
        return _COMMANDS[args.command](args, settings, out)
    except InvalidInput as exc:
        print(f"labkit {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except LabkitError as exc:
        print(f"labkit {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE if exc.bad_input else EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_FAILED
    except BrokenPipeError:  # `labkit status | head`: the reader left, nothing to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from labkit.fleet import FleetLayout, serve

    if args.command == "fleet":
        layout = FleetLayout.contiguous(args.nodes, args.base_port, args.host, seed=args.seed)
        state_path: Path | None = settings.fleet_state_path
    else:
        layout = FleetLayout(host=args.host, ports={args.id: args.port}, seed=args.seed)
        state_path = None
    past = None
    if getattr(args, "past", None):
        from labkit.past import Past

        past = Past.load(args.past)
    serve(layout, journal_path=args.journal or settings.journal_path, state_path=state_path,
          past=past, credentials=_credentials(args))  # fmt: skip
    return EXIT_OK


def _credentials(args: argparse.Namespace) -> Any:
    """What a server started with --auth-file asks of every request (None: nothing)."""
    from labkit.auth import from_file

    return from_file(args.auth_file) if args.auth_file is not None else None


def _lab_credentials(settings: Settings) -> None:
    """The running lab's secret for this command's calls, when it asks for one."""
    if settings.lab_json_path.exists():
        from labkit.stack import LabPaths, load_config

        load_config(LabPaths(settings.state_dir))


def _client(settings: Settings) -> Any:
    from labkit.client import FleetClient

    return FleetClient.discover(settings.fleet_state_path)


def _report(results: list[tuple[int, Any]], out: TextIO, line: Any, summary: str) -> int:
    done = [(n, r) for n, r in results if not isinstance(r, LabkitError)]
    if len(results) <= _LIST_LIMIT:
        for node_id, result in done:
            print(line(node_id, result), file=out)
    else:
        print(summary.format(n=plural(len(done), "node")), file=out)
    return _failures(results)


def _failures(results: list[tuple[int, Any]]) -> int:
    """Say on stderr which nodes failed (a whole fleet down: once); the exit code."""
    failed = [(n, r) for n, r in results if isinstance(r, LabkitError)]
    down = all(isinstance(e, NodeUnreachable) for _, e in failed)
    if len(failed) > 1 and len(failed) == len(results) and down:
        node_id, exc = failed[0]  # the whole fleet is down: say it once
        print(f"node {node_id}: {exc} (and {plural(len(failed) - 1, 'more node')})",
              file=sys.stderr)  # fmt: skip
        return EXIT_FAILED
    for node_id, exc in failed:
        print(f"node {node_id}: {exc}", file=sys.stderr)
    if any(exc.bad_input for _, exc in failed):  # a refused secret: the caller's to fix
        return EXIT_USAGE
    return EXIT_FAILED if failed else EXIT_OK


def _inject(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    client = _client(settings)
    ids = client.node_ids(args.node)
    results = client.each(ids, lambda n: n.inject(args.failure, args.duration))

    def line(node_id: int, r: dict[str, Any]) -> str:
        again = " (already active: timer restarted)" if r["restarted"] else ""
        return (
            f"node {node_id}: {r['failure']} for {r['duration_seconds']:g} s, "
            f"until {r['ends_at']}{again}"
        )

    summary = f"{args.failure} injected on {{n}} for {args.duration:g} s"
    return _report(results, out, line, summary)


def _recover(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    from labkit.recovery import summary

    client = _client(settings)
    ids = client.node_ids(args.node)
    results = client.each(ids, lambda n: n.recover(args.failure))
    failed = [(n, r) for n, r in results if isinstance(r, LabkitError)]
    ended = {n: r for n, r in results if not isinstance(r, LabkitError) and r}
    idle = len(results) - len(failed) - len(ended)
    if len(ended) <= _LIST_LIMIT:
        for node_id, modes in ended.items():
            print(f"node {node_id}: ended {', '.join(modes)}", file=out)
    if len(ids) == 1 and idle:
        print(f"node {ids[0]}: nothing to recover", file=out)
    elif len(ids) > 1 and len(failed) < len(ids):
        faults = sum(len(m) for m in ended.values())
        print(summary(faults, len(ended), idle), file=out)
    return _failures(results)


def _up(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """`labkit up`: the options given, the rest the running lab's (so a plain `labkit up` on
    a lab started with --ports auto or --auth is the same lab), else the seed's defaults."""
    from dataclasses import replace

    from labkit.stack import LabConfig, LabPaths, free_ports, load_config, running, up

    given = {flag: getattr(args, _dest(flag)) for flag, _, _ in PORT_FLAGS}
    given = {flag: value for flag, value in given.items() if value is not None}
    if args.ports == "auto" and given:
        flag, value = next(iter(given.items()))
        raise InvalidInput(flag, value, "left out with --ports auto (which picks every port)")
    paths = LabPaths(settings.state_dir)
    current = load_config(paths)
    if current is None or not any(running(paths).values()):
        hub = os.environ  # under JupyterHub: --auth, and the UIs under the server's prefix
        current = LabConfig(auth=bool(hub.get("JUPYTERHUB_USER")),
                            proxy_prefix=hub.get("JUPYTERHUB_SERVICE_PREFIX", ""))  # fmt: skip
    elif args.ports == "seed" or args.nodes not in (None, current.nodes):
        seed_ports: dict[str, Any] = {_dest(flag): port for flag, port, _ in PORT_FLAGS}
        current = replace(current, **seed_ports)
    chosen: dict[str, Any] = {"nodes": args.nodes, "seed": args.seed, "auth": args.auth,
                              "slo_profile": args.slo_profile,
                              "proxy_prefix": args.proxy_prefix}  # fmt: skip
    chosen.update((_dest(flag), value) for flag, value in given.items())
    fields = {**current.__dict__, "past": not args.no_past}
    config = LabConfig(**{**fields, **{k: v for k, v in chosen.items() if v is not None}})
    if args.ports == "auto":
        config = free_ports(config, paths)
    up(config, settings, out=out, timeout=args.timeout)
    return EXIT_OK


def _lessons(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    from labkit.resources import copy_lessons

    done = copy_lessons(args.dir, force=args.force)
    for name, what in done.items():
        note = "   (yours: other text; --force overwrites it)" if what == "kept" else ""
        print(f"  {what:<9}  {args.dir / name}{note}", file=out)
    go = "" if args.dir.resolve() == Path.cwd() else f"`cd {args.dir}`, then "
    print(f"labkit lessons: {plural(len(done), 'lesson')} in {args.dir}; {go}`labkit up "
          f"--ports auto` (`--auth` too on a shared host) and `jupyter lab` there: the lessons "
          f"find the lab in {args.dir / '.lab'}", file=out)  # fmt: skip
    return EXIT_OK


def _compose_files(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    from labkit import compose
    from labkit.resources import PROJECT, is_checkout

    if not is_checkout(PROJECT):
        raise LabkitError(
            "compose-files regenerates the compose stack's files in a checkout of labkit's "
            f"repository; this labkit is installed (its files are in {PROJECT})"
        )
    if args.check:
        stale = compose.stale(PROJECT)
        for rel in stale:
            print(f"out of date: {rel} (run `labkit compose-files`)", file=sys.stderr)
        return EXIT_FAILED if stale else EXIT_OK
    for rel in compose.write(PROJECT):
        print(f"wrote {rel}", file=out)
    return EXIT_OK


def _slo(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    from labkit import slo_spec

    slos = slo_spec.load(args.spec)
    prof = slo_spec.profile(args.profile, _slo_windows(args))
    options = slo_spec.Options(
        extra_labels=slo_spec.extra_labels(args.extra_labels),
        recordings=not args.disable_recordings,
        alerts=not args.disable_alerts,
    )
    text = slo_spec.render(slos, prof, str(args.spec), options)
    slo_spec.check_with_promtool(
        text, slos, str(args.spec)
    )  # when installed: no rules Prometheus refuses
    tests = None
    if args.tests is not None:  # made before anything is written: all of it, or nothing
        if not options.alerts:
            raise InvalidInput("--tests", str(args.tests), "absent with --disable-alerts")
        rules_file = str(args.out.resolve()) if args.out else "RULES.yml"
        tests = slo_spec.dump_tests(slo_spec.generate_tests(slos, prof, rules_file))
    if args.out is None:
        out.write(text)
    else:
        _write(args.out, text, "--out")
        print(f"wrote {len(slos)} SLOs' rules to {args.out} (profile {prof.name})", file=out)
    if tests is not None:
        _write(args.tests, tests, "--tests")
        print(f"wrote promtool tests to {args.tests}", file=out)
    return EXIT_OK


def _slo_windows(args: argparse.Namespace) -> Any:
    """The alert windows of `slo generate`'s --windows and --period (Sloth's defaults)."""
    from labkit import slo_windows, specfields

    if args.windows is None:
        period = slo_windows.parse_period(args.period) if args.period else None
        return slo_windows.google(period or slo_windows.PERIOD_SECONDS)
    doc = specfields.load_yaml(args.windows, "--windows")
    windows = slo_windows.parse_windows(doc, str(args.windows))
    if args.period and slo_windows.parse_period(args.period) != windows.period_seconds:
        raise InvalidInput(
            "--period",
            args.period,
            f"the period of {args.windows} ({slo_windows.prom_duration(windows.period_seconds)}) "
            "or absent",
        )
    return windows


def _mode_for(path: Path) -> int:
    """The mode a file written at `path` should have: the one it has, else what the umask
    gives a new file (0644 under the usual 022), as `open(path, "w")` would."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def _write(path: Path, text: str, field: str) -> None:
    """`text` into `path` whole or not at all (a temporary file renamed over it)."""
    import tempfile

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        allowed = f"a file in a writable folder ({exc.strerror})"
        raise InvalidInput(field, str(path), allowed) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            os.fchmod(f.fileno(), _mode_for(path))  # mkstemp's 0600 would hide it from others
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise InvalidInput(field, str(path), f"a writable file ({exc.strerror})") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _scenario(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    from labkit import scenario

    loaded = scenario.load(args.file)  # a ScenarioError is bad input: exit 2
    if args.scenario_command == "validate":
        print(f"ok: {scenario.summary(loaded)}", file=out)
        return EXIT_OK
    from labkit.lab import Lab

    lab = Lab.connect(settings.state_dir)
    print(f"playing {scenario.summary(loaded)}", file=out)
    made = scenario.play(loaded, lab, out)
    print(f"{plural(made, 'injection')} made", file=out)
    return EXIT_OK


def _bar(out: TextIO) -> Any:
    """A progress bar: redrawn in place on a terminal; in a log, a line per tenth."""
    tty = hasattr(out, "isatty") and out.isatty()
    shown = [-1]

    def show(share: float, note: str) -> None:
        text = f"[{'#' * round(30 * share):<30}] {100 * share:5.1f}%  {note}"
        if tty:
            print(f"\r{text:<90}", end="", file=out, flush=True)
        elif int(10 * share) != shown[0]:
            print(text, file=out, flush=True)
            shown[0] = int(10 * share)

    return show


def _history(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    from labkit import history, scenario

    loaded = scenario.load(args.file)
    print(f"simulating {scenario.summary(loaded)}", file=out)
    start = args.start if args.start is not None else history.DEFAULT_START
    done = history.write_history(
        loaded, args.out, start=start, progress=_bar(out), keep_openmetrics=args.keep_openmetrics
    )
    if hasattr(out, "isatty") and out.isatty():
        print(file=out)
    rate = done.samples / done.total_seconds if done.total_seconds else 0.0
    print(f"wrote {plural(done.samples, 'sample')} in {plural(done.files, 'block')} to "
          f"{args.out}/data in "
          f"{done.total_seconds:.1f} s ({rate:,.0f} samples/s)", file=out)  # fmt: skip
    print(f"next: labkit replay {args.out}   (or labkit score {args.out})", file=out)
    return EXIT_OK


def _replay(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    from labkit import replay
    from labkit.journal import iso
    from labkit.recording import HistoryInfo

    directory = replay.resolve(args.dir, settings)
    if args.stop:
        stopped = replay.stop(directory)
        print("stopped" if stopped else f"no replay of {args.dir} was running", file=out)
        return EXIT_OK
    info = HistoryInfo.load(directory)
    url = replay.start(directory, port=args.port)
    print(f"replaying {info.name} ({info.kind}, {plural(info.nodes, 'node')}, "
          f"every {info.step_seconds:g} s)"
          f"\n  from {iso(info.start)} to {iso(info.end)}\n  Prometheus  {url}"
          f"\n  stop with `labkit replay {args.dir} --stop`", file=out)  # fmt: skip
    return EXIT_OK


def _archive(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    from labkit import replay

    done = replay.archive(settings, args.out)
    print(f"archived {plural(done['injections'], 'injection')} and "
          f"{plural(done['notifications'], 'notification')}, {done['start']} to {done['end']}, "
          f"into {done['path']} "
          f"({done['bytes'] / 1e6:.1f} MB)\nreplay it with `labkit replay {done['path']}`",
          file=out)  # fmt: skip
    return EXIT_OK


def _score(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    from labkit import score
    from labkit.alert_replay import load_rules

    directory, info = score.open_history(args.dir, settings)
    sets = {str(p): load_rules(p) for p in args.rules} if args.rules else None
    for name, rules in (sets or {}).items():
        if not rules:
            raise InvalidInput(
                "--rules",
                name,
                "a rule file with at least one alerting rule (`alert:`)",
                "Recording rules alone fire nothing to score; they are used by the alerts "
                "that read them.",
            )
    board = score.score_history(
        directory, info=info, sets=sets, step=args.step, grace_seconds=args.grace,
        port=args.port, progress=_bar(sys.stderr),
    )  # fmt: skip
    if sys.stderr.isatty():
        print(file=sys.stderr)
    print(board.text(), file=out)
    if args.csv is not None:
        board.modes.to_csv(args.csv, index=False)
        print(f"wrote {args.csv}", file=out)
    return EXIT_OK


def _dashboard(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    from labkit.stack import ensure_dashboard

    ensure_dashboard(settings, out=out)
    return EXIT_OK


def _down(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    from labkit.stack import down

    down(settings, out=out)
    return EXIT_OK


def _print_table(rows: list[tuple[str, ...]], out: TextIO) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        cells = [c.ljust(w) for c, w in zip(r, widths, strict=False)]
        print("  ".join([*cells, r[-1]]).rstrip(), file=out)


def _scrape_targets(prometheus_url: str) -> list[dict[str, Any]] | None:
    """Prometheus' active targets (job, node, instance, health, last error); None when it does
    not answer."""
    from labkit.stack import get_json

    try:
        data = get_json(f"{prometheus_url}/api/v1/targets?state=active")["data"]
    except (OSError, ValueError):
        return None
    targets = [
        {"job": t["labels"].get("job", ""), "node": t["labels"].get("node"),
         "instance": t["labels"].get("instance", ""), "health": t["health"],
         "last_error": t["lastError"]}
        for t in data["activeTargets"]
    ]  # fmt: skip

    def order(t: dict[str, Any]) -> tuple[str, int, str]:
        node = str(t["node"] or "")
        return t["job"], int(node) if node.isdigit() else 0, t["instance"]

    return sorted(targets, key=order)


def _components(settings: Settings, out: TextIO) -> dict[str, str] | None:
    """Print the lab's processes and addresses; return Prometheus' scrape health per node id
    (None when no lab is up, {} when Prometheus does not answer)."""
    from labkit.addresses import address_lines
    from labkit.stack import META_JOBS, NODE_JOB, LabPaths, classic_ui, status_rows

    config, rows = status_rows(settings)
    if config is None:
        print("No lab is running (`labkit up` starts one); nodes at the default or fleet "
              "layout:\n", file=out)  # fmt: skip
        return None
    _print_table(
        [("COMPONENT", "PID", "STATE", "URL")]
        + [(r["component"], str(r["pid"] or "-"), r["state"], r["url"]) for r in rows],
        out,
    )
    print(file=out)
    targets = _scrape_targets(config.prometheus_url)
    classic = classic_ui(config, LabPaths(settings.state_dir))
    for line in address_lines(config, classic):
        print(line, file=out)
    if targets:
        health = {t["job"]: t["health"] for t in targets if t["job"] in META_JOBS}
        print("  also scraped   " + ", ".join(f"{job} ({health.get(job, 'not a target')})"
                                          for job in META_JOBS)
              + "   (meta-monitoring)", file=out)  # fmt: skip
    print(file=out)
    return {
        str(t["node"] or ""): t["health"] + (f" ({t['last_error']})" if t["last_error"] else "")
        for t in targets or []
        if t["job"] == NODE_JOB
    }


def _status_json(settings: Settings, out: TextIO) -> int:
    """The running lab's addresses and state as one JSON document; exit 1 with a sentence on
    stderr (and nothing on stdout) when no lab runs."""
    import json

    from labkit.addresses import status_document
    from labkit.stack import LabPaths, classic_ui, status_rows

    config, rows = status_rows(settings)
    if config is None or not any(r["pid"] for r in rows):
        print(f"labkit status: no lab is running from {settings.state_dir}. "
              "Start one with `labkit up`.", file=sys.stderr)  # fmt: skip
        return EXIT_FAILED
    classic = classic_ui(config, LabPaths(settings.state_dir))
    doc = status_document(config, classic, rows, _scrape_targets(config.prometheus_url))
    doc["state_dir"] = str(settings.state_dir)
    print(json.dumps(doc, indent=1), file=out)
    down = [r["component"] for r in rows if r["state"] != "running"]
    if down:
        print(f"labkit status: {', '.join(down)} not running or not answering; `labkit down` "
              "then `labkit up` starts the lab clean", file=sys.stderr)  # fmt: skip
        return EXIT_FAILED
    return EXIT_OK


def _status(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    if args.json:
        return _status_json(settings, out)
    client = _client(settings)
    ids = client.node_ids(args.node)  # a bad --node is refused before anything is printed
    scrapes = _components(settings, out)

    def probe(node: Any) -> tuple[str, dict[str, Any]]:
        code, health = node.health()
        return ("ok" if code == 200 else health.get("status", f"HTTP {code}")), node.faults()

    results = client.each(ids, probe)
    head = ("NODE", "URL", "HEALTH", *(("PROMETHEUS SCRAPE",) if scrapes is not None else ()),
            "ACTIVE FAULTS", "TIME LEFT")  # fmt: skip
    rows: list[tuple[str, ...]] = [head]
    counts: dict[str, int] = {}
    for node_id, result in results:
        url = client.url(node_id)
        if isinstance(result, LabkitError):
            health, faults, left = "unreachable", "-", "-"
        else:
            health, info = result
            active = info["active"]
            faults = ", ".join(a["failure"] for a in active) or "-"
            left = ", ".join(f"{a['seconds_left']:.0f} s" for a in active) or "-"
        counts[health] = counts.get(health, 0) + 1
        scrape = () if scrapes is None else (scrapes.get(str(node_id), "not a target"),)
        rows.append((str(node_id), url, health, *scrape, faults, left))
    _print_table(rows, out)
    print(
        f"\n{plural(len(ids), 'node')}: "
        + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())),
        file=out,
    )
    if counts.get("unreachable") == len(ids):
        first = next(r for _, r in results if isinstance(r, LabkitError))
        print(f"labkit status: {first}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _notifications(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    from labkit import notifications

    path = settings.notifications_path
    if args.follow:
        return notifications.follow(path, out, limit=args.limit, as_json=args.json)
    records = notifications.newest(path, args.limit)
    if args.json:
        import json

        print(json.dumps(records, indent=1), file=out)
    elif not records:
        print(f"No notifications yet: the alert receiver journals them to {path}.", file=out)
    else:
        print(notifications.table(records), file=out)
    return EXIT_OK


_COMMANDS = {
    "inject": _inject,
    "recover": _recover,
    "status": _status,
    "notifications": _notifications,
    "dashboard": _dashboard,
    "up": _up,
    "down": _down,
    "lessons": _lessons,
    "compose-files": _compose_files,
    "slo": _slo,
    "scenario": _scenario,
    "history": _history,
    "replay": _replay,
    "archive": _archive,
    "score": _score,
}

if __name__ == "__main__":
    raise SystemExit(main())
