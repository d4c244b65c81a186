"""Turning a validated request and a constants snapshot into the blend response.

The math lives in :mod:`blender.blend` (shared with the simulator so both rank
identically) and :mod:`blender.plan` (the blend with the snapshot's constants);
this module ranks and lays the ranked candidates out in the contract's shape.

The body is encoded from msgspec structs: building and encoding them costs
about two thirds of dicts through orjson (profiled), and at large candidate
counts without a limit the encoding is most of a request.
"""

from __future__ import annotations

import msgspec

from blender.blend import rank_blended
from blender.plan import Plan
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


def blend_response(request: BlendRequest, plan: Plan) -> BlendResponse:
    """The 200 body: policy, generation and results best first, cut to the limit."""
    blended = request.blended
    if blended is None:  # parsed with the plain type check
        blended = plan.blend(request)
    order = rank_blended(blended, request.limit)
    cs = request.candidates
    results: list[Result] | list[ExplainedResult]
    if request.explain:
        results = [
            ExplainedResult(
                (c := cs[i]).id, c.content_type, c.score, blended[i], plan.constant(c.content_type)
            )
            for i in order
        ]
    else:
        results = [Result((c := cs[i]).id, c.content_type, c.score, blended[i]) for i in order]
    return BlendResponse(plan.policy, plan.generation, results)


def encode_response(response: BlendResponse) -> bytes:
    return _ENCODER.encode(response)
