"""The control step: one PID update per policy and type, in log space. Pure, no I/O.

Why log space: a constant ``u`` multiplies a type's odds of winning a slot by
roughly ``exp(u)``, so the share responds to ``u`` multiplicatively. Measuring
the error as ``ln(target / share)`` makes the loop gain about the same for a 4%
type and a 30% type, so one set of gains works for every type. (The simulator's
``--controller linear`` runs the same loop with ``target - share`` to show the
difference.)

Per type, with ``e = ln(target / share)``:

* P = kp * e
* I = ki * sum(e), integrated only while that does not push ``u`` further past
  a bound (conditional integration: no wind-up while saturated);
* D = kd * -(ln share - previous ln share): the derivative of the error taken
  on the measurement alone, so a change of target moves P and I but gives no
  derivative kick (for a fixed target it equals kd * (change of e));
* u = clamp(P + I + D, min, max).

A share of 0 would be an infinite error: the share is floored at half an
impression over the window's impressions. A policy with fewer than
``min_impressions`` impressions in the window holds every ``u`` unchanged and
reports why in ``skipped``.

Range targets (contract section 11) are intervals ``[lo, hi]`` (a share is
``lo == hi``, which takes exactly the point path above). Outside the interval
the error is taken against the nearest bound, so the type is steered to that
bound and no further. Inside, the error is 0 (no P, no D, no push) and the
constant is treated as the Lagrange multiplier of an inequality constraint:
it may only be non-zero while its constraint is active. So the integral
relaxes toward 0 by the type's log distance to the bound the constant is
pushing against (``ln(lo/share)`` while it pushes up, ``ln(hi/share)`` while it
pushes down), projected so that it never crosses 0: a positive integral, which
holds a type up to ``lo``, decays toward 0 and stops there or where the share
reaches ``lo``. Because the step is ``ki`` times that distance, and a change of
``u`` moves ``ln(share)`` by at most about ``u`` (less for a large share), one
step moves the share at most ``ki`` (0.375 by default) of the way to the bound:
it approaches the bound geometrically from inside and does not cross it.
When the share does cross (noise, a shift of the scores), the ordinary error
outside the band pushes it back. A side without a bound (``lo = 0`` or
``hi = 1``) has no constraint to hold, so its multiplier is released at once.

Rate limit: with ``Bounds.max_step`` set, ``u`` moves at most that far from the
previous window's constant (``rate_limited`` says when it bound), and the
integral is back-calculated to the limited ``u`` so the next window continues
from where the constant really is, instead of jumping back. The bounds still
win over the rate limit (an operator who narrows them moves the constant at once).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from services import documents
from services.intervals import Interval, as_interval
from services.names import DEFAULT_POLICY, policy_for_group

ErrorSpace = Literal["log", "linear"]
Saturation = Literal["upper", "lower"]
NO_DATA = "no_data"
TOO_FEW = "too_few_impressions"


@dataclass(frozen=True)
class Gains:
    kp: float
    ki: float
    kd: float = 0.0


@dataclass(frozen=True)
class Bounds:
    lo: float
    hi: float
    max_step: float | None = None  # log units per window; None: no rate limit

    def clamp(self, value: float) -> float:
        return min(self.hi, max(self.lo, value))


def resolve_bounds(given: documents.Bounds | None, default: Bounds) -> Bounds:
    """A policy's bounds: each key it sets in the targets document, else the setting's."""
    if given is None:
        return default
    return Bounds(
        default.lo if given.min is None else given.min,
        default.hi if given.max is None else given.max,
        default.max_step if given.max_step is None else given.max_step,
    )


def limit_step(previous: float, wanted: float, max_step: float | None) -> tuple[float, bool]:
    """``wanted`` moved at most ``max_step`` from ``previous``; and whether the limit bound."""
    if max_step is None or abs(wanted - previous) <= max_step:
        return wanted, False
    return (previous + max_step if wanted > previous else previous - max_step), True


@dataclass(frozen=True)
class PredictiveState:
    """What the predictive law (pid_controller/predictive.py) remembers of one type.

    ``level``/``trend`` and the covariance ``p*`` are its filter of the solved
    constant (None: restart from the next solve); ``bias`` the integral of the
    model's remaining log error; ``target`` the interval the filter follows.
    """

    level: float | None = None
    trend: float = 0.0
    p_ll: float = 0.0
    p_lt: float = 0.0
    p_tt: float = 0.0
    bias: float = 0.0
    bias_seen: bool = False
    target: tuple[float, float] | None = None
    spread: float = 0.0  # running mean of squared innovations (0: none yet)
    depth: float = 1.0  # the seen fraction of the slots (pid_controller/view_depth.py)
    flat: float | None = None  # the flat forecast (pid_controller/regimes.py)
    flat_var: float = 0.0
    flat_weight: float = 0.5  # the probability that the constant stands still


@dataclass(frozen=True)
class TypeState:
    """What the controller remembers of one type between steps."""

    integral: float = 0.0  # sum of errors integrated so far
    measurement: float | None = None  # ln(share) (or share, linear) of the last step
    u: float = 0.0
    predictive: PredictiveState | None = None


@dataclass(frozen=True)
class PolicyConfig:
    targets: Mapping[str, float | Interval]  # a share, or an interval (contract section 11)
    gains: Gains
    bounds: Bounds


@dataclass(frozen=True)
class PolicyCounts:
    """A policy's impressions in one window: all of them, and per type."""

    total: int
    by_type: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class TypeStep:
    """One type's new constant, its new state, and the numbers that explain it."""

    u: float
    state: TypeState
    target: Interval
    share: float | None
    impressions: int
    error: float | None
    p: float
    i: float
    d: float
    saturated: Saturation | None
    skipped: str | None
    rate_limited: bool = False
    # Contract section 10: how the constant was found (PID steps keep the defaults).
    mode: Literal["predictive", "pid"] = "pid"
    fallback: str | None = None
    samples: int = 0
    predicted_share: float | None = None
    reachable: tuple[float, float] | None = None
    detail: Mapping[str, float] = field(default_factory=dict)


