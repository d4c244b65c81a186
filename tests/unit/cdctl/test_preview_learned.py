"""``cdctl targets preview`` predicts the shares as they will be measured: with the view
depth and the biases the controller has learned (pid_controller/learned.py)."""

from __future__ import annotations

import math

import numpy as np
import orjson

from blender.blend import rank
from cdctl.preview import as_json, merged_targets, preview
from pid_controller.learned import Learned
from services.documents import TargetsDocument, parse_document
from services.samples import SampledRequest, WindowSamples
from services.settings import ControllerSettings, load
from services.target_edits import parse_assignments

SLOTS = 10


def _window(n: int = 600, seed: int = 5) -> WindowSamples:
    # Video scores high or not at all: the top of a list holds more video than the
    # whole list, so a preview of the whole list misjudges what shallow users see.
    rng = np.random.default_rng(seed)
    requests = []
    for i in range(n):
        types = tuple(rng.choice(["video", "image", "fresh"], size=40, p=[0.2, 0.6, 0.2]))
        scores = rng.normal(-2.0, 1.0, 40) + np.array([1.0 if t == "video" else 0.0 for t in types])
        requests.append(SampledRequest(i, "control", "default", "log", SLOTS, types, scores))
    return WindowSamples(by_group={"control": requests})


def _preview(known: Learned, target: str = "video=0.3") -> tuple[float, float]:
    empty = parse_document(TargetsDocument, orjson.dumps({"schema": 1, "policies": {}}))
    doc = merged_targets(empty, "default", parse_assignments([target]))
    p = preview(doc, "default", _window(), (0, 3600), load(ControllerSettings), known)
    return p.solution.constants["video"], p.solution.predicted["video"]


def _seen_share(constant: float, seen: int) -> float:
    """Video's share of the first ``seen`` slots once the sample is blended with ``constant``."""
    shown = total = 0
    for r in _window().by_group["control"]:
        blended = r.scores + np.array([constant if t == "video" else 0.0 for t in r.types])
        top = rank(blended, seen)
        shown += sum(r.types[i] == "video" for i in top)
        total += len(top)
    return shown / total


def test_with_nothing_learned_the_preview_predicts_the_whole_list() -> None:
    u, predicted = _preview(Learned())
    assert abs(predicted - 0.3) < 0.01
    assert abs(_seen_share(u, SLOTS) - 0.3) < 0.01


def test_with_users_seeing_half_the_slots_the_constant_is_solved_for_those() -> None:
    u, predicted = _preview(Learned(depth=0.5))
    whole, _ = _preview(Learned())
    assert abs(predicted - 0.3) < 0.01
    assert abs(_seen_share(u, SLOTS // 2) - 0.3) < 0.01
    assert abs(_seen_share(whole, SLOTS // 2) - 0.3) > 0.03  # what ignoring it would miss


def test_a_learned_bias_aims_the_sample_below_the_target_and_reports_the_target() -> None:
    bias = math.log(1.2)  # the controller measures 20% more video than the sample predicts
    u, predicted = _preview(Learned(bias={"video": bias}))
    assert abs(predicted - 0.3) < 0.01
    assert abs(_seen_share(u, SLOTS) - 0.3 / 1.2) < 0.01


def test_the_json_names_what_was_learned() -> None:
    empty = parse_document(TargetsDocument, orjson.dumps({"schema": 1, "policies": {}}))
    doc = merged_targets(empty, "default", parse_assignments(["video=0.3"]))
    known = Learned(depth=0.5, bias={"video": 0.1})
    out = as_json(preview(doc, "default", _window(), (0, 3600), load(ControllerSettings), known))
    assert out["seen_fraction"] == 0.5 and out["bias"] == {"video": 0.1}
