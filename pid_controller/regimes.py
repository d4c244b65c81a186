"""Is the right constant drifting or standing still? Two forecasts, weighed. Pure.

The law's filter (:func:`pid_controller.constant_filter.filtered`) follows a level
and a trend, so a daily score swing is tracked without lag. The price is paid
where nothing drifts: a trend that may change every window makes the
forecast uncertain, so the filter trusts each noisy solve almost whole, and
the noise of one window's measurement reaches the next window's constant.

So a second, flat forecast runs beside it: a level alone, wandering slowly.
Each window, each forecast is scored by how likely it made the new solve
(its innovation under its own variance), and the probability that the
constant is flat is updated from the two scores (a two-state switching model
with a small chance of switching each window). The published constant mixes
the two by that probability: a standing constant gets the flat forecast's
smoothing, a drifting one the trend's tracking, and the switch between them
is earned window by window rather than set by a threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Chance per window that the constant switches between standing and drifting.
SWITCH = 0.05
# How far a standing constant may wander in a window (log units).
FLAT_NOISE = 0.0025
PRIOR = 0.5  # no reason to prefer either before the first solves
# The weight never reaches certainty, so a change of regime is seen within a few windows.
FLOOR = 0.01


@dataclass(frozen=True)
class Flat:
    """The flat forecast: its level and variance, and the probability it is the right one."""

    level: float
    variance: float
    weight: float


def density(innovation: float, variance: float) -> float:
    """Normal density of an innovation; never 0, so neither forecast is ruled out by one window."""
    v = max(variance, 1e-12)
    return max(1e-300, math.exp(-0.5 * innovation * innovation / v) / math.sqrt(2 * math.pi * v))


def update(
    prev: Flat | None,
    z: float,
    r: float,
    drifting: tuple[float, float],
    restart: bool,
) -> Flat:
    """The flat forecast after the solve ``z`` (measurement variance ``r``).

    ``drifting`` is the level-and-trend filter's forecast of ``z`` and its
    innovation variance, to weigh the two. A restart (a real step) restarts
    the level at the solve and keeps the weight: whether the constant drifts
    is a property of the traffic, not of the step.
    """
    weight = PRIOR if prev is None else prev.weight
    if prev is None or restart:
        return Flat(z, r, weight)
    p = prev.variance + FLAT_NOISE**2
    s = p + r
    innovation = z - prev.level
    gain = p / s
    prior = (1 - SWITCH) * weight + SWITCH * (1 - weight)
    flat = prior * density(innovation, s)
    other = (1 - prior) * density(z - drifting[0], drifting[1])
    weight = min(1 - FLOOR, max(FLOOR, flat / (flat + other)))
    return Flat(prev.level + gain * innovation, (1 - gain) * p, weight)


def mix(flat: Flat, drifting: float) -> float:
    """The constant to publish: each forecast by the probability that it is right."""
    return flat.weight * flat.level + (1 - flat.weight) * drifting
