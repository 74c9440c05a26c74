"""Alert windows and SLO periods as Sloth has them, and labkit's lab profiles: two knobs.

**The SLO period** (`--period`, Sloth's `--default-slo-period`; 30d by default) is the span
the error budget is counted over. Sloth's default windows stay whatever the period (page:
5m/1h and 30m/6h; ticket: 2h/1d and 6h/3d) and the burn-rate factors change so that each alert
still lets 2, 5, 10 and 10 % of the period's budget go before it fires (the SRE Workbook's
choice): factor = budget % x period / long window, so 30d gives 14.4, 6, 3, 1 and 28d 13.44,
5.6, 2.8, 0.933. For 28d and 30d these are the windows Sloth ships; labkit computes the same
for any period at least as long as the longest window (3d). Sloth's AlertWindows files
(`apiVersion: sloth.slok.dev/v1`, `kind: AlertWindows`) replace the defaults (`parse_windows`).

**The lab profile** (`--profile`, labkit's own) compresses time so a budget burns within a
lesson: it says how long the whole SLO period lasts in the lab, and every window is scaled by
that over the period. `production` is real time (the period lasts its own length), `lab-day`
makes the period last 1 day (30d: every window x 1/30, 5m -> 10s), a duration such as 12h
makes it last that long. A profile is refused when its shortest window would be under 4 scrape
intervals (others round such windows to zero and alert on nothing). The factors do not depend
on the profile: scaling a window and the period alike keeps their ratio.

    prof = profile("lab-day", google(28 * DAY))
    prof.window(300)           10.7 (seconds: 5m x 1/28)
    prof.alert_windows         {"page": [(short, long, factor), ...], "ticket": [...]}
    prom_duration(28 * DAY)    "4w" (Prometheus' own spelling, as Sloth writes record names)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from labkit import durations
from labkit.errors import InvalidInput
from labkit.slo import DAY, HOUR, MINUTE

PERIOD_SECONDS = 30 * DAY  # Sloth's default SLO period
SEVERITIES = ("page", "ticket")
SPEEDS = ("quick", "slow")
WINDOWS_VERSION = ("sloth.slok.dev/v1", "AlertWindows")


@dataclass(frozen=True)
class AlertWindow:
    """One window pair of a multi-window multi-burn-rate alert: it fires when the error ratio
    over both windows is above factor x budget, having let `budget_percent` of the period's
    budget go over its long window at that rate."""

    severity: str  # page | ticket
    speed: str  # quick | slow
    budget_percent: float
    short_seconds: float
    long_seconds: float


@dataclass(frozen=True)
class AlertWindows:
    """The four window pairs (page quick, page slow, ticket quick, ticket slow) for a period."""

    period_seconds: float
    pairs: tuple[AlertWindow, ...]
    source: str = "the SRE Workbook's defaults"

    def factor(self, w: AlertWindow) -> float:
        """Sloth's burn-rate factor, computed as Sloth does (hours, then the ratio), so the
        floats are the same: budget % x period / 100 / long window."""
        hours = w.budget_percent * (self.period_seconds / HOUR) / 100
        return hours / (w.long_seconds / HOUR)

    def by_severity(self) -> dict[str, list[tuple[float, float, float]]]:
        """{severity: [(short, long, factor) for quick, slow]}."""
        return {
            sev: [
                (w.short_seconds, w.long_seconds, self.factor(w))
                for w in self.pairs
                if w.severity == sev
            ]
            for sev in SEVERITIES
        }

    def seconds(self) -> list[float]:
        """Every window, shortest first, each once."""
        return sorted({s for w in self.pairs for s in (w.short_seconds, w.long_seconds)})

    @property
    def base_seconds(self) -> float:
        """The page alert's quick short window: the SLI the period's ratio averages (Sloth's)."""
        return self.pairs[0].short_seconds

    def check(self, where: str) -> AlertWindows:
        """Refuses a period shorter than the longest window (its alert would read more than
        the period, at a factor below the budget's share)."""
        longest = max(p.long_seconds for p in self.pairs)
        if self.period_seconds < longest:
            raise InvalidInput(
                where,
                prom_duration(self.period_seconds),
                f"a period at least as long as the longest alert window ({prom_duration(longest)})",
            )
        return self


def google(period_seconds: float = PERIOD_SECONDS) -> AlertWindows:
    """The SRE Workbook's windows (Sloth's defaults) for `period_seconds`."""
    return AlertWindows(
        period_seconds,
        (
            AlertWindow("page", "quick", 2, 5 * MINUTE, 1 * HOUR),
            AlertWindow("page", "slow", 5, 30 * MINUTE, 6 * HOUR),
            AlertWindow("ticket", "quick", 10, 2 * HOUR, 1 * DAY),
            AlertWindow("ticket", "slow", 10, 6 * HOUR, 3 * DAY),
        ),
    ).check("--period")


def parse_windows(doc: Any, source: str) -> AlertWindows:
    """Sloth's AlertWindows spec (a decoded YAML document), every problem named by field."""
    from labkit.specfields import mapping, number

    if not isinstance(doc, dict) or (doc.get("apiVersion"), doc.get("kind")) != WINDOWS_VERSION:
        top = doc if isinstance(doc, dict) else {}
        raise InvalidInput(
            f"{source}: apiVersion/kind",
            f"{top.get('apiVersion')}/{top.get('kind')}",
            "sloth.slok.dev/v1/AlertWindows (Sloth's alert windows)",
        )
    top = mapping(doc, source, ("apiVersion", "kind", "spec"))
    spec = mapping(top.get("spec"), f"{source}: spec", ("sloPeriod", *SEVERITIES), need=True)
    period = _duration(spec.get("sloPeriod"), f"{source}: spec.sloPeriod")
    pairs = []
    for sev in SEVERITIES:
        sev_map = mapping(spec.get(sev), f"{source}: spec.{sev}", SPEEDS, need=True)
        for speed in SPEEDS:
            where = f"{source}: spec.{sev}.{speed}"
            keys = ("errorBudgetPercent", "shortWindow", "longWindow")
            pair = mapping(sev_map.get(speed), where, keys, need=True)
            percent = number(pair.get("errorBudgetPercent"), f"{where}.errorBudgetPercent")
            if not 0 < percent <= 100:
                raise InvalidInput(
                    f"{where}.errorBudgetPercent", percent, "a percentage in (0, 100]"
                )
            short = _duration(pair.get("shortWindow"), f"{where}.shortWindow")
            long_ = _duration(pair.get("longWindow"), f"{where}.longWindow")
            if short >= long_:
                raise InvalidInput(
                    f"{where}.shortWindow",
                    prom_duration(short),
                    f"shorter than the long window ({prom_duration(long_)})",
                )
            pairs.append(AlertWindow(sev, speed, float(percent), short, long_))
    return AlertWindows(period, tuple(pairs), source).check(f"{source}: spec.sloPeriod")


def _duration(value: Any, where: str) -> float:
    if value is None:
        raise InvalidInput(where, None, "present: " + durations.ALLOWED)
    seconds = durations.parse(value, where, numbers=False)
    if seconds < 1 or not float(seconds).is_integer():
        raise InvalidInput(where, value, "whole seconds, at least 1s")
    return seconds


@dataclass(frozen=True)
class Profile:
    """How an SLO period maps onto the lab: every window is scaled by `period_seconds` (how
    long the period lasts in the lab) over the SLO's own period (`windows.period_seconds`).
    `lab`: the rules are for labkit's lab, whose backfilled past (labkit.past) holds one
    sample of the base-window SLI per base window: the period's ratio is then read through a
    subquery stepped by the base window (see labkit.slo_rules)."""

    name: str
    period_seconds: float
    scrape_interval_seconds: float = 1.0
    windows: AlertWindows = field(default_factory=google)
    lab: bool = False

    @property
    def scale(self) -> float:
        return self.period_seconds / self.windows.period_seconds

    def window(self, seconds: float) -> float:
        return seconds * self.scale

    @property
    def alert_windows(self) -> dict[str, list[tuple[float, float, float]]]:
        """{severity: [(short, long, factor)]}, windows unscaled (scale them with window())."""
        return self.windows.by_severity()

    @property
    def window_seconds(self) -> list[float]:
        """Every alert window, unscaled, shortest first."""
        return self.windows.seconds()

    def check(self) -> Profile:
        shortest = min(self.window_seconds)
        floor = 4 * self.scrape_interval_seconds
        if self.window(shortest) < floor:
            need = self.windows.period_seconds * floor / shortest
            raise InvalidInput(
                "profile",
                self.name,
                f"a period whose shortest window ({prom_duration(shortest)} x {self.scale:.4g} = "
                f"{self.window(shortest):.3g} s) is at least 4 scrape intervals ({floor:g} s)",
                f"Use a period of at least {duration(need)}.",
            )
        return self


def _named(period: float) -> dict[str, float]:
    return {"production": period, "lab-day": 1 * DAY}


#: The named profiles for the default 30-day period.
PROFILES: dict[str, Profile] = {
    name: Profile(name, seconds) for name, seconds in _named(PERIOD_SECONDS).items()
}


def profile(name: str, windows: AlertWindows | None = None, *, lab: bool | None = None) -> Profile:
    """The profile `name` (production, lab-day, or a duration such as 12h) for the SLO period
    of `windows` (Sloth's defaults for 30 days unless given). `lab` (the rules are for labkit's
    lab, see Profile) defaults to whether the profile compresses time."""
    alert = windows or google()
    named = _named(alert.period_seconds)
    if name in named:
        seconds = named[name]
    else:
        try:
            seconds = durations.parse(name, "profile", numbers=False)
        except InvalidInput:
            raise InvalidInput(
                "profile", name, "one of " + ", ".join(named) + ", or a period such as 12h"
            ) from None
    compresses = seconds != alert.period_seconds
    return Profile(name, seconds, windows=alert, lab=compresses if lab is None else lab).check()


def parse_period(text: str) -> float:
    """An SLO period (`--period 28d`) in seconds."""
    return _duration(text, "--period")


def parse_duration(text: str, field_name: str) -> float:
    """A Prometheus duration (1y2w3d4h5m6s7ms, units in that order) in seconds: labkit's one
    grammar (labkit.durations), without bare numbers."""
    return durations.parse(text, field_name, numbers=False)


def duration(seconds: float) -> str:
    """Seconds as a Prometheus duration (1d2h, 48m, 10s), rounded to whole seconds: as
    Prometheus writes one (model.Duration.String, which Sloth uses for record names and the
    sloth_window label), years and weeks only when exact, so 28d is 4w and 30d stays 30d."""
    left = round(seconds)
    if left <= 0:
        raise InvalidInput("window", seconds, "at least 1 second")
    out = ""
    for unit, size, exact in (
        ("y", 365 * 86400, True),
        ("w", 7 * 86400, True),
        ("d", 86400, False),
        ("h", 3600, False),
        ("m", 60, False),
        ("s", 1, False),
    ):
        if exact and left % size:
            continue
        if left >= size:
            out += f"{left // size}{unit}"
            left %= size
    return out


prom_duration = duration  # the name Sloth's rules know it by


#: Sloth's default pairs for 30 days, {severity: [(short, long, factor)]}, and every window.
ALERT_WINDOWS: dict[str, list[tuple[float, float, float]]] = google().by_severity()
WINDOWS: list[float] = google().seconds()
