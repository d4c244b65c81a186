"""Turning a validated request and a constants snapshot into the blend response.

The math lives in :mod:`blender.blend` (shared with the simulator so both rank
identically) and :mod:`blender.plan` (the blend with the snapshot's constants);
this module ranks and lays the ranked candidates out in the contract's shape.

The body is encoded from msgspec structs: building and encoding them costs
about two thirds of dicts through orjson (profiled), and at large candidate
counts without a limit the encoding is most of a request.
"""

from __future__ import annotations

from operator import attrgetter

import msgspec

from blender.blend import NUMPY_FROM, rank_blended, rank_by
from blender.plan import Plan
from blender.request import BlendRequest, Candidate


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
    results: list[Result] | list[ExplainedResult] | list[Candidate]


_ENCODER = msgspec.json.Encoder()
_BLENDED = attrgetter("blended_score")


def _ranked(
    cs: list[Candidate], blended: list[float], limit: int | None
) -> list[Candidate] | list[Result]:
    """The results, best first: below NUMPY_FROM the candidates themselves (their
    ``blended_score`` set), above it new rows for the ``limit`` that numpy picks."""
    if len(cs) < NUMPY_FROM:
        for c, value in zip(cs, blended, strict=True):
            c.blended_score = value
        return rank_by(cs, _BLENDED, limit)
    order = rank_blended(blended, limit)
    return [Result((c := cs[i]).id, c.content_type, c.score, blended[i]) for i in order]


def blend_response(request: BlendRequest, plan: Plan) -> BlendResponse:
    """The 200 body: policy, generation and results best first, cut to the limit."""
    blended = request.blended
    if blended is None:  # parsed with the plain type check
        blended = plan.blend(request)
    cs = request.candidates
    results: list[Result] | list[ExplainedResult] | list[Candidate]
    if request.explain:
        order = rank_blended(blended, request.limit)
        results = [
            ExplainedResult(
                (c := cs[i]).id, c.content_type, c.score, blended[i], plan.constant(c.content_type)
            )
            for i in order
        ]
    else:
        results = _ranked(cs, blended, request.limit)
    return BlendResponse(plan.policy, plan.generation, results)


def encode_response(response: BlendResponse) -> bytes:
    return _ENCODER.encode(response)
