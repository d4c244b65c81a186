"""The blend path's per-snapshot plans: the same results and refusals as the general
path, constants swapped with the snapshot, learned names bounded and valid."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blender import plan as plan_module
from blender.blend import ScoreSpace, blend_one
from blender.constants_source import Snapshot, StaticConstants
from blender.plan import Plans
from blender.request import BlendRequest, BodyDecoder, parse_blend_request
from services.errors import InvalidInputError
from tests.unit.blender.helpers import cand, constants_doc

DOC = constants_doc({"default": {"video": 1.0, "fresh": -0.5}, "video_heavy": {"video": 2.0}})
TYPES = ["video", "image", "fresh", "idea"]


# Learns the types over the examples: early ones decode plainly, later ones by name.
DECODER = BodyDecoder()


def parse(body: dict[str, Any], plans: Plans | None = None) -> BlendRequest:
    data = orjson.dumps(body)
    if plans is None:
        return parse_blend_request(data, max_candidates=100, default_space="log")
    return parse_blend_request(
        data, max_candidates=100, default_space="log", types=plans.current().blend, decoder=DECODER
    )


@settings(max_examples=200)
@given(
    st.lists(
        st.tuples(st.sampled_from(TYPES), st.sampled_from([-1e308, -2.0, 0.0, 0.5, 3.0, 1e308])),
        max_size=30,
    ),
    st.sampled_from(["log", "linear"]),
    st.sampled_from([None, "control", "video_heavy"]),
)
def test_plan_blend_equals_the_general_blend(
    items: list[tuple[str, float]], space: ScoreSpace, group: str | None
) -> None:
    if space == "linear":
        items = [(t, abs(s) or 1.0) for t, s in items]
    body = {
        "candidates": [cand(i, t, s) for i, (t, s) in enumerate(items)],
        "score_space": space,
        "experiment_group": group,
    }
    plans = Plans(StaticConstants(DOC).snapshot)
    request = parse(body, plans)
    constants = DOC.constants_for(group if group in DOC.policies else "default")
    offsets = {t: constants.get(t, 0.0) for t in request.type_names}
    assert request.blended == blend_one(request.score_list, request.types, offsets, space)


def test_a_new_snapshot_swaps_the_constants() -> None:
    current = [Snapshot(ready=True).with_doc(DOC, "zookeeper")]
    plans = Plans(lambda: current[0])
    body = {"candidates": [cand(0, "video", 0.0)]}
    assert parse(body, plans).blended == [1.0]
    newer = constants_doc({"default": {"video": 0.25}}, generation=8)
    current[0] = current[0].with_doc(newer, "zookeeper")
    assert parse(body, plans).blended == [0.25]
    assert plans.current().plan(None, "log").generation == 8


@pytest.mark.parametrize(
    "body",
    [
        {"candidates": [cand(0, "video", 1), cand(1, "Bad", 1)]},
        {"candidates": [cand(0, "video", -1), cand(1, "Bad", 1)], "score_space": "linear"},
        {"candidates": [cand(0, "Bad", 1)], "ts": 1.5},
        {"candidates": [cand(0, "video", 1)], "ts": -1},
        {"candidates": [cand(0, "video", 1)], "experiment_group": "Bad", "limit": -1},
    ],
)
def test_refusals_are_those_of_the_plain_type_check(body: dict[str, Any]) -> None:
    """Also which problem a request with several is refused for."""
    plans = Plans(StaticConstants(DOC).snapshot)
    for _ in range(2):  # the second time with whatever names the first one taught
        with pytest.raises(InvalidInputError) as plain:
            parse(body)
        with pytest.raises(InvalidInputError) as planned:
            parse(body, plans)
        assert str(planned.value) == str(plain.value)
    assert "Bad" not in plans.current().plan(None, "log").terms


def test_learned_names_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plan_module, "MAX_NAMES", 3)
    plans = Plans(StaticConstants(DOC).snapshot)
    for round_ in range(3):
        names = [f"t{round_}a", f"t{round_}b", "video"]
        body = {"candidates": [cand(i, t, 0.5) for i, t in enumerate(names)]}
        assert parse(body, plans).blended == [0.5, 0.5, 1.5]
    assert len(plans.current().plan(None, "log").terms) <= 3
