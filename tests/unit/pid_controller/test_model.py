"""The predictive model (pid_controller/model.py): exactness against the real blend, properties."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blender.blend import apply_constants, offsets_for, select_top
from pid_controller import model, sample_model
from services.samples import SampledRequest, ScoreSpace

TYPES = ("fresh", "idea", "image", "video")


def draw(
    seed: int,
    requests: int,
    candidates: int,
    slots: int | None,
    n_types: int = 4,
    space: ScoreSpace = "log",
    means: Sequence[float] = (-2.2, -2.0, -1.9, -2.4),
) -> list[SampledRequest]:
    """Continuous scores (no ties), a few types with different means."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(requests):
        n = int(rng.integers(1, candidates + 1))
        codes = rng.integers(0, n_types, n)
        scores = rng.standard_normal(n) + np.asarray(means)[codes]
        if space == "linear":
            scores = np.exp(scores)
        out.append(
            SampledRequest(
                0, "control", "default", space, slots, tuple(TYPES[c] for c in codes), scores
            )
        )
    return out


def blended_shares(
    samples: Sequence[SampledRequest], constants: Mapping[str, float], default_slots: int
) -> dict[str, float]:
    """What the blender itself serves: blender.blend on each request, counted."""
    counts: dict[str, int] = {}
    total = 0
    for s in samples:
        names = sorted(set(s.types))
        codes = np.array([names.index(t) for t in s.types])
        blended = apply_constants(s.scores, codes, offsets_for(names, constants), s.score_space)
        k = default_slots if s.slots is None else s.slots
        shown = select_top(blended[None, :], k)[0]
        for t in np.asarray(s.types, dtype=object)[shown]:
            counts[t] = counts.get(t, 0) + 1
        total += int(shown.sum())
    return {t: n / total for t, n in counts.items()} if total else {}


def test_solve_hits_every_target_on_the_sample_as_the_blender_blends_it() -> None:
    samples = draw(1, 400, 120, 20)
    m = sample_model.prepare(samples, 25)
    targets = {"video": 0.04, "fresh": 0.30, "idea": 0.2}
    sol = model.solve(m, {t: (v, v) for t, v in targets.items()}, (-5.0, 5.0))
    served = blended_shares(samples, sol.constants, 25)
    resolution = 1.5 / m.total_slots
    assert sol.converged
    for t, v in targets.items():
        assert served[t] == pytest.approx(v, abs=resolution)
        assert sol.predicted[t] == pytest.approx(served[t], abs=1e-12)
    assert sol.predicted["image"] == pytest.approx(served["image"], abs=1e-12)
    assert math.fsum(sol.predicted.values()) == pytest.approx(1.0)


def test_linear_space_and_default_slots_give_the_same_constants_as_log_space() -> None:
    log_samples = draw(2, 200, 60, None)
    linear = draw(2, 200, 60, None, space="linear")
    targets = {"video": (0.1, 0.1)}
    a = model.solve(sample_model.prepare(log_samples, 10), targets, (-5, 5))
    b = model.solve(sample_model.prepare(linear, 10), targets, (-5, 5))
    assert a.constants["video"] == pytest.approx(b.constants["video"], abs=1e-9)
    served = blended_shares(linear, b.constants, 10)
    assert served["video"] == pytest.approx(
        0.1, abs=1.5 / sample_model.prepare(linear, 10).total_slots
    )


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    requests=st.integers(1, 60),
    candidates=st.integers(1, 40),
    slots=st.none() | st.integers(1, 12),
    n_types=st.integers(1, 4),
    pushes=st.lists(st.floats(-2, 2), min_size=4, max_size=4),
)
def test_shares_reached_by_some_constants_are_found_again(
    seed: int,
    requests: int,
    candidates: int,
    slots: int | None,
    n_types: int,
    pushes: list[float],
) -> None:
    """Exact on the sample: shares some constants give are hit again by the solve."""
    samples = draw(seed, requests, candidates, slots, n_types)
    truth = {t: p for t, p in zip(TYPES[:n_types], pushes, strict=False)}
    reached = blended_shares(samples, truth, 8)
    targeted = {t: (reached[t], reached[t]) for t in TYPES[: max(1, n_types - 1)] if t in reached}
    m = sample_model.prepare(samples, 8)
    sol = model.solve(m, targeted, (-5.0, 5.0))
    served = blended_shares(samples, sol.constants, 8)
    for t, (v, _) in targeted.items():
        assert served.get(t, 0.0) == pytest.approx(v, abs=1.5 / m.total_slots + 1e-12)
        assert -5.0 <= sol.constants[t] <= 5.0
    _all_finite(sol)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    inner=st.tuples(st.floats(-2, 0), st.floats(0, 2)),
    widen=st.tuples(st.floats(0, 3), st.floats(0, 3)),
    others=st.lists(st.floats(-1, 1), min_size=4, max_size=4),
)
def test_reachable_range_grows_with_the_bounds(
    seed: int, inner: tuple[float, float], widen: tuple[float, float], others: list[float]
) -> None:
    m = sample_model.prepare(draw(seed, 30, 30, 6), 6)
    constants = dict(zip(TYPES, others, strict=True))
    narrow = model.reachable(m, constants, "video", inner)
    wide = model.reachable(m, constants, "video", (inner[0] - widen[0], inner[1] + widen[1]))
    assert wide[0] <= narrow[0] <= narrow[1] <= wide[1]
    at = model.predicted_shares(m, {**constants, "video": inner[0]})["video"]
    assert narrow[0] == pytest.approx(at, abs=1.0 / m.total_slots)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), beyond=st.floats(0.01, 0.5), side=st.sampled_from([1, -1]))
