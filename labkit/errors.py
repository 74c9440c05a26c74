"""The exceptions labkit raises, one small tree.

LabkitError                  anything labkit raises on purpose
├── InvalidInput             a value a user gave is not allowed (CLI exit 2, HTTP 422)
│                            carries .field, .value and .allowed
├── PortInUse                a listener could not bind its port
├── NodeUnreachable          a node's HTTP API did not answer
└── ServiceUnreachable       Alertmanager or the alert receiver did not answer
"""

from __future__ import annotations

from typing import Any


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
        message = f"{field} must be {allowed}; got {value!r}"
        if hint:
            message += f". {hint}"
        super().__init__(message)


class PortInUse(LabkitError, OSError):
    """A listener's port is already taken by another program."""

    def __init__(self, port: int, host: str, what: str, owner: str = "") -> None:
        self.port = port
        self.host = host
        held = (
            f"held by {owner}" if owner else "`ss -ltnp 'sport = :" + str(port) + "'` shows by whom"
        )
        super().__init__(
            f"port {port} on {host} is already in use ({what} cannot listen there; {held}). "
            f"Stop that program, or choose other ports (see --help for the port options)."
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
