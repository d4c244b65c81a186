"""Loop metrics on hand-made hourly series."""

from __future__ import annotations

import math

import pytest

from pid_controller.simulator.metrics import (
    first_true,
    overshoot_pct,
    relative_errors,
    saturated_hours,
    settle_hours,
    steady_state_error_pct,
)

T = [0.1] * 6


def test_relative_errors() -> None:
    assert relative_errors([0.11, 0.09, math.nan], [0.1] * 3)[:2] == pytest.approx([0.1, -0.1])
    assert math.isnan(relative_errors([math.nan], [0.1])[0])


def test_settle_is_the_first_hour_from_which_the_share_stays_in_band() -> None:
    assert settle_hours([0.2, 0.12, 0.104, 0.12, 0.102, 0.099], T) == 4
    assert settle_hours([0.1, 0.1, 0.1, 0.1, 0.1, 0.1], T) == 0


def test_settle_is_none_when_the_last_hour_is_out_of_band() -> None:
    assert settle_hours([0.1, 0.1, 0.1, 0.1, 0.1, 0.2], T) is None
    assert settle_hours([0.1, 0.1, 0.1, 0.1, 0.1, math.nan], T) is None


def test_settle_band_edge_and_custom_band() -> None:
    assert settle_hours([0.2, 0.105, 0.095], [0.1] * 3) == 1
    assert settle_hours([0.2, 0.109, 0.1], [0.1] * 3, band=0.1) == 1


def test_settle_follows_a_changing_target() -> None:
    assert settle_hours([0.1, 0.1, 0.1, 0.2, 0.2], [0.1, 0.1, 0.1, 0.2, 0.2]) == 0
    assert settle_hours([0.1, 0.1, 0.1, 0.1, 0.2], [0.1, 0.1, 0.1, 0.2, 0.2]) == 4


def test_overshoot_from_above() -> None:
    # Starts at +100 %, crosses at hour 2, dips to -20 %, recovers.
    assert overshoot_pct([0.2, 0.15, 0.08, 0.095, 0.1, 0.1], T) == pytest.approx(20.0)


def test_overshoot_from_below() -> None:
    assert overshoot_pct([0.05, 0.09, 0.113, 0.1, 0.097, 0.1], T) == pytest.approx(13.0)


def test_no_crossing_means_no_overshoot() -> None:
    assert overshoot_pct([0.05, 0.07, 0.09, 0.099, 0.0999, 0.0999], T) == 0.0


def test_overshoot_ignores_excursions_on_the_starting_side() -> None:
    # After crossing, a later swing back to the starting side is not overshoot.
    assert overshoot_pct([0.2, 0.102, 0.098, 0.3, 0.1, 0.1], T) == pytest.approx(2.0)


def test_overshoot_starting_on_target_counts_either_side() -> None:
    assert overshoot_pct([0.1, 0.11, 0.095], [0.1] * 3) == pytest.approx(10.0)


def test_steady_state_error_is_mean_absolute_over_the_last_hours() -> None:
    shares = [0.5] * 10 + [0.11, 0.09] * 12
    assert steady_state_error_pct(shares, [0.1] * 34) == pytest.approx(10.0)
    assert steady_state_error_pct([0.11, 0.1], [0.1, 0.1], hours=1) == pytest.approx(0.0)
    assert steady_state_error_pct([math.nan], [0.1]) is None


def test_short_series_uses_every_hour() -> None:
    assert steady_state_error_pct([0.12, 0.1], [0.1, 0.1]) == pytest.approx(10.0)


def test_saturated_hours_and_first_true() -> None:
    flags = [False, False, True, True, False, True]
    assert saturated_hours(flags) == 3
    assert first_true(flags) == 2
    assert first_true([False]) is None
