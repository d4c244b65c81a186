"""What the law has learned, as the preview reads it from the controller's state."""

from __future__ import annotations

from pid_controller.learned import Learned, aimed, learned_of
from pid_controller.step import PredictiveState, TypeState


def test_the_depth_and_the_measured_biases_are_taken_from_the_state() -> None:
    previous = {
        "video": TypeState(u=0.3, predictive=PredictiveState(bias=0.1, bias_seen=True, depth=0.55)),
        "fresh": TypeState(u=-0.1, predictive=PredictiveState(bias=0.4, depth=0.55)),  # unseen
        "idea": TypeState(u=0.0),  # a PID-only step: nothing predictive
    }
    assert learned_of(previous) == Learned(0.55, {"video": 0.1})


def test_a_new_policy_has_learned_nothing() -> None:
    assert learned_of({}) == Learned()


def test_a_bias_scales_the_aim_and_a_share_stays_inside_zero_and_one() -> None:
    out = aimed({"video": (0.2, 0.3), "fresh": (0.9, 0.9)}, {"video": 0.0, "fresh": -1.0})
    assert out["video"] == (0.2, 0.3)
    assert 0.99 < out["fresh"][0] < 1.0
