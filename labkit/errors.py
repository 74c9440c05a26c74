"""The exceptions labkit raises, one small tree: every class, its other bases, when it is raised.

LabkitError                                 anything labkit raises on purpose; raised as it is
│                                           where no subclass fits: a replayed lab has no nodes
│                                           to inject into, a folder is not a recording,
│                                           promtool is missing, a drill gave up waiting
├── InvalidInput (ValueError)               a value a user gave is not allowed (CLI exit 2,
│                                           HTTP 422); carries .field, .value, .allowed, .hint
├── DocumentError                           a YAML file is not one labkit reads: not UTF-8,
│                                           too large or too deep, an alias, a duplicated key
│                                           (yamldoc); carries .source, .line, .problem
├── ScenarioError                           a scenario file has problems: all of them, each
│                                           with its line (scenario.load; CLI exit 2)
├── PortInUse (OSError)                     a listener could not bind its port (the fleet,
│                                           `labkit up`); names who holds it when it can;
│                                           bad input (exit 2): other ports are the cure
├── NodeUnreachable (ConnectionError)       a node's HTTP API did not answer (client)
├── ServiceUnreachable (ConnectionError)    Alertmanager or the alert receiver did not answer
├── ServiceRefused                          Alertmanager or the alert receiver answered with an
│                                           error status (alertview); carries .status, .message
├── PrometheusUnreachable (ConnectionError) nobody answered at Prometheus' URL (query.Prom)
├── QueryTimeout (TimeoutError)             Prometheus did not finish a query within Prom's
│                                           timeout
├── QueryError                              Prometheus rejected a query (query.Prom), or answered
│                                           "status": "error" with HTTP 200 (promjson.decode);
│                                           carries .query, Prometheus' own .message and
│                                           .error_type
├── UnreadableAnswer (ValueError)           Prometheus' answer cannot become a frame: not JSON,
│                                           cut short or followed by garbage (.position, the
│                                           byte), a sample that is not [timestamp, "number"]
│                                           (.series, its labels), not Prometheus' shape, or
│                                           native histograms (promjson.decode, query.to_frame)
├── QueryRefused                            Prometheus rejected a dashboard panel's query;
│                                           dashboard_view.Feed.fetch catches it and the panel
│                                           shows it as a sentence
├── LabNotRunning                           no lab runs from the state folder (Lab.connect,
│                                           `labkit dashboard`)
├── LabNotStarted                           the lab JupyterHub starts with a learner's server
│                                           did not start: the sentence labkit.hub recorded,
│                                           shown by Lab.open without a traceback
├── CredentialsError                        a lab started with --auth: its secret cannot be
│                                           read, or a listener refused the one given (401);
│                                           bad input (exit 2) (labkit.auth)
└── StartTimeout                            a process of `labkit up` or `labkit replay` exited
                                            while starting, or was not ready in time

The CLI turns a LabkitError into its message and exit status 2 when `bad_input` is true (the
caller's input is wrong), else 1 (the world is).

Private, never leaving their module: labkit.promjson._Unexpected (ValueError), the signal that
promjson's fast route (labkit.matrixscan, which raises plain ValueErrors) does not take a body
(promjson.decode catches it and reads the body the plain way, which raises UnreadableAnswer if
the body is bad), and labkit.promjson._BareConstant (ValueError), json's signal of a bare NaN
or Infinity, which promjson.load turns into UnreadableAnswer naming its byte; and
labkit.promtemplate._Refused, the template checker's reason a Go template would not parse,
which promtemplate.check turns into InvalidInput naming the field.

Built-in exceptions labkit raises itself are a programmer's mistakes, not a user's: ValueError
from constructors given impossible arguments (a fleet of no nodes, model parameters out of
range), KeyError for an alert or metric name labkit.alerts does not know.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labkit.words import plural


class LabkitError(Exception):
    """Base class of every error labkit raises on purpose."""

    bad_input = False  # the caller's input is wrong (the CLI exits 2), not the world (exit 1)


class InvalidInput(LabkitError, ValueError):
    """A user-given value is not allowed: names the field, the value and what is allowed."""

    bad_input = True

    def __init__(self, field: str, value: Any, allowed: str, hint: str = "") -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        self.hint = hint
        message = f"{field} must be {allowed}; got {value!r}"
        if hint:
            message += f". {hint}"
        super().__init__(message)


class DocumentError(LabkitError):
    """A YAML document labkit will not read (labkit.yamldoc): `problem` says why, `line`
    (1-based, None when it is the whole file) where."""

    bad_input = True

    def __init__(self, source: str, line: int | None, problem: str) -> None:
        self.source = source
        self.line = line
        self.problem = problem
        where = f"{source}: line {line}" if line is not None else source
        super().__init__(f"{where}: {problem}")


class ScenarioError(LabkitError):
    """Every problem of a scenario file, one per line of the message."""

    bad_input = True

    def __init__(self, path: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            f"{path}: {plural(len(problems), 'problem')}\n" + "\n".join(f"  {p}" for p in problems)
        )


class PortInUse(LabkitError, OSError):
    """A listener's port is already taken by another program (another lab's, perhaps)."""

    bad_input = True  # the ports asked for: `--ports auto` or other ports are the cure

    def __init__(self, port: int, host: str, what: str, owner: str = "") -> None:
        self.port = port
        self.host = host
        held = (
            f"held by {owner}" if owner else "`ss -ltnp 'sport = :" + str(port) + "'` shows by whom"
        )
        super().__init__(
            f"port {port} on {host} is already in use ({what} cannot listen there; {held}). "
            "Stop that program, or let labkit choose free ports: `labkit up --ports auto`."
        )


class NodeUnreachable(LabkitError, ConnectionError):
    """A node's HTTP API did not answer."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(
            f"no answer from {url} ({reason}). Is the lab running? "
            f"Start it with `labkit up` (or just the nodes with `labkit fleet`)."
        )