def test_a_target_outside_the_reachable_range_is_reported_saturated_at_the_bound(
    seed: int, beyond: float, side: int
) -> None:
    bounds = (-0.3, 0.3)
    m = sample_model.prepare(draw(seed, 40, 40, 8), 8)
    low, high = model.reachable(m, {}, "video", bounds)
    wanted = high + beyond if side > 0 else low - beyond
    if not 0 < wanted < 1:
        return
    sol = model.solve(m, {"video": (wanted, wanted)}, bounds)
    assert sol.saturated["video"] == ("upper" if side > 0 else "lower")
    assert sol.constants["video"] == (bounds[1] if side > 0 else bounds[0])
    assert sol.reachable["video"] == (low, high)


def test_a_range_target_is_not_pushed_inside_and_steered_to_its_nearest_edge_outside() -> None:
    samples = draw(3, 300, 80, 15)
    m = sample_model.prepare(samples, 15)
    free = model.predicted_shares(m, {})["video"]
    inside = model.solve(m, {"video": (free * 0.8, free * 1.2)}, (-5, 5))
    assert inside.constants["video"] == 0.0
    above = model.solve(m, {"video": (free * 1.5, free * 2.0)}, (-5, 5))
    assert above.constants["video"] > 0
    assert above.predicted["video"] == pytest.approx(free * 1.5, abs=1.5 / m.total_slots)
    below = model.solve(m, {"video": (free * 0.3, free * 0.5)}, (-5, 5))
    assert below.predicted["video"] == pytest.approx(free * 0.5, abs=1.5 / m.total_slots)


def test_engagement_cost_is_zero_without_constants_and_positive_when_pushing_a_weak_type() -> None:
    m = sample_model.prepare(draw(4, 300, 80, 15), 15)
    assert model.engagement_cost(m, {}) == 0.0
    free = model.predicted_shares(m, {})["video"]
    sol = model.solve(m, {"video": (free * 2, free * 2)}, (-5, 5))
    assert 0 < sol.cost < 1
    assert sol.cost == pytest.approx(model.engagement_cost(m, sol.constants))


def _all_finite(sol: model.Solution) -> None:
    numbers = [
        *sol.constants.values(),
        *sol.predicted.values(),
        *(x for r in sol.reachable.values() for x in r),
        *sol.u_std.values(),
        sol.cost,
    ]
    assert all(math.isfinite(x) for x in numbers)
    assert all(0.0 <= s <= 1.0 for s in sol.predicted.values())


def _one(types: tuple[str, ...], scores: list[float], slots: int | None = 5) -> SampledRequest:
    return SampledRequest(0, "g", "default", "log", slots, types, np.asarray(scores))


@pytest.mark.parametrize(
    "samples",
    [
        [],
        [_one(("image",) * 4, [-1.0, -2.0, -3.0, -4.0])],  # all one type, video absent
        [_one(("video",) * 3, [-1.0, -1.0, -1.0])],  # only the targeted type
        [_one(("video", "image"), [-1.0, -1.0], 1)] * 3,  # every score tied
        [_one(("video",), [0.0], None)],
        [_one((), []), _one(("video", "image"), [-1.0, -2.0], 1)],  # a request without candidates
    ],
    ids=["empty", "absent", "only-targeted", "ties", "single", "no-candidates"],
)
def test_degenerate_samples_give_finite_answers_within_bounds(
    samples: list[SampledRequest],
) -> None:
    m = sample_model.prepare(samples, 25, ["video"])
    sol = model.solve(m, {"video": (0.2, 0.2), "image": (0.5, 0.5)}, (-1.0, 2.0))
    _all_finite(sol)
    assert all(-1.0 <= u <= 2.0 for u in sol.constants.values())
    assert set(sol.constants) == {"video", "image"}
    assert math.isfinite(model.engagement_cost(m, {"video": 2.0}))
    assert all(math.isfinite(x) for x in model.reachable(m, {}, "video", (-1, 2)))


def test_a_type_missing_from_the_sample_is_saturated_upward_with_share_zero() -> None:
    m = sample_model.prepare([_one(("image",) * 4, [-1.0, -2.0, -3.0, -4.0])], 2)
    sol = model.solve(m, {"video": (0.1, 0.1)}, (-5, 5))
    assert sol.saturated["video"] == "upper"
    assert sol.reachable["video"] == (0.0, 0.0)
    assert sol.predicted.get("video", 0.0) == 0.0


def test_subsample_caps_uniformly_and_keeps_order() -> None:
    samples = draw(5, 100, 3, 2)
    kept = sample_model.subsample(samples, 30, seed=1)
    assert len(kept) == 30
    where = {id(s): i for i, s in enumerate(samples)}
    positions = [where[id(s)] for s in kept]
    assert positions == sorted(positions)
    assert positions[-1] > 50  # uniform, not the first 30
    assert sample_model.subsample(samples, 0) == samples
    assert sample_model.subsample(samples, 500) == samples
