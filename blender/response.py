"""Turning a validated request and a constants snapshot into the blend response.

The math lives in :mod:`blender.blend` (shared with the simulator so both rank
identically); this module only gathers the request's columns for it and
lays the ranked candidates out in the contract's response shape.

The body is encoded from msgspec structs: building and encoding them costs
about two thirds of dicts through orjson (profiled), and at large candidate
counts without a limit the encoding is most of a request.
"""

from __future__ import annotations

import msgspec

from blender.blend import blend_and_rank
from blender.constants_source import Snapshot
from blender.request import BlendRequest


class Result(msgspec.Struct, gc=False):
    id: str
    content_type: str
    score: float
    blended_score: float


class ExplainedResult(msgspec.Struct, gc=False):
    id: str
    content_type: str
    score: float
    blended_score: float
    constant: float


class BlendResponse(msgspec.Struct, gc=False):
    policy: str
    constants_generation: int | None
    results: list[Result] | list[ExplainedResult]


_ENCODER = msgspec.json.Encoder()


def blend_response(request: BlendRequest, snapshot: Snapshot) -> BlendResponse:
    """The 200 body: policy, generation and results best first, cut to the limit."""
    policy = snapshot.policy_for(request.group)
    constants = snapshot.constants_for(policy)
    offsets = {name: float(constants.get(name, 0.0)) for name in request.type_names}
    order, values = blend_and_rank(
        request.score_list, request.types, offsets, request.space, request.limit
    )
    ranked = map(request.candidates.__getitem__, order)
    results: list[Result] | list[ExplainedResult]
    if request.explain:
        results = [
            ExplainedResult(c.id, c.content_type, c.score, v, offsets[c.content_type])
            for c, v in zip(ranked, values, strict=True)
        ]
    else:
        results = [
            Result(c.id, c.content_type, c.score, v) for c, v in zip(ranked, values, strict=True)
        ]
    return BlendResponse(policy, snapshot.generation, results)


def encode_response(response: BlendResponse) -> bytes:
    return _ENCODER.encode(response)
