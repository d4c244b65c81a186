"""The noise defence of the predictive law: the solved constant, filtered. Pure.

A solve on a few hundred requests is noisy (a narrow score
spread or a small policy makes the constant jump by the sampling noise of the
share divided by its slope), and that noise would go straight to the
constants. Pooling samples across windows would blur exactly the changes the
solve exists to catch, so instead the solved constant is filtered: a Kalman
filter with a level and a trend (the right constant drifts smoothly through
the day, so the constant published for the next window is the level plus one
window of trend). Its measurement noise is not a tuning knob but the model's
own estimate of the solve's standard error (``Solution.u_std``): a big sample
moves the constant almost fully, a small one only partly. A change the noise
cannot explain (an innovation beyond ``gate`` standard deviations: a
ranking-model change, a new target, a saturated solve) restarts the filter on
the new solve, so a real step is taken in one window.

A policy's very first start knows nothing of how its constant moves, so its
trend starts wide (``first_trend``): the second solve then gives the trend
almost whole. A later restart keeps the narrow ``trend_start``, since the jump
that caused it says nothing about a drift. Without the wide start, a constant
drifting faster than the gate allows (a daily swing at its steepest, about
0.05 a window) restarted the filter window after window with no trend at all,
and the published constant stayed a window behind for the first hours.

Beside the filter runs a flat forecast (:mod:`pid_controller.regimes`): where
the constant stands still, the filter's trend makes it trust each noisy solve
almost whole, and the flat forecast, weighed by how well it predicts, smooths
what the filter would pass on. That weighing is the only defence against a
noisy trend: shrinking the trend by its own signal-to-noise ratio as well
(tried) kept the filter a window behind every change of a daily swing's slope.
"""

from __future__ import annotations

import math

from pid_controller import model, regimes
from pid_controller.law_settings import PredictiveSettings
from pid_controller.step import PolicyCounts, PredictiveState

Filtered = tuple[float, float, float, float, float, float]


def _restart(
    z: float, noise: float, spread: float, settings: PredictiveSettings, first: bool = False
) -> Filtered:
    start = settings.first_trend if first else settings.trend_start
    return (z, 0.0, noise * noise, 0.0, start**2, spread)


def _predicted(
    prev: PredictiveState | None, noise: float, settings: PredictiveSettings
) -> tuple[float, float, float, float, float, float] | None:
    """The level-and-trend forecast before the solve: (level, trend, p_ll, p_lt, p_tt, r),
    None when the filter has nothing to forecast from."""
    if prev is None or prev.level is None:
        return None
    p_ll = prev.p_ll + 2 * prev.p_lt + prev.p_tt + settings.level_noise**2
    p_lt = prev.p_lt + prev.p_tt
    p_tt = prev.p_tt + settings.trend_noise**2
    r = max(noise * noise, prev.spread - p_ll)
    return (prev.level + prev.trend, prev.trend, p_ll, p_lt, p_tt, r)


def _jumped(z: float, forecast: tuple[float, float, float, float, float, float]) -> float:
    """The innovation squared over its variance (gated against ``gate``)."""
    level, _, p_ll, _, _, r = forecast
    return (z - level) ** 2 / (p_ll + r)


def filtered(
    prev: PredictiveState | None,
    z: float,
    noise: float,
    settings: PredictiveSettings,
    restart: bool,
) -> Filtered:
    """(level, trend, p_ll, p_lt, p_tt, spread) after the solve ``z`` with standard error
    ``noise``.

    ``noise`` is the model's estimate; what the model cannot see (users who
    stop scrolling at random depths) makes the solves scatter more. The
    running mean of squared innovations (``spread``) measures that scatter,
    and the filter trusts a solve no more than it says.
    """
    spread = prev.spread if prev else 0.0
    forecast = _predicted(prev, noise, settings)
    if forecast is None:  # nothing known yet: this policy's first solve for the type
        return _restart(z, noise, spread, settings, first=True)
    if restart or _jumped(z, forecast) > settings.gate**2:
        return _restart(z, noise, spread, settings)
    level, trend, p_ll, p_lt, p_tt, r = forecast
    s = p_ll + r
    innovation = z - level
    seen = innovation * innovation
    spread = seen if spread <= 0 else spread + settings.spread_gain * (seen - spread)
    k_l, k_t = p_ll / s, p_lt / s
    return (
        level + k_l * innovation,
        trend + k_t * innovation,
        (1 - k_l) * p_ll,
        (1 - k_l) * p_lt,
        p_tt - k_t * p_lt,
        spread,
    )


def flat_forecast(
    prev: PredictiveState | None,
    z: float,
    noise: float,
    settings: PredictiveSettings,
    restart: bool,
) -> regimes.Flat:
    """The flat forecast beside the filter, weighed against it (:mod:`pid_controller.regimes`)."""
    weight = prev.flat_weight if prev else regimes.PRIOR
    forecast = _predicted(prev, noise, settings)
    if prev is None or prev.flat is None or forecast is None:
        return regimes.Flat(z, noise * noise, weight)
    jumped = restart or _jumped(z, forecast) > settings.gate**2
    drifting = (forecast[0], forecast[2] + forecast[5])
    old = regimes.Flat(prev.flat, prev.flat_var, weight)
    return regimes.update(old, z, forecast[5], drifting, jumped)


def solved_noise(
    sol: model.Solution, name: str, counts: PolicyCounts, settings: PredictiveSettings
) -> float:
    """The solved constant's standard error, for the filter.

    With the window's impressions measured, the sample's own sampling error
    cancels (the bias is measured on the same sample, see
    :mod:`pid_controller.predictive`) and
    what is left is the noise of the measured share: the same per-request
    spread the model measured on the sample (requests differ, so impressions
    are not independent draws), over all the window's requests instead of the
    sampled ones. Without impressions it is the sample's noise itself.
    """
    total, noise = counts.total, sol.u_std[name]
    if total < max(1, settings.min_impressions) or sol.samples <= 0 or sol.slots <= 0:
        return noise
    requests = total / (sol.slots / sol.samples)  # impressions over mean slots per request
    return noise * math.sqrt(min(1.0, sol.samples / requests))
