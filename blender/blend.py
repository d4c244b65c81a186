"""The blend math, pure and vectorised: no I/O, shared by the blender and the simulator.

A normalization constant ``u`` is a shadow price in log space: the blender adds
it to a log-space score (log-probability or logit), or, for a positive linear
score, multiplies by ``exp(u)``, which is the same thing before the log. Types
without a constant get 0, which leaves their scores unchanged in both spaces.

Two selections are offered over the same blended scores:

* :func:`rank` orders one request's candidates (descending, ties keep input
  order) and cuts to ``limit``: what ``POST /v1/blend`` returns.
* :func:`blend_and_rank` does both for one request held as Python lists, in
  numpy for large requests and in plain Python (:func:`blend_one`,
  :func:`rank_list`) for small ones, where numpy's per-call cost would dominate:
  the same IEEE operations on the same floats, so the same results.
* :func:`select_top` marks, for a batch of requests at once, which candidates
  make the first ``k`` slots under the same ordering rule: what the simulator
  counts as impressions. It is exact under ties too, so both agree.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from operator import add, mul
from typing import Literal

import numpy as np
import numpy.typing as npt

ScoreSpace = Literal["log", "linear"]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
FLOAT_MAX = float(np.finfo(np.float64).max)
# Below this many candidates Python's list operations beat numpy's per-call cost
# and conversions (measured); above it numpy wins, by far at thousands.
NUMPY_FROM = 128


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


def blend_and_rank(
    scores: list[float],
    types: list[str],
    offsets: Mapping[str, float],
    space: ScoreSpace,
    limit: int | None,
) -> tuple[list[int], list[float]]:
    """One request: the ranked indices (as :func:`rank`) and their blended scores.

    ``offsets`` holds the constant of every type in ``types``. Small requests stay in
    Python lists (:func:`blend_one`, :func:`rank_list`); larger ones go through
    :func:`apply_constants` and :func:`rank_top`. Both give the same floats (the
    same IEEE operations) and the same order; overflow saturates just below
    infinity, which JSON cannot carry, and keeps the order right.
    """
    n = len(scores)
    if n < NUMPY_FROM:
        blended = blend_one(scores, types, offsets, space)
        order = rank_list(blended, limit)
        return order, list(map(blended.__getitem__, order))
    index = {name: code for code, name in enumerate(offsets)}
    codes = np.fromiter(map(index.__getitem__, types), np.intp, n)
    table = np.fromiter(offsets.values(), np.float64, len(index))
    with np.errstate(over="ignore"):
        values = apply_constants(np.array(scores, dtype=np.float64), codes, table, space)
    if not np.isfinite(values).all():
        np.clip(values, -FLOAT_MAX, FLOAT_MAX, out=values)
    ranked = rank_top(values, limit)
    return ranked.tolist(), values[ranked].tolist()


def blend_one(
    scores: list[float], types: list[str], offsets: Mapping[str, float], space: ScoreSpace
) -> list[float]:
    """:func:`apply_constants` for one request as lists; ``offsets`` by type name.

    Linear space multiplies by numpy's ``exp`` of each constant, so the factors,
    and with them the products, are bit for bit those of :func:`apply_constants`.
    Overflow (only from absurd inputs: a huge score and a huge constant) saturates
    just below infinity, which JSON cannot carry; the order stays right.
    """
    if space == "log":
        blended = list(map(add, scores, map(offsets.__getitem__, types)))
    else:
        names = list(offsets)
        with np.errstate(over="ignore"):
            exps = np.exp(np.fromiter(offsets.values(), np.float64, len(names))).tolist()
        factors = dict(zip(names, exps, strict=True))
        blended = list(map(mul, scores, map(factors.__getitem__, types)))
    # A sum is cheap and turns any infinity into inf or nan (overflowing by itself
    # only sends us to the exact check).
    if not math.isfinite(sum(blended)):
        blended = [min(max(v, -FLOAT_MAX), FLOAT_MAX) for v in blended]
    return blended


def rank_list(blended: list[float], limit: int | None = None) -> list[int]:
    """Exactly :func:`rank`'s order for a list: descending, ties in input order.

    Python's sort is stable also with ``reverse=True``, and ``heapq.nlargest`` is
    documented as ``sorted(..., reverse=True)[:n]``.
    """
    n = len(blended)
    if limit is not None and limit * 4 < n:
        return heapq.nlargest(limit, range(n), key=blended.__getitem__)
    order = sorted(range(n), key=blended.__getitem__, reverse=True)
    return order if limit is None else order[:limit]
