"""The predictive control law (pid_controller/predictive.py) on fake samples."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pytest

from pid_controller import model, sample_model
from pid_controller.constant_filter import filtered
from pid_controller.law_settings import PredictiveSettings
from pid_controller.predictive import (
    NO_SOURCE,
    TOO_FEW_SAMPLES,
    UNAVAILABLE,
    predictive_control_step,
    samples_by_policy,
)
from pid_controller.step import (
    Bounds,
    Gains,
    PolicyConfig,
    PolicyCounts,
    PolicyStep,
    PredictiveState,
    TypeState,
    policy_step,
)
from services.samples import SampledRequest, WindowSamples

GAINS = Gains(0.0, 0.375)
CONFIG = PolicyConfig({"video": 0.1}, GAINS, Bounds(-5.0, 5.0))
SETTINGS = PredictiveSettings(min_samples=50, default_slots=10, min_impressions=1000)


def requests(
    n: int, seed: int = 0, video_mean: float = -2.0, group: str = "control"
) -> list[SampledRequest]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        video = rng.random(60) < 0.2
        scores = rng.standard_normal(60) + np.where(video, video_mean, -2.0)
        types = tuple("video" if v else "image" for v in video)
        out.append(SampledRequest(0, group, "default", "log", 10, types, scores))
    return out


def counts_at(
    samples: list[SampledRequest], constants: dict[str, float], factor: float = 1.0
) -> PolicyCounts:
    """Impressions as the model predicts them at ``constants``, video scaled by ``factor``."""
    share = model.predicted_shares(sample_model.prepare(samples, 10), constants)["video"] * factor
    total = 100_000
    video = round(share * total)
    return PolicyCounts(total, {"video": video, "image": total - video})


def step(
    samples: list[SampledRequest] | None,
    counts: PolicyCounts,
    previous: Mapping[str, TypeState] | None = None,
    in_force: Mapping[str, float] | None = None,
    config: PolicyConfig = CONFIG,
    unavailable: str | None = None,
) -> PolicyStep:
    by_policy = None if samples is None else {"default": samples}
    return predictive_control_step(
        {"default": config},
        {"default": counts},
        by_policy,
        {"default": previous or {}},
        {"default": in_force or {}},
        SETTINGS,
        unavailable=unavailable,
    )["default"]


def test_first_window_lands_on_target_with_the_prediction_and_reachable_range() -> None:
    samples = requests(400)
    s = step(samples, counts_at(samples, {})).types["video"]
    assert s.mode == "predictive" and s.fallback is None and s.samples == 400
    assert s.predicted_share == pytest.approx(0.1, abs=2 / (400 * 10))
    shares = model.predicted_shares(sample_model.prepare(samples, 10), {"video": s.u})
    assert shares["video"] == pytest.approx(0.1, abs=2 / (400 * 10))
    assert s.reachable is not None and s.reachable[0] < 0.1 < s.reachable[1]
    assert s.u < 0  # video starts near 20 %
    # A fallback to the PID would continue from this constant (bumpless).
    assert s.state.integral * GAINS.ki == pytest.approx(s.u)
    assert s.state.predictive is not None and s.state.predictive.target == (0.1, 0.1)


def test_feedback_removes_a_model_bias_without_undoing_the_solve() -> None:
    """Impressions show 80 % of the video the sample predicts (users stop scrolling):
    the solve aims higher so that what is *served* hits the target."""
    samples = requests(400, seed=1)
    s = step(samples, counts_at(samples, {}, factor=0.8)).types["video"]
    raw = model.predicted_shares(sample_model.prepare(samples, 10), {"video": s.u})["video"]
    assert raw == pytest.approx(0.1 / 0.8, rel=0.03)
    assert s.predicted_share == pytest.approx(0.1, rel=0.03)
    assert s.detail["bias"] == pytest.approx(math.log(0.8), abs=0.01)


def true_constant(population: list[SampledRequest]) -> float:
    return model.solve(
        sample_model.prepare(population, 10), {"video": (0.1, 0.1)}, (-5, 5)
    ).constants["video"]


def test_small_samples_land_near_the_populations_constant_and_follow_a_real_change() -> None:
    """Impressions come from all traffic (a large population here), samples are a
    small part of it: the bias measured on the same window cancels the sample's
    own error, and the filter keeps the constant steady from window to window."""
    population = requests(4000, seed=100)
    u_true = true_constant(population)
    first = step(requests(300, seed=2), counts_at(population, {}))
    u0 = first.types["video"].u
    assert u0 == pytest.approx(u_true, abs=0.02)
    again = step(
        requests(300, seed=3), counts_at(population, {"video": u0}), first.states, {"video": u0}
    )
    assert again.types["video"].u == pytest.approx(u_true, abs=0.02)
    # A ranking change: video scores up by 1. The very next constant follows it.
    shocked = requests(4000, seed=101, video_mean=-1.0)
    after = step(
        requests(300, seed=4, video_mean=-1.0),
        counts_at(shocked, {"video": u0}),
        first.states,
        {"video": u0},
    ).types["video"]
    assert after.u == pytest.approx(true_constant(shocked), abs=0.03)
    assert after.u < u0 - 0.5


@pytest.mark.parametrize(
    ("samples", "unavailable", "reason"),
    [
        (None, None, NO_SOURCE),
        (None, UNAVAILABLE, UNAVAILABLE),
        (requests(49), None, TOO_FEW_SAMPLES),
    ],
)
def test_without_enough_samples_the_pid_step_is_taken_and_says_why(
    samples: list[SampledRequest] | None, unavailable: str | None, reason: str
) -> None:
    counts = PolicyCounts(10_000, {"video": 2_000})
    prev = {
        "video": TypeState(1.0, None, 0.3, PredictiveState(level=0.3, bias=0.2, bias_seen=True))
    }
    s = step(samples, counts, prev, unavailable=unavailable).types["video"]
    pid = policy_step(CONFIG, counts, prev, min_impressions=1000).types["video"]
    assert (s.mode, s.fallback) == ("pid", reason)
    assert s.u == pid.u and s.error == pid.error and s.predicted_share is None
    assert s.samples == (0 if samples is None else len(samples))
    # The model's bias is kept for when samples return; the filter restarts.
    assert s.state.predictive == PredictiveState(level=None, bias=0.2, bias_seen=True)


def test_a_new_policy_is_solved_on_its_own_group_else_on_defaults_samples() -> None:
    window = WindowSamples(
        {
            "control": requests(200, seed=5),
            "heavy": requests(200, seed=6, video_mean=-1.5, group="heavy"),
        }
    )
    configs = {"default": CONFIG, "heavy": CONFIG}
    folded = samples_by_policy(window, configs, cap=150)
    assert {p: len(s) for p, s in folded.items()} == {"default": 150, "heavy": 150}
    assert {s.experiment_group for s in folded["heavy"]} == {"heavy"}
    counts = {"default": PolicyCounts(0), "heavy": PolicyCounts(0)}
    steps = predictive_control_step(configs, counts, folded, {}, {}, SETTINGS)
    # heavy's video scores are higher, so it needs a lower constant than default.
    assert steps["heavy"].types["video"].u < steps["default"].types["video"].u - 0.2
    alone = predictive_control_step(
        configs, counts, {"default": folded["default"]}, {}, {}, SETTINGS
    )
    assert alone["heavy"].types["video"].u == alone["default"].types["video"].u
    assert alone["heavy"].types["video"].mode == "predictive"


def test_an_unreachable_target_is_saturated_at_the_bound_with_its_range() -> None:
    samples = requests(300, seed=7)
    narrow = PolicyConfig({"video": 0.6}, GAINS, Bounds(-0.5, 0.5))
    s = step(samples, counts_at(samples, {}), config=narrow).types["video"]
    assert s.saturated == "upper" and s.u == 0.5
    assert s.reachable is not None and s.reachable[1] < 0.6


def test_the_filter_moves_part_way_within_the_noise_and_restarts_on_a_real_step() -> None:
    prev = PredictiveState(level=0.0, p_ll=1e-4, p_tt=1e-6)
    level, trend, *_ = filtered(prev, 0.01, 0.01, SETTINGS, restart=False)
    assert 0.0 < level < 0.01 and trend > 0
    assert filtered(prev, 0.5, 0.01, SETTINGS, restart=False)[:2] == (0.5, 0.0)
    assert filtered(prev, 0.01, 0.01, SETTINGS, restart=True)[:2] == (0.01, 0.0)


def test_groups_folded_into_a_policy_keep_their_proportions_when_a_reader_capped_one() -> None:
    """A reader kept 100 of 1,000 samples of ``control`` and all 100 of ``other``:
    folded into ``default`` they count 1,000 to 100, not 100 to 100."""
    window = WindowSamples(
        {"control": requests(100, seed=8), "other": requests(100, seed=9, group="other")},
        seen={"control": 1000},
    )
    folded = samples_by_policy(window, {"default": CONFIG}, cap=1000)["default"]
    groups = [s.experiment_group for s in folded]
    assert groups.count("control") == 100 and groups.count("other") == 10
