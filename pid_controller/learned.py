"""What the predictive law knows beyond a window's samples, applied to a solve. Pure.

A sample holds whole ranked lists, but only the slots users look at become
impressions (:mod:`pid_controller.view_depth`), and what the sample still
cannot see is left in each type's bias: the log of its measured share over the
share the sample predicted. The law learns both window by window
(:mod:`pid_controller.predictive`); a solve that ignored them (the preview of
a target, before this module) predicted the share of the whole list, which on
a feed where users see half the slots is the wrong number for an operator.

Both the law's own solve and ``cdctl targets preview`` go through here, so the
preview says what the controller would do.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from pid_controller import model, sample_model, view_depth
from pid_controller.law_settings import PredictiveSettings
from pid_controller.step import PolicyCounts, PredictiveState, TypeState

Interval = tuple[float, float]  # (low, high) share

SHARE_FLOOR = 1e-6


@dataclass(frozen=True)
class Learned:
    """A policy's seen fraction of the slots, and each targeted type's bias (log units)."""

    depth: float = view_depth.FULL
    bias: Mapping[str, float] = field(default_factory=dict)


def first_state(previous: Mapping[str, TypeState]) -> PredictiveState | None:
    """A policy's predictive state of any type: the depth it holds is the policy's."""
    return next((s.predictive for s in previous.values() if s.predictive), None)


def learned_of(previous: Mapping[str, TypeState]) -> Learned:
    """What the law's state for one policy (by type) has learned; nothing for a new policy."""
    first = first_state(previous)
    bias = {
        name: s.predictive.bias
        for name, s in previous.items()
        if s.predictive is not None and s.predictive.bias_seen
    }
    return Learned(first.depth if first else view_depth.FULL, bias)


def _share(x: float) -> float:
    return min(1.0 - SHARE_FLOOR, max(SHARE_FLOOR, x))


def aimed(targets: Mapping[str, Interval], bias: Mapping[str, float]) -> dict[str, Interval]:
    """The targets on the sample's scale: a type the sample under-predicts by ``e^b``
    is solved for ``e^-b`` times its target."""
    out = {}
    for name, (lo, hi) in targets.items():
        factor = math.exp(-bias.get(name, 0.0))
        out[name] = (_share(lo * factor), _share(hi * factor))
    return out


def measured(solution: model.Solution, bias: Mapping[str, float]) -> model.Solution:
    """``solution`` with predicted shares and reachable ranges on the measured scale."""

    def scaled(name: str, x: float) -> float:
        return min(1.0, x * math.exp(bias.get(name, 0.0)))

    return replace(
        solution,
        predicted={t: scaled(t, v) for t, v in solution.predicted.items()},
        reachable={t: (scaled(t, lo), scaled(t, hi)) for t, (lo, hi) in solution.reachable.items()},
    )


def solve(
    full: sample_model.SampleModel,
    targets: Mapping[str, Interval],
    bounds: Interval,
    learned: Learned,
) -> model.Solution:
    """The constants ``targets`` need with what was learned: the view depth applied to
    the sample, targets aimed through the biases, shares reported as they will be measured."""
    sample = view_depth.with_depth(full, learned.depth)
    return measured(model.solve(sample, aimed(targets, learned.bias), bounds), learned.bias)


def update_bias(
    prev: PredictiveState | None,
    count: int,
    total: int,
    predicted: float,
    settings: PredictiveSettings,
) -> tuple[float, bool]:
    """The new (bias, seen): the model's log error integrated (see
    :mod:`pid_controller.predictive`); the first measurement is taken whole."""
    bias = prev.bias if prev else 0.0
    seen = prev.bias_seen if prev else False
    if total < max(1, settings.min_impressions) or predicted <= 0:
        return bias, seen
    observed = math.log(max(count, 0.5) / total / predicted)
    observed = max(-settings.max_bias, min(settings.max_bias, observed))
    if not seen:
        return observed, True
    return bias + settings.bias_gain * (observed - bias), True


def update_depth(
    full: sample_model.SampleModel,
    counts: PolicyCounts,
    previous: Mapping[str, TypeState],
    in_force: Mapping[str, float],
    settings: PredictiveSettings,
) -> float:
    """The seen fraction of the slots (:mod:`pid_controller.view_depth`), smoothed.

    Users' depth is a habit, not a per-window event, so a window's fit only
    moves it by ``depth_gain``; the first fit is taken whole.
    """
    prev = first_state(previous)
    current = prev.depth if prev else view_depth.FULL
    if counts.total < max(1, settings.min_impressions):
        return current
    fitted = view_depth.fit(full, in_force, counts.by_type, current)
    if prev is None or not prev.bias_seen:
        return fitted
    return current + settings.depth_gain * (fitted - current)
