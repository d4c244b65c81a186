"""How well a loop held its target, from hourly series alone. Pure functions.

Index ``i`` of a series is the share measured over hour ``[i, i + 1)``. All
errors are *relative* to the target in force that hour, because the contract's
band (5 %) and the log-space controller both think in ratios: 4.2 % against a
4 % target is as far off as 31.5 % against 30 %.

A share of NaN (no impressions that hour) counts as outside the band: an
hour without a measurement is not evidence of being on target.

A target is an interval (:mod:`services.intervals`): a range target's error is
0 anywhere inside it and relative to the nearest bound outside, so "settled"
means within 5 % of the range, and overshoot is an excursion past its far side.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from services.intervals import Interval, as_interval

Target = float | Interval  # a plain float is a point target

BAND = 0.05
STEADY_HOURS = 24


def relative_errors(shares: Sequence[float], targets: Sequence[Target]) -> list[float]:
    """``share / nearest bound - 1`` per hour, 0 inside a range (NaN where unknown)."""
    return [as_interval(t).relative_error(s) for s, t in zip(shares, targets, strict=True)]


def in_band(rel: float, band: float = BAND) -> bool:
    # A hair of tolerance so a share exactly on the edge (0.095 of 0.1) is in.
    return not math.isnan(rel) and abs(rel) <= band + 1e-12


def settle_hours(
    shares: Sequence[float], targets: Sequence[Target], band: float = BAND
) -> int | None:
    """Hours before the share enters the band for good: the smallest ``k`` with
    every hour from ``k`` on within ``band`` of target; None if the last hour is out.
    0 means on target from the first hour."""
    rel = relative_errors(shares, targets)
    k = len(rel)
    while k > 0 and in_band(rel[k - 1], band):
        k -= 1
    return k if k < len(rel) else None


def overshoot_pct(shares: Sequence[float], targets: Sequence[Target]) -> float:
    """Largest relative excursion past the target after the share first crossed it,
    in percent. "Past" is the side opposite the one it started on; 0 when it never
    crossed (an approach from one side has no overshoot)."""
    rel = [r for r in relative_errors(shares, targets) if not math.isnan(r)]
    if not rel or rel[0] == 0:
        return 0.0 if not rel else 100.0 * max(abs(r) for r in rel)
    side = 1.0 if rel[0] > 0 else -1.0
    crossed = next((i for i, r in enumerate(rel) if r * side <= 0), None)
    if crossed is None:
        return 0.0
    return 100.0 * max(0.0, *(-side * r for r in rel[crossed:]))


def steady_state_error_pct(
    shares: Sequence[float], targets: Sequence[Target], hours: int = STEADY_HOURS
) -> float | None:
    """Mean absolute relative error over the last ``hours`` hours, in percent.
    Absolute, so a share alternating around the target does not look perfect.
    None when no hour in that span has a measurement."""
    rel = [abs(r) for r in relative_errors(shares, targets)[-hours:] if not math.isnan(r)]
    return 100.0 * math.fsum(rel) / len(rel) if rel else None


def largest_step(u: Sequence[float]) -> float:
    """The largest move of the constant between consecutive hours (from 0 at the start)."""
    return max((abs(b - a) for a, b in zip([0.0, *u], u, strict=False)), default=0.0)


def saturated_hours(flags: Sequence[bool]) -> int:
    """Hours in which the controller reported the type saturated."""
    return sum(1 for f in flags if f)


def first_true(flags: Sequence[bool]) -> int | None:
    """Index of the first true flag (e.g. hours until saturation was reported)."""
    return next((i for i, f in enumerate(flags) if f), None)
