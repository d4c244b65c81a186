"""The control step (pid_controller/step.py): unit and property tests."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from pid_controller.step import (
    NO_DATA,
    TOO_FEW,
    Bounds,
    Gains,
    PolicyConfig,
    PolicyCounts,
    TypeState,
    control_step,
    counts_by_policy,
    type_step,
)

G = Gains(kp=0.2, ki=0.4, kd=0.1)
B = Bounds(-5.0, 5.0)

gains = st.builds(
    Gains,
    kp=st.floats(0, 3, allow_nan=False),
    ki=st.floats(0, 3, allow_nan=False),
    kd=st.floats(0, 3, allow_nan=False),
)
bounds = st.tuples(st.floats(-10, 9.9), st.floats(0.01, 10)).map(
    lambda t: Bounds(t[0], t[0] + t[1])
)
states = st.builds(
    TypeState,
    integral=st.floats(-50, 50),
    measurement=st.none() | st.floats(-15, 0),
    u=st.floats(-10, 10),
)
targets = st.floats(0.001, 0.999)


@st.composite
def windows(draw: st.DrawFn) -> tuple[int, int]:
    total = draw(st.integers(1, 10**7))
    return draw(st.integers(0, total)), total


@given(targets, windows(), states, gains, bounds, st.sampled_from(["log", "linear"]))
def test_u_stays_within_bounds_and_finite(
    target: float, w: tuple[int, int], prev: TypeState, g: Gains, b: Bounds, space: str
) -> None:
    step = type_step(target, *w, prev, g, b, min_impressions=0, space=space)  # type: ignore[arg-type]
    assert b.lo <= step.u <= b.hi
    assert math.isfinite(step.state.integral)


@given(targets, windows(), st.floats(-50, 50), gains, st.floats(0.01, 3), bounds)
def test_no_integration_while_saturated(
    target: float, w: tuple[int, int], slack: float, g: Gains, ki: float, b: Bounds
) -> None:
    # Every draw saturates: an integral already far past the bound on the error's
    # side (and no D term to pull back), so each one checks the anti-windup.
    count, total = w
    error = math.log(target / (max(count, 0.5) / total))
    assume(error != 0.0)
    sign = 1.0 if error > 0 else -1.0
    beyond = (abs(b.lo) + abs(b.hi) + 1.0) / ki + abs(slack)
    prev = TypeState(integral=sign * beyond, measurement=None, u=0.0)
    g = Gains(g.kp, ki, g.kd)
    step = type_step(target, count, total, prev, g, b, min_impressions=0)
    assert step.saturated == ("upper" if error > 0 else "lower")
    assert step.state.integral == prev.integral
    assert step.u == (b.hi if error > 0 else b.lo)


def test_saturated_integral_stays_put_over_many_windows() -> None:
    # Target out of reach: the share stays at 5 % whatever u does.
    state = TypeState()
    integrals = []
    for _ in range(20):
        step = type_step(0.5, 50, 1000, state, G, Bounds(-1, 1), min_impressions=0)
        state = step.state
        integrals.append(state.integral)
    assert step.saturated == "upper" and step.u == 1.0
    assert len(set(integrals[3:])) == 1  # no wind-up once at the bound


def test_saturation_reaches_the_bound_rather_than_stopping_short() -> None:
    # Regression: integrating would pass the bound, so the integral is held; u
    # must still go to the bound (it used to stop at p + i, short of it, and
    # never report the saturation).
    prev = TypeState(integral=2.6, measurement=math.log(0.19), u=0.95)
    step = type_step(0.25, 190, 1000, prev, Gains(0.15, 0.35), Bounds(-1, 1), min_impressions=0)
    assert step.u == 1.0
    assert step.saturated == "upper"
    assert step.state.integral == 2.6


def test_leaving_saturation_has_no_wind_up() -> None:
    state = TypeState()
    for _ in range(50):
        state = type_step(0.5, 50, 1000, state, G, Bounds(-1, 1), min_impressions=0).state
    # The target becomes reachable: one window over target pulls u off the bound at once.
    step = type_step(0.04, 50, 1000, state, G, Bounds(-1, 1), min_impressions=0)
    assert step.u < 1.0 and step.saturated is None


@given(st.floats(0.01, 0.99), st.floats(0.01, 0.99), st.floats(0.01, 0.99), gains)
def test_target_change_moves_p_and_i_but_not_d(
    share: float, t1: float, t2: float, g: Gains
) -> None:
    total = 10**6
    count = round(share * total)
    prev = TypeState(integral=0.3, measurement=math.log(0.2), u=0.1)
    a = type_step(t1, count, total, prev, g, Bounds(-100, 100), min_impressions=0)
    b = type_step(t2, count, total, prev, g, Bounds(-100, 100), min_impressions=0)
    assert a.d == b.d
    assert a.error is not None and b.error is not None
    assert math.isclose(b.p - a.p, g.kp * (b.error - a.error), abs_tol=1e-9)
    assert math.isclose(b.i - a.i, g.ki * (b.error - a.error), abs_tol=1e-9)


@given(st.integers(1, 10**6), st.integers(1, 10**6), states, gains)
def test_zero_error_leaves_the_integral_unchanged(
    count: int, extra: int, prev: TypeState, g: Gains
) -> None:
    total = count + extra
    step = type_step(count / total, count, total, prev, g, Bounds(-100, 100), min_impressions=0)
    assert step.error == 0.0
    assert step.state.integral == prev.integral


def test_zero_share_gives_a_finite_step() -> None:
    step = type_step(0.1, 0, 5000, TypeState(), G, B, min_impressions=1000)
    assert step.error is not None and math.isfinite(step.error) and step.error > 0
    assert math.isfinite(step.u) and step.u > 0
    assert step.share == 0.0


def test_derivative_is_on_the_measurement() -> None:
    prev = TypeState(integral=0.0, measurement=math.log(0.1), u=0.0)
    step = type_step(0.1, 200, 1000, prev, G, B, min_impressions=0)
    assert math.isclose(step.d, -G.kd * (math.log(0.2) - math.log(0.1)))


def test_linear_space_error_is_in_share_units() -> None:
    step = type_step(0.1, 200, 1000, TypeState(), G, B, min_impressions=0, space="linear")
    assert step.error is not None and math.isclose(step.error, -0.1)


@pytest.mark.parametrize(("total", "why"), [(0, NO_DATA), (999, TOO_FEW)])
def test_too_few_impressions_hold_u_and_say_why(total: int, why: str) -> None:
    prev = TypeState(integral=1.0, measurement=-2.0, u=0.7)
    step = type_step(0.1, min(total, 5), total, prev, G, B, min_impressions=1000)
    assert step.u == 0.7
    assert step.state == prev
    assert step.skipped == why
    assert step.error is None and step.saturated is None


def test_held_u_is_clamped_into_todays_bounds() -> None:
    prev = TypeState(integral=1.0, measurement=None, u=3.0)
    step = type_step(0.1, 1, 10, prev, G, Bounds(-1, 1), min_impressions=1000)
    assert step.u == 1.0


def _configs(**targets: dict[str, float]) -> dict[str, PolicyConfig]:
    return {p: PolicyConfig(t, G, B) for p, t in targets.items()}


def test_new_policy_starts_bumpless_from_default() -> None:
    previous = {"default": {"video": TypeState(integral=0.5 / G.ki, measurement=-3.0, u=0.5)}}
    counts = {
        "default": PolicyCounts(10_000, {"video": 400}),
        "video_heavy": PolicyCounts(10_000, {"video": 800}),
    }
    steps = control_step(
        _configs(default={"video": 0.04}, video_heavy={"video": 0.08}),
        counts,
        previous,
        min_impressions=1000,
    )
    # On target from its first window: the new policy keeps default's constant.
    assert math.isclose(steps["video_heavy"].constants["video"], 0.5)


def test_new_policy_without_default_starts_from_zero() -> None:
    steps = control_step(
        _configs(video_heavy={"video": 0.08}),
        {"video_heavy": PolicyCounts(10_000, {"video": 800})},
        {},
        min_impressions=1000,
    )
    assert math.isclose(steps["video_heavy"].constants["video"], 0.0, abs_tol=1e-12)


def test_removed_target_drops_its_constant() -> None:
    previous = {"default": {"video": TypeState(u=0.4), "fresh": TypeState(u=-0.2)}}
    steps = control_step(
        _configs(default={"video": 0.04}),
        {"default": PolicyCounts(10_000, {"video": 400, "fresh": 900})},
        previous,
        min_impressions=1000,
    )
    assert set(steps["default"].constants) == {"video"}


def test_policy_without_impressions_is_held_as_no_data() -> None:
    steps = control_step(
        _configs(default={"video": 0.04}),
        {},
        {"default": {"video": TypeState(u=0.4)}},
        min_impressions=1000,
    )
    assert steps["default"].types["video"].skipped == NO_DATA
    assert steps["default"].constants["video"] == 0.4


def test_counts_by_policy_folds_groups_without_a_policy_into_default() -> None:
    groups = {
        "control": PolicyCounts(100, {"video": 10, "image": 90}),
        "default": PolicyCounts(50, {"video": 5}),
        "video_heavy": PolicyCounts(80, {"video": 20}),
        "other": PolicyCounts(20, {"image": 20}),
    }
    folded = counts_by_policy(groups, {"default", "video_heavy"})
    assert folded["default"] == PolicyCounts(170, {"video": 15, "image": 110})
    assert folded["video_heavy"] == PolicyCounts(80, {"video": 20})
    assert set(folded) == {"default", "video_heavy"}


names = st.sampled_from(["default", "control", "video_heavy", "a", "b"])
group_counts = st.dictionaries(
    names,
    st.dictionaries(st.sampled_from(["video", "image"]), st.integers(0, 1000)).map(
        lambda d: PolicyCounts(sum(d.values()), d)
    ),
)


@given(group_counts, st.sets(names))
def test_counts_by_policy_conserves_impressions(
    groups: dict[str, PolicyCounts], policies: set[str]
) -> None:
    folded = counts_by_policy(groups, policies)
    assert sum(c.total for c in folded.values()) == sum(c.total for c in groups.values())
    for policy in folded:
        assert policy in policies or policy == "default"
    for group, c in groups.items():
        if group in policies and group != "default":
            assert folded[group] == c