class ServiceUnreachable(LabkitError, ConnectionError):
    """One of the lab's services (Alertmanager, the alert receiver) did not answer."""

    def __init__(self, service: str, url: str, reason: str) -> None:
        self.service = service
        self.url = url
        super().__init__(
            f"{service[:1].upper()}{service[1:]} did not answer at {url} ({reason}). "
            f"Is the lab running? Start it with `labkit up`; "
            f"`labkit status` shows which part is down."
        )


class ServiceRefused(LabkitError):
    """One of the lab's services (Alertmanager, the alert receiver) answered with an error
    status; `message` is its own words."""

    def __init__(self, service: str, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(f"{service} answered {status}: {message}")


class PrometheusUnreachable(LabkitError, ConnectionError):
    """Nobody answered at Prometheus' URL."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        super().__init__(
            f"no answer from Prometheus at {url} ({reason}). Is the lab running? "
            "Start it with `labkit up`."
        )


class QueryTimeout(LabkitError, TimeoutError):
    """Prometheus is there but did not finish the query in time."""

    def __init__(self, url: str, query: str, timeout: float) -> None:
        self.url = url
        super().__init__(
            f"Prometheus at {url} did not answer {query!r} within {timeout:g} s: the query is "
            "too heavy for the range and step asked. Use a coarser step or a shorter range, or "
            "a longer timeout (Prom(url, timeout=...))."
        )


class QueryError(LabkitError):
    """Prometheus rejected a query; `message` is Prometheus' own words and `error_type` its
    errorType ("bad_data", "timeout", ...). `query` is None where the query is not known
    (promjson.decode reading an answer alone)."""

    def __init__(self, query: str | None, message: str, error_type: str = "") -> None:
        self.query = query
        self.message = message
        self.error_type = error_type
        what = "the query" if query is None else f"the query {query!r}"
        kind = f" ({error_type})" if error_type else ""
        super().__init__(f"Prometheus rejected {what}{kind}: {message}")


class UnreadableAnswer(LabkitError, ValueError):
    """Prometheus' answer cannot become a DataFrame; the message says where and why.

    `position` is the byte of the body where it stops being JSON (None when the problem is not
    there), `series` the labels of the series with the bad sample (None when no series is to
    blame), `query` the query whose answer it is (None where it is not known)."""

    def __init__(
        self,
        problem: str,
        *,
        position: int | None = None,
        series: dict[str, str] | None = None,
        query: str | None = None,
    ) -> None:
        self.problem = problem
        self.position = position
        self.series = series
        self.query = query
        answer = "Prometheus' answer" if query is None else f"Prometheus' answer to {query!r}"
        super().__init__(f"{answer} cannot be read: {problem}")

    def to(self, query: str) -> UnreadableAnswer:
        """The same error, naming the query it answers."""
        return UnreadableAnswer(
            self.problem, position=self.position, series=self.series, query=query
        )


class QueryRefused(LabkitError):
    """Prometheus rejected one of the dashboard's queries (the dashboard shows it in the
    panel)."""

    def __init__(self, query: str, message: str) -> None:
        super().__init__(f"Prometheus refused {query!r}: {message}")


class LabNotRunning(LabkitError):
    """No lab runs from the state folder."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        super().__init__(
            f"no lab is running from {state_dir}. Start one with `labkit up`. A lab keeps its "
            "state in the .lab/ folder of the project it was started in: work from inside that "
            "project, or name the folder with LABKIT_STATE_DIR (the CLI's --state-dir)."
        )


class LabNotStarted(LabkitError):
    """The lab that JupyterHub starts with a learner's server did not start (labkit.hub):
    why, in a sentence, where a notebook shows it (no traceback)."""

    def __init__(self, said: str) -> None:
        super().__init__(said)

    def _render_traceback_(self) -> list[str]:  # IPython shows these lines instead
        return [f"labkit: {self}"]


class CredentialsError(LabkitError):
    """A lab's secret is missing or unreadable, or a server refused the one given."""

    bad_input = True


class StartTimeout(LabkitError):
    """A process exited while starting, or was not ready in time."""
