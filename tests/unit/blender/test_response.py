"""The 200 body, on both paths (candidates as their own result rows below
NUMPY_FROM, numpy's pick above): the general blend's order and floats, the
contract's fields and nothing else, a client's own ``blended_score`` ignored."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from blender.blend import FLOAT_MAX, NUMPY_FROM, ScoreSpace, apply_constants, offsets_for, rank
from blender.constants_source import StaticConstants
from blender.plan import Plans
from blender.request import parse_blend_request
from blender.response import blend_response, encode_response
from tests.unit.blender.helpers import cand, constants_doc

CONSTANTS = {"video": 1.0, "fresh": -0.5, "image": 0.0}
DOC = constants_doc({"default": CONSTANTS})
TYPES = ["video", "image", "fresh", "idea"]


def answer(body: dict[str, Any]) -> dict[str, Any]:
    plans = Plans(StaticConstants(DOC).snapshot).current()
    request = parse_blend_request(
        orjson.dumps(body), max_candidates=10_000, default_space="log", types=plans.blend
    )
    doc: dict[str, Any] = orjson.loads(
        encode_response(blend_response(request, plans.plan(request.group, request.space)))
    )
    return doc


@settings(max_examples=150, deadline=None)
@given(
    st.integers(0, 2 * NUMPY_FROM),
    st.integers(0, 2**32 - 1),
    st.none() | st.integers(0, 2 * NUMPY_FROM),
    st.sampled_from(["log", "linear"]),
    st.booleans(),
)
def test_results_are_the_general_blend_in_rank_order(
    n: int, seed: int, limit: int | None, space: ScoreSpace, explain: bool
) -> None:
    rng = np.random.default_rng(seed)
    # Few distinct values, so ties are common; huge ones saturate.
    pool = [0.5, 2.0, 3.0, 1e308] if space == "linear" else [-1e308, -2.0, 0.0, 0.5, 1e308]
    scores = rng.choice(np.array(pool), size=n)
    codes = rng.integers(0, len(TYPES), size=n)
    body: dict[str, Any] = {
        "candidates": [
            cand(i, TYPES[c], s)
            for i, (c, s) in enumerate(zip(codes.tolist(), scores.tolist(), strict=True))
        ],
        "limit": limit,
        "explain": explain,
        "score_space": space,
    }
    with np.errstate(over="ignore"):
        expected = apply_constants(scores, codes, offsets_for(TYPES, CONSTANTS), space)
    np.clip(expected, -FLOAT_MAX, FLOAT_MAX, out=expected)
    order = rank(expected, limit).tolist()
    rows = [
        {
            "id": f"p{i}",
            "content_type": TYPES[codes[i]],
            "score": float(scores[i]),
            "blended_score": float(expected[i]),
            **({"constant": CONSTANTS.get(TYPES[codes[i]], 0.0)} if explain else {}),
        }
        for i in order
    ]
    assert answer(body) == {"policy": "default", "constants_generation": 7, "results": rows}


@given(st.integers(1, 2 * NUMPY_FROM))
def test_a_clients_own_blended_score_is_ignored(n: int) -> None:
    candidates = [
        cand(i, "video", float(i)) | {"blended_score": ["any", {"json": None}]} for i in range(n)
    ]
    results = answer({"candidates": candidates, "limit": 3})["results"]
    # Scores 0 .. n-1, all video (+1.0): the best three are n, n-1, n-2.
    assert [r["blended_score"] for r in results] == [float(n - k) for k in range(min(n, 3))]
