"""How deep users look (pid_controller/view_depth.py), against the real blend."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pytest

from blender.blend import apply_constants, offsets_for, select_top
from pid_controller import sample_model, view_depth
from pid_controller.law_settings import PredictiveSettings
from pid_controller.predictive import predictive_control_step
from pid_controller.runner import _state_doc, previous_states
from pid_controller.step import (
    Bounds,
    Gains,
    PolicyConfig,
    PolicyCounts,
    PredictiveState,
    TypeState,
)
from services.ledger import ControllerStateDocument
from services.samples import SampledRequest

SLOTS = 20
ONE = 1 / SLOTS + 1e-9  # one slot, as a fraction
MEANS = {"video": -1.8, "fresh": -2.3, "image": -2.0}
MIX = {"video": 0.15, "fresh": 0.2, "image": 0.65}


def draw(seed: int, requests: int, candidates: int = 120) -> list[SampledRequest]:
    rng = np.random.default_rng(seed)
    names = list(MIX)
    out = []
    for _ in range(requests):
        codes = rng.choice(len(names), candidates, p=list(MIX.values()))
        means = np.array([MEANS[n] for n in names])[codes]
        scores = rng.standard_normal(candidates) + means
        types = tuple(names[c] for c in codes)
        out.append(SampledRequest(0, "control", "default", "log", SLOTS, types, scores))
    return out


def seen_counts(
    samples: Sequence[SampledRequest], constants: Mapping[str, float], depth: int
) -> dict[str, int]:
    """What the blender serves at ``constants``, counted only in the first ``depth`` slots."""
    counts: dict[str, int] = {}
    for s in samples:
        names = sorted(set(s.types))
        codes = np.array([names.index(t) for t in s.types])
        blended = apply_constants(s.scores, codes, offsets_for(names, constants), s.score_space)
        shown = select_top(blended[None, :], depth)[0]
        for t in np.asarray(s.types, dtype=object)[shown]:
            counts[t] = counts.get(t, 0) + 1
    return counts


@pytest.mark.parametrize("depth", [8, 12])
def test_the_fitted_depth_is_the_one_users_saw(depth: int) -> None:
    population = draw(1, 6000)
    sample = sample_model.prepare(population[:1500], SLOTS)
    counts = seen_counts(population, {"video": -0.4}, depth)
    # Within a slot: the sample is a quarter of the traffic.
    assert view_depth.fit(sample, {"video": -0.4}, counts) == pytest.approx(depth / SLOTS, abs=ONE)


def test_users_who_see_every_slot_keep_the_full_list() -> None:
    population = draw(2, 6000)
    sample = sample_model.prepare(population[:1500], SLOTS)
    counts = seen_counts(population, {"fresh": 0.3}, SLOTS)
    assert view_depth.fit(sample, {"fresh": 0.3}, counts) == view_depth.FULL


def test_a_believed_depth_stays_until_the_counts_clearly_disagree() -> None:
    population = draw(3, 6000)
    sample = sample_model.prepare(population[:1500], SLOTS)
    half = seen_counts(population, {}, 10)
    assert view_depth.fit(sample, {}, half, current=0.55) == 0.55  # close enough: kept
    assert view_depth.fit(sample, {}, half) == pytest.approx(0.5, abs=ONE)
    everything = seen_counts(population, {}, SLOTS)
    assert view_depth.fit(sample, {}, everything, current=0.5) >= 1 - 3 * ONE  # left for good


def test_two_types_say_nothing_about_depth() -> None:
    """With two types a depth and a type's bias explain the counts equally well."""
    population = draw(4, 6000)
    sample = sample_model.prepare(population[:1500], SLOTS)
    counts = seen_counts(population, {"video": 0.8}, 6)  # a depth three types would show
    two = {"video": counts["video"], "image": counts["image"]}
    assert view_depth.fit(sample, {"video": 0.8}, two) == view_depth.FULL
    assert view_depth.fit(sample, {"video": 0.8}, counts) == pytest.approx(0.3, abs=ONE)


def test_with_depth_keeps_at_least_one_slot_and_never_adds_any() -> None:
    sample = sample_model.prepare(draw(5, 50), SLOTS)
    assert view_depth.with_depth(sample, view_depth.FULL) is sample
    shallow = view_depth.with_depth(sample, 0.01)
    assert (shallow.slots == 1).all()
    assert (view_depth.with_depth(sample, 0.5).slots == SLOTS // 2).all()
    assert view_depth.grid(sample_model.prepare([], SLOTS)) == [view_depth.FULL]


def test_the_first_step_lands_when_users_see_half_the_slots() -> None:
    """The bias of a shallow view depends on the constant: a model of the full list
    corrected by one window's bias lands video far below target (about -14 %); the
    fitted depth lands it within a few percent."""
    population = draw(6, 8000)
    sample, depth = population[:1600], 10
    counts = seen_counts(population, {}, depth)
    config = PolicyConfig({"video": 0.1, "fresh": 0.15}, Gains(0.0, 0.375), Bounds(-5.0, 5.0))
    steps = predictive_control_step(
        {"default": config},
        {"default": PolicyCounts(sum(counts.values()), counts)},
        {"default": sample},
        {},
        {"default": {}},
        PredictiveSettings(min_samples=50, default_slots=SLOTS, min_impressions=1000),
    )["default"]
    constants = {t: s.u for t, s in steps.types.items()}
    served = seen_counts(draw(7, 8000), constants, depth)
    total = sum(served.values())
    assert served["video"] / total == pytest.approx(0.1, rel=0.05)
    assert served["fresh"] / total == pytest.approx(0.15, rel=0.05)
    assert steps.types["video"].detail["seen_fraction"] == pytest.approx(0.5, abs=ONE)


def test_the_fitted_depth_survives_the_controllers_state_document() -> None:
    """Users' depth and the constant's regime are learned over windows; a restart of the
    controller must not forget them."""
    learned = PredictiveState(level=-0.5, bias_seen=True, depth=0.45, flat=-0.49, flat_weight=0.9)
    state = TypeState(0.0, None, -0.5, learned)
    doc = ControllerStateDocument.model_validate(
        {"policies": {"default": {"video": _state_doc(state).model_dump()}}}
    )
    kept = previous_states(doc)["default"]["video"].predictive
    assert kept == learned
