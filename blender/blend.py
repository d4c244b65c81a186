"""The blend math, pure and vectorised: no I/O, shared by the blender and the simulator.

A normalization constant ``u`` is a shadow price in log space: the blender adds
it to a log-space score (log-probability or logit), or, for a positive linear
score, multiplies by ``exp(u)``, which is the same thing before the log. Types
without a constant get 0, which leaves their scores unchanged in both spaces.

Two selections are offered over the same blended scores:

* :func:`rank` orders one request's candidates (descending, ties keep input
  order) and cuts to ``limit``: what ``POST /v1/blend`` returns.
* :func:`blend_and_rank` does both for one request held as Python lists: the
  blend in plain Python (:func:`blend_one`), the ranking in Python for small
  requests (:func:`rank_list`), where numpy's per-call cost would dominate, and
  in numpy for large ones: the same IEEE operations on the same floats, so the
  same results.
* :func:`select_top` marks, for a batch of requests at once, which candidates
  make the first ``k`` slots under the same ordering rule: what the simulator
  counts as impressions. It is exact under ties too, so both agree.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import add, mul
from typing import Literal, TypeVar

import numpy as np
import numpy.typing as npt

ScoreSpace = Literal["log", "linear"]
T = TypeVar("T")
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
FLOAT_MAX = float(np.finfo(np.float64).max)
# Below this many candidates Python's sort beats numpy's per-call cost and the
# conversion of the list (measured: even at 128, numpy wins from about 250); above
# it numpy wins, by far at thousands.
NUMPY_FROM = 256


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
    order: IntArray = (-blended).argsort(kind="stable")  # the method skips np.argsort's wrapper
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

    With a limit of at most an eighth of the entries, a partition finds the
    ``limit``-th largest value, and only the entries at or above it, in input
    order, are sorted (stably) and cut to ``limit``: everything above it is in,
    and values equal to it come in input order, the stable order's choice. At 500
    entries and a limit of 50 that takes two thirds of a full stable sort's time
    (measured); nearer the length, the full sort is cheaper.
    """
    n = blended.shape[0]
    if limit is None or limit * 8 > n:
        return rank(blended, limit) if n < 1000 else _rank_unless_tied(blended, limit)
    if limit <= 0:
        return np.empty(0, dtype=np.intp)
    negated = -blended
    kth = np.partition(negated, limit - 1)[limit - 1]
    chosen = (negated <= kth).nonzero()[0]
    ordered: IntArray = chosen[negated[chosen].argsort(kind="stable")]
    return ordered[:limit]


def _rank_unless_tied(blended: FloatArray, limit: int | None) -> IntArray:
    """:func:`rank`'s result for finite values, through numpy's default sort (SIMD,
    not stable: about five times faster at thousands of entries, measured).

    Without ties the descending order is unique, so any sort finds it; equal
    values sit side by side once sorted, and if there are any the stable sort
    decides.
    """
    negated = -blended
    order: IntArray = negated.argsort()
    ranked = negated[order]
    if (ranked[1:] == ranked[:-1]).any():
        return rank(blended, limit)
    return order if limit is None else order[:limit]


def blend_and_rank(
    scores: list[float],
    types: list[str],
    offsets: Mapping[str, float],
    space: ScoreSpace,
    limit: int | None,
) -> tuple[list[int], list[float]]:
    """One request: the ranked indices (as :func:`rank`) and their blended scores.

    ``offsets`` holds the constant of every type in ``types``. The blend stays in
    Python lists (:func:`blend_one`): one float operation per candidate costs less
    than building arrays from them. Ranking goes to numpy from ``NUMPY_FROM``
    candidates (:func:`rank_blended`). The floats are those of
    :func:`apply_constants` (the same IEEE operations) and the order that of
    :func:`rank`; overflow saturates just below infinity, which JSON cannot carry,
    and keeps the order right.
    """
    blended = blend_one(scores, types, offsets, space)
    order = rank_blended(blended, limit)
    return order, list(map(blended.__getitem__, order))


def terms_for(offsets: Mapping[str, float], space: ScoreSpace) -> dict[str, float]:
    """Per type name, what its scores are combined with: the constant, added in log
    space, or ``exp`` of it, multiplied in linear space.

    The factors come from numpy's ``exp`` over an array, as in
    :func:`apply_constants`, so that every path multiplies by the same bits.
    """
    if space == "log":
        return dict(offsets)
    names = list(offsets)
    with np.errstate(over="ignore"):
        exps = np.exp(np.fromiter(offsets.values(), np.float64, len(names))).tolist()
    return dict(zip(names, exps, strict=True))


def blend_one(
    scores: list[float], types: list[str], offsets: Mapping[str, float], space: ScoreSpace
) -> list[float]:
    """:func:`apply_constants` for one request as lists; ``offsets`` by type name."""
    terms = terms_for(offsets, space)
    combine = add if space == "log" else mul
    return saturate(list(map(combine, scores, map(terms.__getitem__, types))))


def saturate(blended: list[float]) -> list[float]:
    """``blended`` with infinities (only from absurd inputs: a huge score and a huge
    constant) brought just inside the finite range, which JSON can carry; the order
    stays right."""
    # A sum is cheap and turns any infinity into inf or nan (overflowing by itself
    # only sends us to the exact pass, which then changes nothing).
    if math.isfinite(sum(blended)):
        return blended
    return [min(max(v, -FLOAT_MAX), FLOAT_MAX) for v in blended]


def rank_blended(blended: list[float], limit: int | None = None) -> list[int]:
    """:func:`rank`'s order for a list: Python's sort below ``NUMPY_FROM`` entries,
    where numpy's per-call cost would dominate, numpy's (:func:`rank_top`) above."""
    if len(blended) < NUMPY_FROM:
        return rank_list(blended, limit)
    n = len(blended)
    # Packing the floats is about three times faster than np.fromiter or np.array
    # (measured); the buffer holds the very same doubles.
    values = np.frombuffer(struct.pack(f"{n}d", *blended), np.float64, n)
    ranked: list[int] = rank_top(values, limit).tolist()
    return ranked


def rank_list(blended: list[float], limit: int | None = None) -> list[int]:
    """Exactly :func:`rank`'s order for a list: descending, ties in input order."""
    return rank_by(range(len(blended)), blended.__getitem__, limit)


def rank_by(items: Iterable[T], value: Callable[[T], float], limit: int | None = None) -> list[T]:
    """``items`` in :func:`rank`'s order of their blended ``value``: descending, ties
    in input order (Python's sort is stable also with ``reverse=True``).

    A full sort, even for a small limit: ``heapq.nlargest`` took several times
    longer at a few hundred entries (measured), and beyond that
    :func:`rank_blended` uses numpy. Sorting the items themselves, not their
    indices, spares the caller a lookup per result.
    """
    ranked = sorted(items, key=value, reverse=True)
    return ranked if limit is None else ranked[:limit]
