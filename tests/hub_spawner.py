"""For tests/test_hub_live.py only: JupyterHub's SimpleLocalProcessSpawner, with each learner's
server run as a uid of its own, as a class's LocalProcessSpawner runs it as the learner's
system user. The test adds no system users (it writes nothing outside the temp folder), so
these uids have no /etc/passwd entry: the spawner gives USER, LOGNAME and HOME itself."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from jupyterhub.spawner import SimpleLocalProcessSpawner
from traitlets import Dict


class SeparateUidSpawner(SimpleLocalProcessSpawner):  # type: ignore[misc]
    uids = Dict(config=True, help="learner name -> the uid (and gid) their server runs as")

    def make_preexec_fn(self, name: str) -> Callable[[], None]:
        if name not in self.uids:
            raise ValueError(f"no uid for learner {name!r}: the test knows {sorted(self.uids)}")
        home, uid = self.home_dir, int(self.uids[name])

        def preexec() -> None:  # in the child, as root, before exec
            os.makedirs(home, 0o700, exist_ok=True)
            os.chown(home, uid, uid)
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            os.chdir(home)

        return preexec

    def user_env(self, env: dict[str, Any]) -> dict[str, Any]:
        env = super().user_env(env)
        env["LOGNAME"] = self.user.name
        return env
