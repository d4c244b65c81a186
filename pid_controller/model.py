"""The predictive model: constants that hit the targets on a sample of candidate lists.

Pure and vectorised (no I/O): the controller, the simulator, ``cdctl targets
preview`` and the tests all call it.

Why it is exact and fast. Ordering by ``score + u`` (log space) or
``score * exp(u)`` (linear space) is ordering by ``key + u`` with
``key = score`` or ``ln(score)``, so both spaces are one problem. In a
request with ``k`` slots only each type's top ``k`` keys can ever be shown, so
a sample is held as ``keys[request, type, rank]`` (sorted, padded with -inf):
a few dozen numbers per request whatever the number of candidates.

With every other constant fixed, the ``j``-th best candidate of type ``t``
takes a slot iff it beats the others' ``(k - j)``-th best, i.e. iff
``u_t > c[r, j] = others[r, k - 1 - j] - keys[r, t, j]``. So the type's count
as a function of ``u_t`` is ``#{c < u_t}``: one sort of the critical values
gives, exactly, the ``u_t`` for any wanted count (its reachable range too).
Shares are gross substitutes (raising ``u_t`` only takes slots from others),
so sweeping this exact one-type solve over the targeted types (Gauss-Seidel)
converges to the joint solution; it stops when every count is within one
impression of its goal (the sample's resolution).

A target is an interval ``(lo, hi)``; a point target has ``lo == hi``. Inside
its interval a type is not pushed: of the constants that keep it inside, the
one nearest 0 is taken (the Lagrange multiplier of an inequality).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from pid_controller.sample_model import SampleModel

FloatArray = npt.NDArray[np.float64]
Interval = tuple[float, float]
Saturation = Literal["upper", "lower"]
MAX_SWEEPS = 60
# When one side of the wanted interval of u is unbounded, step this far past the other.
OPEN_STEP = 1.0
SLOPE_STEP = 0.05
MAX_U_STD = 10.0


@dataclass(frozen=True)
class Solution:
    """What a solve found; every number finite, every share in [0, 1]."""

    constants: dict[str, float]  # targeted types only, within the bounds
    predicted: dict[str, float]  # every type seen in the sample or targeted
    reachable: dict[str, Interval]  # targeted types: share with u anywhere in the bounds
    saturated: dict[str, Saturation | None]
    cost: float  # relative drop of mean exp(key) over shown slots against no constants
    u_std: dict[str, float]  # the constant's sampling noise (for the controller's filter)
    slope: dict[str, float]  # d share / d u of each targeted type at the solution
    samples: int
    slots: int = 0  # slots of the sample (shares are out of these)
    sweeps: int = 0
    converged: bool = True
    extra: dict[str, float] = field(default_factory=dict)


def _offsets(model: SampleModel, constants: Mapping[str, float]) -> FloatArray:
    return np.fromiter((constants.get(t, 0.0) for t in model.type_names), np.float64)


def _weights(model: SampleModel, u: FloatArray) -> FloatArray:
    """Per entry of ``keys``, the fraction of a slot it takes at constants ``u``.

    1 above the request's ``k``-th best blended key, 0 below; entries equal to
    it share the slots left (a tie's expected outcome).
    """
    if model.keys.size == 0:
        return np.zeros(model.keys.shape)
    blended = model.keys + u[None, :, None]
    flat = blended.reshape(model.requests, -1)
    ordered = -np.sort(-flat, axis=1)
    k = model.slots
    rows = np.arange(model.requests)
    kth = ordered[rows, np.maximum(k - 1, 0)][:, None]
    above = flat > kth
    equal = (flat == kth) & np.isfinite(flat)
    room = k[:, None] - above.sum(axis=1, keepdims=True)
    ties = np.maximum(equal.sum(axis=1, keepdims=True), 1)
    weights = np.where(above, 1.0, np.where(equal, room / ties, 0.0))
    return weights.reshape(model.keys.shape)


def _shares_from(model: SampleModel, weights: FloatArray) -> FloatArray:
    total = model.total_slots
    counts = weights.sum(axis=(0, 2))
    return counts / total if total > 0 else np.zeros(len(model.type_names))


def predicted_shares(model: SampleModel, constants: Mapping[str, float]) -> dict[str, float]:
    """The share of every type in the sample's shown slots at ``constants``."""
    shares = _shares_from(model, _weights(model, _offsets(model, constants)))
    return {t: float(s) for t, s in zip(model.type_names, shares, strict=True)}


def _engagement(model: SampleModel, weights: FloatArray) -> float:
    finite = np.isfinite(model.keys)
    if not finite.any():
        return 0.0
    top = float(model.keys[finite].max())
    values = np.where(finite, np.exp(np.where(finite, model.keys, top) - top), 0.0)
    return float((weights * values).sum())


def engagement_cost(model: SampleModel, constants: Mapping[str, float]) -> float:
    """Relative drop of the mean ``exp(key)`` of shown slots (exp(score) in log space,
    the score in linear space) against no constants; negative when it gains."""
    base = _engagement(model, _weights(model, np.zeros(len(model.type_names))))
    if base <= 0:
        return 0.0
    now = _engagement(model, _weights(model, _offsets(model, constants)))
    return 1.0 - now / base


def _critical(model: SampleModel, t: int, u: FloatArray) -> FloatArray:
    """Sorted values of ``u_t`` at which type ``t`` gains each further slot (see module doc)."""
    depth = model.keys.shape[2]
    others = model.keys + u[None, :, None]
    others[:, t, :] = -np.inf
    top = -np.sort(-others.reshape(model.requests, -1), axis=1)[:, :depth]
    j = np.arange(depth)
    col = model.slots[:, None] - 1 - j[None, :]
    valid = col >= 0
    rival = np.take_along_axis(top, np.maximum(col, 0), axis=1)
    own = model.keys[:, t, :]
    with np.errstate(invalid="ignore"):
        c = np.where(valid & np.isfinite(own), rival - own, np.inf)
    c = np.where(np.isnan(c), np.inf, c)
    return np.sort(c, axis=None)


def _count_below(c: FloatArray, u: float) -> int:
    return int(np.searchsorted(c, u, side="left"))


def _between(a: float, b: float) -> float:
    """A point strictly inside (a, b], preferring the middle; +-inf when none is finite
    (the wanted count lies beyond every constant: the caller clamps to a bound)."""
    if a == math.inf or b == -math.inf:
        return a if a == math.inf else b
    if math.isinf(a) and math.isinf(b):
        return 0.0
    if math.isinf(a):
        return b - OPEN_STEP
    if math.isinf(b):
        return a + OPEN_STEP
    return (a + b) / 2.0


def _solve_one(c: FloatArray, goal: tuple[int, int], bounds: Interval) -> float:
    """The ``u_t`` nearest 0 whose count ``#{c < u}`` lies in ``goal``, within ``bounds``."""
    lo_n, hi_n = goal
    ext = np.concatenate([[-np.inf], c, [np.inf]])  # ext[m] is c[m - 1]
    floor, ceiling = float(ext[lo_n]), float(ext[hi_n + 1])  # u in (floor, ceiling]
    if floor < 0.0 <= ceiling:
        u = 0.0
    elif floor >= 0.0:
        u = _between(floor, float(ext[lo_n + 1]))
    else:
        u = _between(float(ext[hi_n]), ceiling)
    return min(bounds[1], max(bounds[0], u))


def _goals(model: SampleModel, targets: Mapping[str, Interval]) -> dict[int, tuple[int, int]]:
    total = model.total_slots
    out = {}
    for name, (lo, hi) in targets.items():
        t = model.index(name)
        if t is None:
            continue
        lo_n = min(total, max(0, round(lo * total)))
        out[t] = (lo_n, min(total, max(lo_n, round(hi * total))))
    return out


def _within(count: float, goal: tuple[int, int]) -> bool:
    return goal[0] - 1.0 <= count <= goal[1] + 1.0


def _sweep(
    model: SampleModel, goals: dict[int, tuple[int, int]], u: FloatArray, bounds: Interval
) -> float:
    """One Gauss-Seidel pass; the largest change of a constant."""
    moved = 0.0
    for t, goal in goals.items():
        new = _solve_one(_critical(model, t, u), goal, bounds)
        moved = max(moved, abs(new - u[t]))
        u[t] = new
    return moved


def _settled(model: SampleModel, goals: dict[int, tuple[int, int]], u: FloatArray) -> bool:
    counts = _weights(model, u).sum(axis=(0, 2))
    return all(_within(float(counts[t]), g) for t, g in goals.items())


def solve(
    model: SampleModel,
    targets: Mapping[str, Interval],
    bounds: Interval,
    *,
    start: Mapping[str, float] | None = None,
    max_sweeps: int = MAX_SWEEPS,
) -> Solution:
    """Joint constants for every targeted type (others stay at 0) and what they predict.

    ``targets`` maps a type to its wanted share interval (``lo == hi`` for a
    point). A type absent from the sample is still reported (share 0, its
    constant at the upper bound, saturated).
    """
    goals = _goals(model, targets)
    names = [n for n in targets if model.index(n) is not None]
    u = np.zeros(len(model.type_names))
    for name, value in (start or {}).items():
        t = model.index(name)
        if t is not None and t in goals:
            u[t] = min(bounds[1], max(bounds[0], value))
    sweeps, converged = 0, model.total_slots == 0 or not goals
    while not converged and sweeps < max_sweeps:
        moved = _sweep(model, goals, u, bounds)
        sweeps += 1
        converged = moved < 1e-9 or _settled(model, goals, u)
    return _describe(model, targets, bounds, u, goals, names, sweeps, converged)


def _describe(
    model: SampleModel,
    targets: Mapping[str, Interval],
    bounds: Interval,
    u: FloatArray,
    goals: dict[int, tuple[int, int]],
    names: list[str],
    sweeps: int,
    converged: bool,
) -> Solution:
    weights = _weights(model, u)
    shares = _shares_from(model, weights)
    constants = {n: float(u[model.index(n) or 0]) for n in names}
    reachable: dict[str, Interval] = {}
    saturated: dict[str, Saturation | None] = {}
    u_std: dict[str, float] = {}
    slope: dict[str, float] = {}
    total = model.total_slots
    for name in targets:
        t = model.index(name)
        if t is None or total == 0:
            # Absent from a sample that has slots: nothing can lift it. No sample: no news.
            constants[name] = bounds[1] if total else min(bounds[1], max(bounds[0], 0.0))
            saturated[name] = "upper" if total else None
            reachable[name], u_std[name], slope[name] = (0.0, 0.0), MAX_U_STD, 0.0
            continue
        c = _critical(model, t, u)
        low, high = _count_below(c, bounds[0]), _count_below(c, bounds[1])
        reachable[name] = (low / total, high / total)
        goal = goals[t]
        saturated[name] = "upper" if high < goal[0] else "lower" if low > goal[1] else None
        slope[name] = _slope(c, float(u[t]), total)
        u_std[name] = _u_std(model, weights, t, slope[name])
    return Solution(
        constants=constants,
        predicted={n: float(s) for n, s in zip(model.type_names, shares, strict=True)},
        reachable=reachable,
        saturated=saturated,
        cost=_cost(model, weights),
        u_std=u_std,
        slope=slope,
        samples=model.requests,
        slots=model.total_slots,
        sweeps=sweeps,
        converged=converged,
    )


def _cost(model: SampleModel, weights: FloatArray) -> float:
    base = _engagement(model, _weights(model, np.zeros(len(model.type_names))))
    return 0.0 if base <= 0 else 1.0 - _engagement(model, weights) / base


def _slope(c: FloatArray, u: float, total: int) -> float:
    """d share / d u_t around ``u``, from the slots gained over a small step."""
    gained = _count_below(c, u + SLOPE_STEP) - _count_below(c, u - SLOPE_STEP)
    return gained / total / (2 * SLOPE_STEP)


def _u_std(model: SampleModel, weights: FloatArray, t: int, slope: float) -> float:
    """Sampling noise of the solved constant: the share's standard error over its slope.

    The share is a ratio estimate (slots of ``t`` over all slots), whose
    variance comes from the spread of per-request counts; the slope of the
    share in ``u_t`` turns it into the constant's noise. Few samples or a flat
    share (a type that hardly reacts) give a large value, which the
    controller's filter reads as "trust this solve less".
    """
    per_request = weights[:, t, :].sum(axis=1)
    k = model.slots.astype(np.float64)
    total = float(k.sum())
    n = model.requests
    if n < 2 or total <= 0:
        return MAX_U_STD
    share = float(per_request.sum()) / total
    var = float(((per_request - share * k) ** 2).sum()) * n / (n - 1) / total**2
    if slope <= 0:
        return MAX_U_STD
    return min(MAX_U_STD, math.sqrt(var) / slope)


def reachable(
    model: SampleModel, constants: Mapping[str, float], type_name: str, bounds: Interval
) -> Interval:
    """The share ``type_name`` takes with its constant at each bound, the others as given."""
    t = model.index(type_name)
    total = model.total_slots
    if t is None or total == 0:
        return (0.0, 0.0)
    c = _critical(model, t, _offsets(model, constants))
    return (_count_below(c, bounds[0]) / total, _count_below(c, bounds[1]) / total)
