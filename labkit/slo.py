"""SLO maths, pure: no I/O, no clock, and no rounding before a comparison.

Everything takes ratios (an objective of 0.999, an error ratio of 0.002) and seconds. SLO spec
files take percentages, as Sloth's do; labkit.slo_spec converts.

    error_budget(0.999)                              0.001 of requests may fail
    burn_rate(0.0144, 0.999)                         14.4: spending the budget 14.4x too fast
    budget_consumed(0.0144, 3600, 0.999, 30 * DAY)   0.02: an hour of that spends 2 %
    time_to_exhaustion(0.0144, 0.999, 30 * DAY)      50 h
    BurnRateAlert(14.4, 3600, 300).detection_seconds(0.05, 0.999)   how soon it fires

A multi-window burn-rate alert (SRE Workbook, ch. 5) fires when the error ratio over both its
long and its short window exceeds factor x budget. From a clean start under a constant error
ratio e, the long window's average after t seconds (t < long) is e t / long, so the alert
fires at t = long x factor x budget / e, if e > factor x budget at all (the short window,
being shorter, crosses first). The budget spent by then is e t / (budget x period) =
factor x long / period, whatever e is: that is why the Workbook's table gives one
"budget consumed" per alert.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from labkit.errors import InvalidInput

MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0


def check_objective(objective: float, field: str = "objective") -> float:
    """An objective as a ratio in (0, 1); a percentage gets a pointed hint."""
    if (
        isinstance(objective, bool)
        or not isinstance(objective, int | float)
        or math.isnan(objective)
    ):
        raise InvalidInput(field, objective, "a ratio between 0 and 1, such as 0.999")
    if not 0 < objective < 1:
        hint = f"Did you mean {objective / 100:g}?" if 1 < objective < 100 else ""
        raise InvalidInput(field, objective, "a ratio between 0 and 1 (exclusive)", hint)
    return float(objective)


def check_ratio(value: float, field: str = "error_ratio") -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise InvalidInput(field, value, "a ratio from 0 to 1")
    return float(value)


def check_seconds(value: float, field: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not value > 0
        or math.isinf(value)
    ):
        raise InvalidInput(field, value, "a number of seconds above 0")
    return float(value)


def error_budget(objective: float) -> float:
    """The share of requests allowed to fail."""
    return 1.0 - check_objective(objective)


def burn_rate(error_ratio: float, objective: float) -> float:
    """How many times faster than sustainable the budget is being spent (1 = exactly)."""
    return check_ratio(error_ratio) / error_budget(objective)


def budget_consumed(
    error_ratio: float, window_seconds: float, objective: float, period_seconds: float
) -> float:
    """The share of the period's budget spent by `window_seconds` at `error_ratio`."""
    window = check_seconds(window_seconds, "window_seconds")
    period = check_seconds(period_seconds, "period_seconds")
    return burn_rate(error_ratio, objective) * window / period


def budget_remaining(consumed: float) -> float:
    """What is left of the budget after spending `consumed` of it; below 0 when overspent."""
    if consumed < 0:
        raise InvalidInput("consumed", consumed, "a share of the budget, 0 or more")
    return 1.0 - consumed


def budget_words(remaining: float) -> str:
    """A budget's state as a learner reads it: "62.5 % left", "all spent", or, once
    overspent, "spent 5.3x its budget" (never "-433 % left")."""
    if (
        isinstance(remaining, bool)
        or not isinstance(remaining, int | float)
        or math.isnan(remaining)
    ):
        raise InvalidInput("remaining", remaining, "a share of the budget (1 = untouched)")
    if remaining > 0:
        return f"{remaining * 100:.1f} % left"
    spent = 1.0 - remaining
    return "all spent" if spent < 1.05 else f"spent {spent:.1f}x its budget"


def time_to_exhaustion(error_ratio: float, objective: float, period_seconds: float,
                       remaining: float = 1.0) -> float:  # fmt: skip
    """Seconds until `remaining` of the budget is gone at `error_ratio` (inf at 0 errors)."""
    rate = burn_rate(error_ratio, objective)
    period = check_seconds(period_seconds, "period_seconds")
    return math.inf if rate == 0 else max(0.0, remaining) * period / rate


@dataclass(frozen=True)
class BurnRateAlert:
    """Fires when the error ratio over both windows exceeds factor x budget."""

    factor: float
    long_seconds: float
    short_seconds: float
    severity: str = "page"

    def __post_init__(self) -> None:
        check_seconds(self.factor, "factor")
        check_seconds(self.long_seconds, "long_seconds")
        check_seconds(self.short_seconds, "short_seconds")
        if self.short_seconds > self.long_seconds:
            raise InvalidInput(
                "short_seconds",
                self.short_seconds,
                f"at most the long window ({self.long_seconds:g} s)",
            )

    def threshold(self, objective: float) -> float:
        """The error ratio both windows must exceed."""
        return self.factor * error_budget(objective)

    def fires_at(self, error_ratio: float, objective: float) -> bool:
        """Whether a constant `error_ratio` ever fires it (strictly above the threshold)."""
        return check_ratio(error_ratio) > self.threshold(objective)

    def detection_seconds(self, error_ratio: float, objective: float) -> float:
        """Seconds from the start of a constant `error_ratio` (after a clean window) to the
        alert firing; inf if it never does."""
        if not self.fires_at(error_ratio, objective):
            return math.inf
        return self.long_seconds * self.threshold(objective) / error_ratio

    def budget_spent_before_firing(
        self, error_ratio: float, objective: float, period_seconds: float
    ) -> float:
        """The share of the period's budget spent by the time it fires (inf if never)."""
        seconds = self.detection_seconds(error_ratio, objective)
        if math.isinf(seconds):
            return math.inf
        return budget_consumed(error_ratio, seconds, objective, period_seconds)


#: The SRE Workbook's recommended alerts for a 99.9 % / 30-day SLO (ch. 5, table 5-8), the
#: window pairs and factors Sloth generates by default.
WORKBOOK_ALERTS: tuple[BurnRateAlert, ...] = (
    BurnRateAlert(14.4, 1 * HOUR, 5 * MINUTE, "page"),
    BurnRateAlert(6.0, 6 * HOUR, 30 * MINUTE, "page"),
    BurnRateAlert(3.0, 1 * DAY, 2 * HOUR, "ticket"),
    BurnRateAlert(1.0, 3 * DAY, 6 * HOUR, "ticket"),
)


def workbook_table(
    objective: float = 0.999, period_seconds: float = 30 * DAY
) -> list[dict[str, float | str]]:
    """Per recommended alert: severity, windows, factor, and the budget it lets go before
    firing (computed, not copied: the Workbook gives 2 %, 5 %, 10 % for the page, page and
    3-day ticket alerts)."""
    rows: list[dict[str, float | str]] = []
    for alert in WORKBOOK_ALERTS:
        just_above = min(1.0, alert.threshold(objective) * (1 + 1e-12))
        spent = alert.budget_spent_before_firing(just_above, objective, period_seconds)
        rows.append({
            "severity": alert.severity,
            "long_window_seconds": alert.long_seconds,
            "short_window_seconds": alert.short_seconds,
            "burn_rate_factor": alert.factor,
            "budget_consumed": spent,
        })  # fmt: skip
    return rows
