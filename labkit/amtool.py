"""amtool command lines for what the Alertmanager view does (amtool ships with Debian's
prometheus-alertmanager, as /usr/bin/amtool), so a learner can do the same in a terminal.

Amtool(am_url).silence_add(request)   -> 'amtool --alertmanager.url=... silence add ...'
prom_duration(5400)                   -> '1h30m'

Every argument is quoted for a POSIX shell (shlex), so a line can be pasted as it is.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from labkit.matchers import Matcher

if TYPE_CHECKING:
    from labkit.alertview import SilenceRequest


def prom_duration(seconds: float) -> str:
    """Seconds as a Prometheus duration, as amtool's --duration takes it: 5400 -> 1h30m."""
    ms = round(seconds * 1000)
    parts = []
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        count, ms = divmod(ms, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


@dataclass(frozen=True)
class Amtool:
    """amtool (it ships with Debian's prometheus-alertmanager) command lines for each action."""

    am_url: str
    binary: str = "amtool"

    def _cmd(self, *args: str) -> str:
        return shlex.join([self.binary, f"--alertmanager.url={self.am_url}", *args])

    def alert_query(self) -> str:
        return self._cmd("alert", "query", "--active", "--silenced", "--inhibited",
                         "--output=extended")  # fmt: skip

    def silence_query(self, expired: bool = False) -> str:
        return self._cmd("silence", "query", *(["--expired"] if expired else []))

    def silence_add(self, request: SilenceRequest) -> str:
        return self._cmd("silence", "add", *(m.amtool_arg for m in request.matchers),
                         f"--duration={prom_duration(request.duration_seconds)}",
                         f"--author={request.creator}", f"--comment={request.comment}")  # fmt: skip

    def silence_expire(self, silence_id: str) -> str:
        return self._cmd("silence", "expire", silence_id)

    def routes_show(self) -> str:
        return self._cmd("config", "routes", "show")

    def routes_test(self, labels: Mapping[str, str]) -> str:
        args = [Matcher(k, "=", v).amtool_arg for k, v in labels.items()]
        return self._cmd("config", "routes", "test", *args)
