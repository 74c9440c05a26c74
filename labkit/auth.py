"""Credentials for a lab on a shared host (`labkit up --auth`, on by itself under JupyterHub):
on a shared machine loopback is no boundary, so every listener of the lab asks for them.

    <state>/auth/password   the lab's secret (user `labkit`), readable by its owner only
    <state>/auth/web.yml    Prometheus' and Alertmanager's --web.config.file: the same
                            user with the secret's bcrypt hash

The nodes and the alert receiver check HTTP basic auth themselves (`guard`, an ASGI
wrapper); Prometheus and Alertmanager check it from web.yml; Prometheus scrapes and notifies,
and Alertmanager calls the receiver, with `password_file` pointing at the secret; the
dashboard page (Voilà) takes it as basic auth or as its token (labkit.pages.identity).

labkit's own HTTP calls (the CLI, `Lab`, the widgets, the pages' kernels) find the
credentials without anyone typing them: whoever reads a lab's configuration (lab.json)
registers the secret for the lab's origins (`register`), and `headers(url)` gives the
Authorization header for a URL of a registered origin, nothing for any other.
"""

from __future__ import annotations

import base64
import hmac
import os
import secrets
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from labkit.errors import CredentialsError

USER = "labkit"
PASSWORD_FILE = "password"
WEB_CONFIG = "web.yml"


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str

    @property
    def header(self) -> str:
        """The Authorization header's value: HTTP basic auth."""
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        return f"Basic {token}"

    def accepts(self, authorization: str | None) -> bool:
        """Whether an Authorization header carries these credentials (compared in constant
        time)."""
        return authorization is not None and hmac.compare_digest(
            authorization.encode(errors="replace"), self.header.encode()
        )


def folder(state: Path) -> Path:
    return state / "auth"


def create(state: Path) -> Credentials:
    """A new secret for the lab in `state`, with Prometheus' and Alertmanager's web config;
    the folder is the owner's alone (0700), the files too (0600)."""
    import bcrypt

    where = folder(state)
    where.mkdir(parents=True, exist_ok=True)
    where.chmod(0o700)
    creds = Credentials(USER, secrets.token_urlsafe(24))
    hashed = bcrypt.hashpw(creds.password.encode(), bcrypt.gensalt(rounds=10)).decode()
    _private(where / PASSWORD_FILE, creds.password)
    _private(where / WEB_CONFIG, f"# labkit: basic auth for this lab\nbasic_auth_users:\n"
                                 f"  {USER}: {hashed}\n")  # fmt: skip
    return creds


def _private(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    tmp.replace(path)


def read(state: Path) -> Credentials:
    """The secret of the lab in `state`; CredentialsError when it is missing or unreadable
    (another user's lab, or one whose auth folder was removed)."""
    return from_file(folder(state) / PASSWORD_FILE)


def from_file(path: Path) -> Credentials:
    """User `labkit` with the secret in `path` (`--auth-file` of the nodes and receiver)."""
    try:
        password = path.read_text().strip()
    except OSError as exc:
        raise CredentialsError(
            f"this lab asks for credentials and its secret {path} cannot be read "
            f"({exc.strerror or exc}): only the user who started it with --auth can use it"
        ) from None
    if not password:
        raise CredentialsError(f"this lab's secret {path} is empty: run `labkit down` and "
                               "`labkit up --auth` to make a new one")  # fmt: skip
    return Credentials(USER, password)


# -- the client side: which origins want which credentials -------------------------------------

_KNOWN: dict[str, Credentials] = {}


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port or 80}"


def register(urls: Iterable[str], creds: Credentials | None) -> None:
    """Calls to these URLs' origins carry `creds` from now on (None: none)."""
    for url in urls:
        if creds is None:
            _KNOWN.pop(origin(url), None)
        else:
            _KNOWN[origin(url)] = creds


def credentials(url: str) -> Credentials | None:
    return _KNOWN.get(origin(url)) if _KNOWN else None


def headers(url: str) -> dict[str, str]:
    """{"Authorization": ...} for a URL of a lab that asks for credentials, else {}."""
    creds = credentials(url)
    return {"Authorization": creds.header} if creds is not None else {}


def page(url: str) -> str:
    """A page of the lab's Voilà server to open in a browser: with the secret as Jupyter's
    token when the lab asks for credentials (the browser then keeps a cookie)."""
    creds = credentials(url)
    if creds is None or not url:
        return url
    return f"{url}{'&' if '?' in url else '?'}token={creds.password}"


def refused(url: str) -> CredentialsError:
    """What a 401 from a lab's listener means, for whoever called it."""
    given = "the secret labkit holds for it was refused (a secret of another lab?)"
    if credentials(url) is None:
        given = "none were given: only the user who started it can use it"
    return CredentialsError(
        f"{url} asks for credentials (the lab was started with --auth) and {given}. labkit "
        "sends them by itself when it can read the lab's <state folder>/auth/password; "
        "check LABKIT_STATE_DIR or --state-dir"
    )


# -- the server side: an ASGI wrapper for the nodes and the receiver --------------------------

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]
#: 401 without credentials, and with wrong ones
REQUIRED = (b'{"detail": "credentials required: this lab was started with --auth. labkit\'s own '
            b'tools send them; by hand: user labkit, the password in the lab\'s state folder, '
            b'.lab/auth/password (curl -u labkit:PASSWORD ...)"}')  # fmt: skip
REFUSED = (b'{"detail": "credentials refused: not this lab\'s user labkit and password (the '
           b'password is in the lab\'s state folder, .lab/auth/password)"}')  # fmt: skip


def guard(app: ASGIApp, creds: Credentials | None) -> ASGIApp:
    """`app` answering 401 to any HTTP request without `creds` (`app` itself when None)."""
    if creds is None:
        return app
    expected = creds.header.encode()

    async def guarded(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers", ())).get(b"authorization", b"")
            if not hmac.compare_digest(given, expected):
                body = REFUSED if given else REQUIRED
                await send({"type": "http.response.start", "status": 401, "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b'Basic realm="labkit"'),
                ]})  # fmt: skip
                await send({"type": "http.response.body", "body": body})
                return
        await app(scope, receive, send)

    return guarded


def asks(state: Path) -> bool:
    """Whether the lab in `state` was started with --auth (it has a web config)."""
    return (folder(state) / WEB_CONFIG).exists()
