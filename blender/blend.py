"""The blend math, pure and vectorised: no I/O, shared by the blender and the simulator.

A normalization constant ``u`` is a shadow price in log space: the blender adds
it to a log-space score (log-probability or logit), or, for a positive linear
score, multiplies by ``exp(u)``, which is the same thing before the log. Types
without a constant get 0, which leaves their scores unchanged in both spaces.

Two selections are offered over the same blended scores:

* :func:`rank` orders one request's candidates (descending, ties keep input
  order) and cuts to ``limit``: what ``POST /v1/blend`` returns.
* :func:`select_top` marks, for a batch of requests at once, which candidates
  make the first ``k`` slots under the same ordering rule: what the simulator
  counts as impressions. It is exact under ties too, so both agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt

ScoreSpace = Literal["log", "linear"]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


def offsets_for(type_names: Sequence[str], constants: Mapping[str, float]) -> FloatArray:
    """Constant per type index, 0 for a type the constants do not name."""
    return np.fromiter((constants.get(t, 0.0) for t in type_names), np.float64, len(type_names))


def apply_constants(
    scores: FloatArray, type_codes: IntArray, offsets: FloatArray, space: ScoreSpace
) -> FloatArray:
    """Blended scores: ``score + u`` in log space, ``score * exp(u)`` in linear space.

    ``type_codes`` index into ``offsets`` and may have any shape matching ``scores``.
    """
    u = offsets[type_codes]
    if space == "log":
        return scores + u
    return scores * np.exp(u)


def rank(blended: FloatArray, limit: int | None = None) -> IntArray:
    """Indices of a 1-D array by descending value; ties keep input order."""
    # Negating keeps equal values equal, so a stable ascending sort of -x is a
    # stable descending sort of x.
    order = np.argsort(-blended, kind="stable")
    return order if limit is None else order[:limit]


def select_top(blended: FloatArray, k: int) -> npt.NDArray[np.bool_]:
    """Per row of a 2-D array, mark the first ``k`` entries of :func:`rank`'s order.

    Uses a partition rather than a full sort: everything above the row's k-th
    largest value is in, and values equal to it fill the remaining slots in
    input order, which is exactly the stable order's choice.
    """
    rows, cols = blended.shape
    if k >= cols:
        return np.ones((rows, cols), dtype=bool)
    if k <= 0:
        return np.zeros((rows, cols), dtype=bool)
    kth = np.partition(blended, cols - k, axis=1)[:, cols - k][:, None]
    above = blended > kth
    room = k - above.sum(axis=1, keepdims=True)
    equal = blended == kth
    selected: npt.NDArray[np.bool_] = above | (equal & (np.cumsum(equal, axis=1) <= room))
    return selected


def rank_top(blended: FloatArray, limit: int | None = None) -> IntArray:
    """Exactly :func:`rank`'s result, faster when ``limit`` is well below the length.

    Below about a thousand entries a full stable sort is cheaper than the extra
    array passes (measured). Otherwise a partition finds the ``limit``-th largest
    value; everything above it is in, values equal to it fill the remaining places
    in input order (the stable order's choice), and only those ``limit`` indices
    are sorted.
    """
    n = blended.shape[0]
    if limit is None or n < 1000 or limit * 4 >= n:
        return rank(blended, limit)
    if limit <= 0:
        return np.empty(0, dtype=np.intp)
    kth = np.partition(blended, n - limit)[n - limit]
    above = np.flatnonzero(blended > kth)
    equal = np.flatnonzero(blended == kth)[: limit - above.size]
    chosen = np.sort(np.concatenate([above, equal]))
    ordered: IntArray = chosen[np.argsort(-blended[chosen], kind="stable")]
    return ordered
