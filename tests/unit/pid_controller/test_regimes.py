"""Standing or drifting (pid_controller/regimes.py), driven through the law's own filters."""

from __future__ import annotations

import numpy as np

from pid_controller import regimes
from pid_controller.constant_filter import filtered, flat_forecast
from pid_controller.law_settings import PredictiveSettings
from pid_controller.step import PredictiveState

SETTINGS = PredictiveSettings()
NOISE = 0.01


def run(
    solves: list[float], settings: PredictiveSettings = SETTINGS
) -> tuple[list[float], list[float], list[float]]:
    """Published constants (mixed), the level-and-trend filter's alone, and the weights."""
    state: PredictiveState | None = None
    mixed, drifting, weights = [], [], []
    for z in solves:
        f = filtered(state, z, NOISE, settings, restart=False)
        flat = flat_forecast(state, z, NOISE, settings, restart=False)
        alone = f[0] + f[1]
        mixed.append(regimes.mix(flat, alone))
        drifting.append(alone)
        weights.append(flat.weight)
        state = PredictiveState(
            f[0], f[1], f[2], f[3], f[4], spread=f[5], flat=flat.level, flat_var=flat.variance,
            flat_weight=flat.weight,
        )  # fmt: skip
    return mixed, drifting, weights


def test_a_standing_constant_is_smoothed_more_than_the_trend_filter_alone_does() -> None:
    rng = np.random.default_rng(0)
    solves = list(-0.5 + NOISE * rng.standard_normal(60))
    mixed, drifting, weights = run(solves)
    assert float(np.mean(weights[20:])) > 0.8
    late = slice(20, None)
    assert np.std(np.array(mixed[late]) + 0.5) < 0.7 * np.std(np.array(drifting[late]) + 0.5)


def test_a_drifting_constant_is_tracked_without_the_flat_forecasts_lag() -> None:
    rng = np.random.default_rng(1)
    truth = [0.05 * k for k in range(40)]
    solves = [t + NOISE * e for t, e in zip(truth, rng.standard_normal(40), strict=True)]
    mixed, _, weights = run(solves)
    assert max(weights[15:]) < 0.2
    # The published constant is for the next window: it should be near the next truth.
    errors = [abs(m - t) for m, t in zip(mixed[15:-1], truth[16:], strict=True)]
    assert float(np.median(errors)) < 0.015
    assert max(errors) < 0.05  # at worst one window of drift (a gated restart drops the trend)


def test_a_drift_from_the_first_window_is_extrapolated_from_the_second_solve_on() -> None:
    # A daily swing at its steepest when the policy starts: about 0.05 a window,
    # more than the gate lets a narrow trend explain.
    rng = np.random.default_rng(2)
    truth = [-0.1 - 0.055 * k for k in range(8)]
    solves = [t + NOISE * e for t, e in zip(truth, rng.standard_normal(8), strict=True)]
    mixed, _, _ = run(solves)
    errors = [abs(m - t) for m, t in zip(mixed[1:-1], truth[2:], strict=True)]
    assert max(errors) < 0.025  # a window behind would be 0.055 off


def test_a_restart_takes_the_solve_and_keeps_what_was_learned_of_the_regime() -> None:
    old = regimes.Flat(level=0.2, variance=1e-4, weight=0.9)
    new = regimes.update(old, 1.5, 1e-4, (0.2, 2e-4), restart=True)
    assert (new.level, new.weight) == (1.5, 0.9)


def test_one_wild_solve_does_not_rule_either_forecast_out() -> None:
    old = regimes.Flat(level=0.0, variance=1e-4, weight=0.5)
    new = regimes.update(old, 50.0, 1e-4, (0.0, 1e-4), restart=False)
    assert regimes.FLOOR <= new.weight <= 1 - regimes.FLOOR
    assert np.isfinite(new.level)
