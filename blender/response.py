"""Turning a validated request and a constants snapshot into the blend response.

The math lives in :mod:`blender.blend` (shared with the simulator so both rank
identically); this module only gathers the request's columns for it and
lays the ranked candidates out in the contract's response shape.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from blender.blend import apply_constants, offsets_for, rank_top
from blender.constants_source import Snapshot
from blender.request import BlendRequest

FLOAT_MAX = float(np.finfo(np.float64).max)


def blend_response(request: BlendRequest, snapshot: Snapshot) -> dict[str, Any]:
    """The 200 body: policy, generation and results best first, cut to the limit."""
    policy = snapshot.policy_for(request.group)
    offsets = offsets_for(request.type_names, snapshot.constants_for(policy))
    with np.errstate(over="ignore"):  # overflow saturates just below, not warned about
        blended = apply_constants(request.scores, request.type_codes, offsets, request.space)
    # Only absurd inputs overflow (a huge score and a huge constant). JSON has no
    # infinity, and refusing a request its schema allows would be worse than
    # saturating: the order stays right, and ties keep input order as always.
    if not np.isfinite(blended).all():
        np.clip(blended, -FLOAT_MAX, FLOAT_MAX, out=blended)
    order = rank_top(blended, request.limit)
    ranked = map(request.candidates.__getitem__, order.tolist())
    values = blended[order].tolist()
    if request.explain:
        used = offsets[request.type_codes[order]].tolist()
        results = [
            {
                "id": c.id,
                "content_type": c.content_type,
                "score": c.score,
                "blended_score": v,
                "constant": u,
            }
            for c, v, u in zip(ranked, values, used, strict=True)
        ]
    else:
        results = [
            {"id": c.id, "content_type": c.content_type, "score": c.score, "blended_score": v}
            for c, v in zip(ranked, values, strict=True)
        ]
    return {"policy": policy, "constants_generation": snapshot.generation, "results": results}
