"""The control step with range targets and a rate limit (contract section 11)."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from pid_controller.step import Bounds, Gains, TypeState, limit_step, resolve_bounds, type_step
from services import documents
from services.intervals import Interval

G = Gains(kp=0.0, ki=0.375)
B = Bounds(-5.0, 5.0)
FRESH = Interval(0.10, 1.0)
BAND = Interval(0.2, 0.3)

counts = st.integers(0, 10_000)
states = st.builds(
    TypeState,
    integral=st.floats(-20, 20),
    measurement=st.none() | st.floats(-15, 0),
    u=st.floats(-5, 5),
)


def test_inside_a_band_with_no_push_yet_nothing_moves() -> None:
    step = type_step(BAND, 250, 1000, TypeState(), G, B, min_impressions=0)
    assert (step.u, step.error, step.p, step.d) == (0.0, 0.0, 0.0, 0.0)
    assert step.target == BAND and not step.rate_limited


def test_outside_it_is_steered_to_the_nearest_bound() -> None:
    below = type_step(BAND, 100, 1000, TypeState(), G, B, min_impressions=0)
    assert below.error == pytest.approx(math.log(0.2 / 0.1)) and below.u > 0
    above = type_step(BAND, 400, 1000, TypeState(), G, B, min_impressions=0)
    assert above.error == pytest.approx(math.log(0.3 / 0.4)) and above.u < 0


def test_a_point_target_is_unchanged_by_the_range_code() -> None:
    prev = TypeState(integral=0.7, measurement=math.log(0.05), u=0.3)
    g = Gains(0.2, 0.4, 0.1)
    as_float = type_step(0.04, 50, 1000, prev, g, B, min_impressions=0)
    as_point = type_step(Interval(0.04, 0.04), 50, 1000, prev, g, B, min_impressions=0)
    assert as_float == as_point
    assert as_float.error == pytest.approx(math.log(0.04 / 0.05))


def test_inside_the_multiplier_relaxes_by_the_distance_to_the_bound() -> None:
    # Held up to >= 10 % by u = 0.75; the share is now 15 %: relax by ln(0.15/0.10).
    prev = TypeState(integral=2.0, u=0.75)
    step = type_step(FRESH, 150, 1000, prev, G, B, min_impressions=0)
    assert step.error == 0.0
    assert step.state.integral == pytest.approx(2.0 - math.log(0.15 / 0.10))
    assert 0 < step.u < prev.u


def test_the_relaxation_stops_at_zero_and_a_free_side_releases_at_once() -> None:
    far = type_step(FRESH, 900, 1000, TypeState(integral=0.1, u=0.0375), G, B, min_impressions=0)
    assert far.state.integral == 0.0 and far.u == 0.0
    # Pushed down while the range has no max: nothing to hold, released.
    free = type_step(FRESH, 200, 1000, TypeState(integral=-3.0, u=-1.1), G, B, min_impressions=0)
    assert free.u == 0.0
    held = type_step(BAND, 250, 1000, TypeState(integral=-3.0, u=-1.1), G, B, min_impressions=0)
    assert held.state.integral == pytest.approx(-3.0 + math.log(0.3 / 0.25))


@given(counts, states)
def test_inside_never_pushes_and_never_flips_the_multipliers_sign(n: int, prev: TypeState) -> None:
    total = 10_000
    if not BAND.contains(n / total):
        n = 2500
    step = type_step(BAND, n, total, prev, G, B, min_impressions=0)
    assert step.error == 0.0 and step.p == 0.0 and step.d == 0.0
    assert step.state.integral * prev.integral >= 0  # same sign or 0
    assert abs(step.state.integral) <= abs(prev.integral) + 1e-12
    assert abs(step.u) <= max(abs(B.clamp(prev.u)), abs(G.ki * prev.integral)) + 1e-12


def _share(u: float, base: float) -> float:
    """A plant: a constant u multiplies the type's odds by exp(u)."""
    odds = base / (1 - base) * math.exp(u)
    return odds / (1 + odds)


@given(st.floats(0.02, 0.6), st.floats(0.0, 4.0))
def test_relaxing_from_inside_never_leaves_the_band(base: float, u0: float) -> None:
    """A type held up by u0, its natural share (at u = 0) now ``base``: the constant
    decays toward 0, or toward the u that puts the share on the bound when base is
    below it, and the share never drops below the bound on the way."""
    assume(_share(u0, base) >= FRESH.lo)
    state = TypeState(integral=u0 / G.ki, u=u0)
    for _ in range(60):
        n = round(_share(state.u, base) * 1_000_000)
        step = type_step(FRESH, n, 1_000_000, state, G, B, min_impressions=0)
        assert step.u >= 0.0 and step.error == 0.0
        assert _share(step.u, base) >= FRESH.lo * (1 - 1e-4)
        state = step.state
    odds = FRESH.lo / (1 - FRESH.lo) / (base / (1 - base))
    assert state.u == pytest.approx(max(0.0, math.log(odds)), abs=1e-3)


@given(counts, states, st.floats(0.01, 2.0), st.sampled_from([0.05, FRESH, BAND]))
def test_max_step_is_never_exceeded(
    n: int, prev: TypeState, max_step: float, target: float | Interval
) -> None:
    bounds = Bounds(-5.0, 5.0, max_step)
    step = type_step(target, n, 10_000, prev, Gains(0.3, 0.5, 0.2), bounds, min_impressions=0)
    assert abs(step.u - bounds.clamp(prev.u)) <= max_step + 1e-9 or step.skipped


def test_rate_limited_is_reported_and_the_integral_follows_the_constant() -> None:
    bounds = Bounds(-5.0, 5.0, 0.25)
    first = type_step(0.2, 10, 1000, TypeState(), G, bounds, min_impressions=0)
    assert first.rate_limited and first.u == 0.25
    assert G.ki * first.state.integral == pytest.approx(0.25)
    # Back on target next window: the constant stays where it really is.
    again = type_step(0.2, 200, 1000, first.state, G, bounds, min_impressions=0)
    assert not again.rate_limited and again.u == pytest.approx(0.25)


def test_limit_step_and_resolve_bounds() -> None:
    assert limit_step(0.0, 3.0, 1.0) == (1.0, True)
    assert limit_step(0.0, -3.0, 1.0) == (-1.0, True)
    assert limit_step(0.0, 0.5, 1.0) == (0.5, False)
    assert limit_step(0.0, 9.0, None) == (9.0, False)
    default = Bounds(-5, 5, 2.0)
    assert resolve_bounds(None, default) == default
    assert resolve_bounds(documents.Bounds(max_step=0.5), default) == Bounds(-5, 5, 0.5)
    assert resolve_bounds(documents.Bounds(min=-1, max=1), default) == Bounds(-1, 1, 2.0)