def _measure(target: float, count: int, total: int, space: ErrorSpace) -> tuple[float, float]:
    """(error, measurement), the share floored at half an impression so 0 stays finite."""
    share = max(count, 0.5) / total
    if space == "log":
        return math.log(target / share), math.log(share)
    return target - count / total, count / total


def _hold(
    prev: TypeState,
    target: Interval,
    count: int,
    total: int,
    gains: Gains,
    bounds: Bounds,
    why: str,
) -> TypeStep:
    """Too little data to trust a share: keep ``u`` (within today's bounds) and say why."""
    u = bounds.clamp(prev.u)
    return TypeStep(
        u=u,
        state=replace(prev, u=u),
        target=target,
        share=count / total if total else None,
        impressions=total,
        error=None,
        p=0.0,
        i=gains.ki * prev.integral,
        d=0.0,
        saturated=None,
        skipped=why,
    )


def _relaxed(band: Interval, share: float, integral: float, space: ErrorSpace) -> float:
    """Inside the band: the integral decays toward 0 by the distance to the bound it
    pushes against, never past 0 (see the module docstring)."""
    if integral > 0:  # holding the share up: the lower bound is the active side
        if band.lo <= 0.0:
            return 0.0
        slack = math.log(band.lo / share) if space == "log" else band.lo - share
        return max(0.0, integral + slack)
    if integral < 0:  # holding the share down
        if band.hi >= 1.0:
            return 0.0
        slack = math.log(band.hi / share) if space == "log" else band.hi - share
        return min(0.0, integral + slack)
    return 0.0


def _terms(
    band: Interval,
    count: int,
    total: int,
    prev: TypeState,
    gains: Gains,
    space: ErrorSpace,
) -> tuple[float, float, float, float, float]:
    """(error, measurement, p, d, integral) before the bounds and the rate limit."""
    # A point takes the point path even when exactly on target (then e = 0 there too).
    aim = band.lo if band.is_point else band.aim(count / total)
    if aim is None:  # inside a range: no push, the multiplier relaxes
        share = max(count, 0.5) / total
        measurement = math.log(share) if space == "log" else count / total
        return 0.0, measurement, 0.0, 0.0, _relaxed(band, share, prev.integral, space)
    error, measurement = _measure(aim, count, total, space)
    p = gains.kp * error
    d = 0.0 if prev.measurement is None else -gains.kd * (measurement - prev.measurement) + 0.0
    return error, measurement, p, d, prev.integral + error


