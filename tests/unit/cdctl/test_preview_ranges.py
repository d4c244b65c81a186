"""``cdctl targets preview`` with range targets: solved as the controller solves them."""

from __future__ import annotations

import numpy as np
import orjson

from cdctl.preview import merged_targets, preview
from services.documents import TargetsDocument, parse_document
from services.samples import SampledRequest, WindowSamples
from services.settings import ControllerSettings, load
from services.target_edits import parse_assignments


def _window(n: int = 400, seed: int = 3) -> WindowSamples:
    rng = np.random.default_rng(seed)
    requests = []
    for i in range(n):
        types = tuple(rng.choice(["video", "image", "fresh"], size=60, p=[0.3, 0.5, 0.2]))
        requests.append(
            SampledRequest(i, "control", "default", "log", 10, types, rng.normal(-2, 1, 60))
        )
    return WindowSamples(by_group={"control": requests})


def _solve(*args: str) -> dict[str, float]:
    empty = parse_document(TargetsDocument, orjson.dumps({"schema": 1, "policies": {}}))
    doc = merged_targets(empty, "default", parse_assignments(list(args)))
    settings = load(ControllerSettings)
    p = preview(doc, "default", _window(), (0, 3600), settings)
    return {**p.solution.constants, **{f"{k}%": v for k, v in p.solution.predicted.items()}}


def test_a_range_holding_the_share_needs_no_constant_and_outside_one_is_solved_to_its_bound() -> (
    None
):
    inside = _solve("video=0.2..0.4")  # about 30 % without any constant
    assert inside["video"] == 0.0
    below = _solve("video>=0.45")
    assert below["video"] > 0 and abs(below["video%"] - 0.45) < 0.01
    above = _solve("video<=0.2")
    assert above["video"] < 0 and abs(above["video%"] - 0.2) < 0.01
