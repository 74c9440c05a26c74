"""Who may see the lab's pages when the lab asks for credentials (`labkit up --auth`): Voilà's
identity provider, given as `--Voila.identity_provider_class`.

The secret is read from the lab's state folder (LABKIT_STATE_DIR, set for the Voilà process),
never from the command line, where any user of the host could read it. A request is let in
with the lab's basic auth (labkit's own tools), with the secret as Jupyter's token (the page
address `labkit up` prints ends in ?token=...; the browser then keeps a cookie), or with that
cookie; anything else gets 401. A lab without --auth lets everyone on loopback in, as before.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from jupyter_server.auth.identity import PasswordIdentityProvider, User
from tornado import web

from labkit import auth


class LabIdentity(PasswordIdentityProvider):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        state = os.environ.get("LABKIT_STATE_DIR")
        self.lab_credentials = auth.read(Path(state)) if state and auth.asks(Path(state)) else None
        if self.lab_credentials is not None:
            self.token = self.lab_credentials.password

    async def get_user(self, handler: web.RequestHandler) -> User | None:
        user: User | None = await self._get_user(handler)
        creds = self.lab_credentials
        if user is None and creds is not None:
            if creds.accepts(handler.request.headers.get("Authorization")):
                return self.generate_anonymous_user(handler)
            handler.set_status(401)
            handler.set_header("WWW-Authenticate", 'Basic realm="labkit"')
            handler.set_header("Content-Type", "text/html; charset=UTF-8")
            raise web.Finish(REFUSED_PAGE)
        return user


#: What a browser without the secret sees (and a prompt for user and password: the header).
REFUSED_PAGE = """<!doctype html><meta charset="utf-8">
<title>labkit: this lab asks for its secret</title>
<body style="font-family: sans-serif; max-width: 42em; margin: 3em auto; line-height: 1.5">
<h1>This lab asks for its secret</h1>
<p>It was started with <code>--auth</code>, so only its owner sees its pages. Open the address
<code>labkit up</code> printed: it ends in <code>?token=...</code> (<code>labkit status</code>
prints it again), and this browser remembers it. Or sign in as user <code>labkit</code> with
the password in the lab's state folder, <code>.lab/auth/password</code>.</p>
</body>"""