def type_step(
    target: float | Interval,
    count: int,
    total: int,
    prev: TypeState,
    gains: Gains,
    bounds: Bounds,
    *,
    min_impressions: int,
    space: ErrorSpace = "log",
) -> TypeStep:
    """One PID update for one type: ``count`` of the policy's ``total`` impressions."""
    band = as_interval(target)
    if total <= 0:
        return _hold(prev, band, count, total, gains, bounds, NO_DATA)
    if total < min_impressions:
        return _hold(prev, band, count, total, gains, bounds, TOO_FEW)
    error, measurement, p, d, integral = _terms(band, count, total, prev, gains, space)
    raw = p + gains.ki * integral + d
    # Conditional integration: an error that would push u to or past a bound
    # is not accumulated, so the integral cannot wind up while saturated. ``u``
    # still goes to the bound: recomputing it from the un-integrated sum would
    # park it just short of the bound for as long as the error lasts, never
    # using the last of its range and never reporting the saturation.
    if (raw >= bounds.hi and error > 0) or (raw <= bounds.lo and error < 0):
        integral = prev.integral
    u, limited = limit_step(prev.u, bounds.clamp(raw), bounds.max_step)
    u = bounds.clamp(u)
    if limited and gains.ki > 0:  # back-calculation: the integral follows the limited u
        integral = (u - p - d) / gains.ki
    saturated: Saturation | None = None
    if u >= bounds.hi and error > 0:
        saturated = "upper"
    elif u <= bounds.lo and error < 0:
        saturated = "lower"
    return TypeStep(
        u=u,
        state=TypeState(integral=integral, measurement=measurement, u=u),
        target=band,
        share=count / total,
        impressions=total,
        error=error,
        p=p,
        i=gains.ki * integral,
        d=d,
        saturated=saturated,
        skipped=None,
        rate_limited=limited,
    )


def bumpless_start(seed: TypeState | None, gains: Gains) -> TypeState:
    """Initial state for a type new to a policy.

    A new policy (a new A/B group) starts from the ``default`` policy's constant
    for the same type rather than from 0: the integral is set so that the I term
    alone reproduces that constant, so the first step moves ``u`` only by the
    new group's own error.
    """
    if seed is None or gains.ki == 0:
        return TypeState()
    return TypeState(integral=seed.u / gains.ki, measurement=None, u=seed.u)


@dataclass(frozen=True)
class PolicyStep:
    types: dict[str, TypeStep]

    @property
    def constants(self) -> dict[str, float]:
        return {t: s.u for t, s in self.types.items()}

    @property
    def states(self) -> dict[str, TypeState]:
        return {t: s.state for t, s in self.types.items()}


def policy_step(
    config: PolicyConfig,
    counts: PolicyCounts,
    previous: Mapping[str, TypeState],
    *,
    min_impressions: int,
    space: ErrorSpace = "log",
    seed: Mapping[str, TypeState] | None = None,
) -> PolicyStep:
    """Update every targeted type of one policy; a type without a target has no constant."""
    steps: dict[str, TypeStep] = {}
    for type_name, target in sorted(config.targets.items()):
        prev = previous.get(type_name) or bumpless_start((seed or {}).get(type_name), config.gains)
        steps[type_name] = type_step(
            target,
            counts.by_type.get(type_name, 0),
            counts.total,
            prev,
            config.gains,
            config.bounds,
            min_impressions=min_impressions,
            space=space,
        )
    return PolicyStep(steps)


def control_step(
    configs: Mapping[str, PolicyConfig],
    counts: Mapping[str, PolicyCounts],
    previous: Mapping[str, Mapping[str, TypeState]],
    *,
    min_impressions: int,
    space: ErrorSpace = "log",
) -> dict[str, PolicyStep]:
    """One step for every policy. A policy seen for the first time seeds from ``default``."""
    default_prev = previous.get(DEFAULT_POLICY, {})
    return {
        name: policy_step(
            config,
            counts.get(name, PolicyCounts(0)),
            previous.get(name, {}),
            min_impressions=min_impressions,
            space=space,
            seed=None if name == DEFAULT_POLICY else default_prev,
        )
        for name, config in sorted(configs.items())
    }


def counts_by_policy(
    groups: Mapping[str, PolicyCounts], policies: Collection[str]
) -> dict[str, PolicyCounts]:
    """Fold experiment groups into policies (contract section 1).

    A group whose name is a policy is that policy's measurement; every other
    group is counted under ``default``, so the default controller measures
    exactly the impressions of the groups without a policy of their own.
    """
    totals: dict[str, int] = {}
    by_type: dict[str, dict[str, int]] = {}
    for group, c in groups.items():
        policy = policy_for_group(group, policies)
        totals[policy] = totals.get(policy, 0) + c.total
        bucket = by_type.setdefault(policy, {})
        for type_name, n in c.by_type.items():
            bucket[type_name] = bucket.get(type_name, 0) + n
    return {p: PolicyCounts(totals[p], by_type[p]) for p in totals}
