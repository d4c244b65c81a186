"""What a run publishes for range targets and the rate limit (pure parts of the runner)."""

from __future__ import annotations

import orjson

from pid_controller.runner import ControllerConfig, _diagnostics, policy_configs
from pid_controller.step import Bounds, Gains, PolicyCounts, control_step
from services.documents import ConstantsDocument, TargetsDocument, dump_document, parse_document
from services.intervals import Interval

TARGETS = {
    "schema": 1,
    "policies": {
        "default": {
            "targets": {"fresh": {"min": 0.10}, "idea": {"min": 0.2, "max": 0.3}, "video": 0.04},
            "bounds": {"max_step": 0.1},
        }
    },
}
CONFIG = ControllerConfig(
    interval=300, gains=Gains(0, 0.375), bounds=Bounds(-5, 5, 2.0), min_impressions=0, max_wait=0
)


def test_ranges_and_max_step_flow_from_the_document_into_the_diagnostics() -> None:
    configs = policy_configs(parse_document(TargetsDocument, orjson.dumps(TARGETS)), CONFIG)
    default = configs["default"]
    assert default.targets["idea"] == Interval(0.2, 0.3)
    assert default.bounds == Bounds(-5, 5, 0.1)  # the policy's max_step, the settings' bounds
    counts = {"default": PolicyCounts(1000, {"fresh": 20, "idea": 250, "video": 40})}
    steps = control_step(configs, counts, {}, min_impressions=0)
    diags = _diagnostics(steps)["default"]
    published = orjson.loads(
        dump_document(
            ConstantsDocument(generation=1, computed_at="x", diagnostics={"default": diags})
        )
    )["diagnostics"]["default"]
    assert published["idea"]["target"] == {"min": 0.2, "max": 0.3}
    assert published["idea"]["error"] == 0.0 and "rate_limited" not in published["idea"]
    assert published["fresh"]["target"] == {"min": 0.1}
    assert published["fresh"]["rate_limited"] is True  # ln(0.1/0.02) * 0.375 > 0.1
    assert steps["default"].constants["fresh"] == 0.1
    assert published["video"]["target"] == 0.04
