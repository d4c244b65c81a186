"""The predictive control law, per policy and window. Pure, no I/O.

Feed-forward. The window's sampled candidate lists are a model of the next
window that assumes nothing: :func:`pid_controller.model.solve` finds, on
them, the constants that put every targeted type on its target, jointly and
within the bounds. After a ranking-model change the very next window is on
target, where the PID waits for errors to accumulate.

Feedback. The sample cannot see everything (users who stop scrolling before
the last slot, a producer whose ``slots`` differ from what is shown), so the
law keeps, per type, ``bias``: the integral of the model's remaining log
error ``ln(measured / (predicted * exp(bias)))``, where ``predicted`` is the
share the model gives *this* window's samples at the constants that were in
force during it. The solve then aims at ``target * exp(-bias)``. The feedback
acts on what the solve aims at, not on the constants, so the solve is never
undone, and because measured and predicted come from the same window it
measures the model's error alone: the lag of the constants (a score that
drifts through the day) does not leak into it. The first measurement is
taken whole; later ones with gain ``bias_gain``.

Noise defence: :mod:`pid_controller.constant_filter` filters the solved
constant, and :mod:`pid_controller.regimes` weighs a flat forecast against it.

Fallback. A policy without usable samples (no source, an unreadable topic,
fewer than ``min_samples``) takes the PID step for that window and says why
in ``fallback``. The state keeps the PID's integral equal to ``u / ki`` at
every predictive step, so a fallback continues from the constant in force.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace

from pid_controller import learned, model, regimes, sample_model, view_depth
from pid_controller.constant_filter import Filtered, filtered, flat_forecast, solved_noise
from pid_controller.law_settings import PredictiveSettings
from pid_controller.step import (
    Bounds,
    ErrorSpace,
    PolicyConfig,
    PolicyCounts,
    PolicyStep,
    PredictiveState,
    TypeState,
    TypeStep,
    limit_step,
    policy_step,
)
from services.intervals import Interval, as_interval
from services.names import DEFAULT_POLICY, policy_for_group
from services.samples import SampledRequest, WindowSamples

NO_SOURCE = "no_samples_source"
UNAVAILABLE = "samples_unavailable"
TOO_FEW_SAMPLES = "too_few_samples"


def interval(target: float | Interval | tuple[float, float]) -> tuple[float, float]:
    """A target as ``(lo, hi)``: a point target is ``(t, t)``, a range its bounds
    (min-only ``hi = 1``, max-only ``lo = 0``; :mod:`services.intervals`)."""
    if isinstance(target, tuple):
        return (float(target[0]), float(target[1]))
    band = as_interval(target)
    return (band.lo, band.hi)


def samples_by_policy(
    window: WindowSamples, policies: Collection[str], cap: int
) -> dict[str, list[SampledRequest]]:
    """Fold experiment groups into policies (contract section 1), each capped uniformly.

    By group, not by the policy the producer stamped: a group that has just
    become a policy is solved on its own traffic from its first window. A
    reader that capped a group says how many it saw (``seen``): groups folded
    into one policy are thinned to one common sampling fraction first, so a
    small group is not over-represented next to a capped big one.
    """
    members: dict[str, list[str]] = {}
    for group in sorted(window.by_group):
        members.setdefault(policy_for_group(group, policies), []).append(group)
    out = {}
    for policy, groups in members.items():
        kept = {g: window.by_group[g] for g in groups}
        seen = {g: max(len(s), window.seen.get(g, 0)) for g, s in kept.items()}
        fraction = min((len(s) / seen[g] for g, s in kept.items() if seen[g]), default=1.0)
        folded = [
            x
            for g, s in kept.items()
            for x in sample_model.subsample(s, round(seen[g] * fraction), seed=len(s))[: len(s)]
            if round(seen[g] * fraction) > 0
        ]
        out[policy] = sample_model.subsample(folded, cap, seed=len(folded))
    return out


@dataclass(frozen=True)
class _Solved:
    targets: dict[str, tuple[float, float]]
    solution: model.Solution
    sample: sample_model.SampleModel
    biases: dict[str, tuple[float, bool]]
    depth: float


def _solve(
    config: PolicyConfig,
    counts: PolicyCounts,
    samples: Sequence[SampledRequest],
    previous: Mapping[str, TypeState],
    in_force: Mapping[str, float],
    settings: PredictiveSettings,
) -> _Solved:
    targets = {t: interval(v) for t, v in config.targets.items()}
    full = sample_model.prepare(samples, settings.default_slots, targets)
    depth = learned.update_depth(full, counts, previous, in_force, settings)
    sample = view_depth.with_depth(full, depth)
    at_force = model.predicted_shares(sample, in_force)
    biases = {}
    for t in targets:
        prev = previous.get(t)
        biases[t] = learned.update_bias(
            prev.predictive if prev else None,
            counts.by_type.get(t, 0),
            counts.total,
            at_force.get(t, 0.0),
            settings,
        )
    aimed = learned.aimed(targets, {t: b[0] for t, b in biases.items()})
    start = {t: s.u for t, s in previous.items()}
    bounds = (config.bounds.lo, config.bounds.hi)
    solution = model.solve(sample, aimed, bounds, start=start)
    return _Solved(targets, solution, sample, biases, depth)


@dataclass(frozen=True)
class _Published:
    """Per type: the constant published, whether the rate limit held it, and
    the filter and flat forecast it came from (the next window's state)."""

    constants: dict[str, float]
    limited: dict[str, bool]
    filters: dict[str, Filtered]
    flats: dict[str, regimes.Flat]


def _publish(
    config: PolicyConfig,
    counts: PolicyCounts,
    solved: _Solved,
    previous: Mapping[str, TypeState],
    settings: PredictiveSettings,
) -> _Published:
    sol, bounds, targets = solved.solution, config.bounds, solved.targets
    retarget = any(
        (s := previous.get(t)) is None or s.predictive is None or s.predictive.target != iv
        for t, iv in targets.items()
    )
    out = _Published({}, {}, {}, {})
    for t in targets:
        prev = previous.get(t)
        restart = retarget or sol.saturated[t] is not None
        noise = solved_noise(sol, t, counts, settings)
        state = prev.predictive if prev else None
        f = out.filters[t] = filtered(state, sol.constants[t], noise, settings, restart)
        flat = out.flats[t] = flat_forecast(state, sol.constants[t], noise, settings, restart)
        drifting = f[0] + f[1]  # the level one window on
        wanted = bounds.clamp(regimes.mix(flat, drifting))
        # The rate limit (section 11) holds here too; the filter keeps tracking the
        # solve, so a limited constant walks on toward it in the next windows.
        u, out.limited[t] = limit_step(prev.u if prev else 0.0, wanted, bounds.max_step)
        out.constants[t] = bounds.clamp(u)
    return out


def predictive_policy_step(
    config: PolicyConfig,
    counts: PolicyCounts,
    samples: Sequence[SampledRequest],
    previous: Mapping[str, TypeState],
    in_force: Mapping[str, float],
    settings: PredictiveSettings,
) -> PolicyStep:
    """One predictive step for one policy (``samples`` already the policy's, capped)."""
    solved = _solve(config, counts, samples, previous, in_force, settings)
    pub = _publish(config, counts, solved, previous, settings)
    predicted = model.predicted_shares(solved.sample, pub.constants)
    return PolicyStep(
        {
            t: _reported(
                t, iv, config, counts, previous.get(t) or TypeState(), solved, pub, predicted
            )
            for t, iv in sorted(solved.targets.items())
        }
    )


def _reported(
    t: str,
    iv: tuple[float, float],
    config: PolicyConfig,
    counts: PolicyCounts,
    prev: TypeState,
    solved: _Solved,
    pub: _Published,
    predicted: Mapping[str, float],
) -> TypeStep:
    """The step of type ``t`` as published: its state, prediction and reachable range."""
    sol, bounds = solved.solution, config.bounds
    bias, seen = solved.biases[t]
    low, high = model.reachable(solved.sample, pub.constants, t, (bounds.lo, bounds.hi))
    scale = math.exp(bias)
    flat = pub.flats[t]
    state = _state(pub.filters[t], flat, (bias, seen), iv, solved.depth)
    detail = {
        "feedforward": sol.constants[t],
        "bias": bias,
        "seen_fraction": solved.depth,
        "flat_weight": flat.weight,
        "cost": sol.cost,
        "bound_min": bounds.lo,
        "bound_max": bounds.hi,
    }
    return _type_step(
        t,
        iv,
        counts,
        prev,
        pub.constants[t],
        state,
        config,
        predicted=min(1.0, predicted.get(t, 0.0) * scale),
        reachable=(min(1.0, low * scale), min(1.0, high * scale)),
        saturated=sol.saturated[t],
        samples=sol.samples,
        detail=detail,
        rate_limited=pub.limited[t],
    )


def _state(
    f: Filtered,
    flat: regimes.Flat,
    bias: tuple[float, bool],
    target: tuple[float, float],
    depth: float,
) -> PredictiveState:
    """What the next window's step starts from."""
    level, trend, p_ll, p_lt, p_tt, spread = f
    return PredictiveState(
        level=level,
        trend=trend,
        p_ll=p_ll,
        p_lt=p_lt,
        p_tt=p_tt,
        bias=bias[0],
        bias_seen=bias[1],
        target=target,
        spread=spread,
        depth=depth,
        flat=flat.level,
        flat_var=flat.variance,
        flat_weight=flat.weight,
    )


def _type_step(
    name: str,
    target: tuple[float, float],
    counts: PolicyCounts,
    prev: TypeState,
    u: float,
    state: PredictiveState,
    config: PolicyConfig,
    *,
    predicted: float,
    reachable: tuple[float, float],
    saturated: model.Saturation | None,
    samples: int,
    detail: dict[str, float],
    rate_limited: bool = False,
) -> TypeStep:
    count, total = counts.by_type.get(name, 0), counts.total
    share = count / total if total else None
    measured = max(count, 0.5) / total if total else None
    lo, hi = target
    goal = lo if measured is None or measured < lo else hi if measured > hi else measured
    ki = config.gains.ki
    return TypeStep(
        u=u,
        state=TypeState(
            integral=u / ki if ki > 0 else 0.0,
            measurement=math.log(measured) if measured else prev.measurement,
            u=u,
            predictive=state,
        ),
        target=Interval(lo, hi),
        share=share,
        impressions=total,
        error=math.log(goal / measured) if measured else None,
        p=0.0,
        i=0.0,
        d=0.0,
        saturated=saturated if _at_bound(u, saturated, config.bounds) else None,
        skipped=None,
        rate_limited=rate_limited,
        mode="predictive",
        samples=samples,
        predicted_share=predicted,
        reachable=reachable,
        detail=detail,
    )


def _at_bound(u: float, saturated: model.Saturation | None, bounds: Bounds) -> bool:
    return (saturated == "upper" and u >= bounds.hi) or (saturated == "lower" and u <= bounds.lo)


def pid_fallback(
    config: PolicyConfig,
    counts: PolicyCounts,
    previous: Mapping[str, TypeState],
    *,
    reason: str | None,
    samples: int,
    min_impressions: int,
    space: ErrorSpace,
    seed: Mapping[str, TypeState] | None,
) -> PolicyStep:
    """The PID step, marked with why it was used; the predictive bias is kept for later."""
    step = policy_step(
        config, counts, previous, min_impressions=min_impressions, space=space, seed=seed
    )
    out = {}
    for t, ts in step.types.items():
        prev = previous.get(t)
        kept = replace(prev.predictive, level=None, flat=None) if prev and prev.predictive else None
        out[t] = replace(
            ts,
            state=replace(ts.state, predictive=kept),
            mode="pid",
            fallback=reason,
            samples=samples,
        )
    return PolicyStep(out)


def predictive_control_step(
    configs: Mapping[str, PolicyConfig],
    counts: Mapping[str, PolicyCounts],
    samples: Mapping[str, Sequence[SampledRequest]] | None,
    previous: Mapping[str, Mapping[str, TypeState]],
    in_force: Mapping[str, Mapping[str, float]],
    settings: PredictiveSettings,
    *,
    unavailable: str | None = None,
    space: ErrorSpace = "log",
) -> dict[str, PolicyStep]:
    """One step for every policy: predictive where its samples allow, PID otherwise.

    ``samples`` None means there were none to read (``unavailable`` says why:
    no source, or the source failed). A policy with no samples of its own (a
    new A/B group's first windows) is solved on ``default``'s.
    """
    out = {}
    for name, config in sorted(configs.items()):
        c = counts.get(name, PolicyCounts(0))
        prev = previous.get(name, {})
        seed = None if name == DEFAULT_POLICY else previous.get(DEFAULT_POLICY, {})
        own = [] if samples is None else samples.get(name) or samples.get(DEFAULT_POLICY, [])
        if samples is None or len(own) < max(1, settings.min_samples):
            reason = (unavailable or NO_SOURCE) if samples is None else TOO_FEW_SAMPLES
            out[name] = pid_fallback(
                config,
                c,
                prev,
                reason=reason,
                samples=len(own),
                min_impressions=settings.min_impressions,
                space=space,
                seed=seed,
            )
            continue
        force = in_force.get(name, in_force.get(DEFAULT_POLICY, {}))
        out[name] = predictive_policy_step(config, c, own, prev, force, settings)
    return out
