"""A window's sampled candidate lists, prepared for the solve. Pure and vectorised.

In a request with ``k`` slots only each type's top ``k`` keys can ever be
shown, so a sample is held as ``keys[request, type, rank]`` (the key is the
score in log space, ``ln(score)`` in linear space; sorted, padded with -inf): a
few dozen numbers per request whatever the number of candidates
(:mod:`pid_controller.model` solves on it).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
import numpy.typing as npt

from services.samples import SampledRequest

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BLOCK_ENTRIES = 1 << 20  # candidates padded at once while preparing


@dataclass(frozen=True)
class SampleModel:
    """A prepared sample: per request and type, the top keys (descending, -inf padded)."""

    type_names: tuple[str, ...]
    keys: FloatArray  # (requests, types, depth)
    slots: IntArray  # (requests,) slots a request fills: min(slots, candidates)

    @property
    def requests(self) -> int:
        return int(self.keys.shape[0])

    @property
    def total_slots(self) -> int:
        return int(self.slots.sum())

    def index(self, type_name: str) -> int | None:
        try:
            return self.type_names.index(type_name)
        except ValueError:
            return None


def subsample(requests: Sequence[SampledRequest], cap: int, seed: int = 0) -> list[SampledRequest]:
    """At most ``cap`` requests, a uniform choice (order kept), so memory stays bounded."""
    if cap <= 0 or len(requests) <= cap:
        return list(requests)
    chosen = sorted(random.Random(seed).sample(range(len(requests)), cap))
    return [requests[i] for i in chosen]


def _keys_of(sample: SampledRequest) -> FloatArray:
    if sample.score_space == "linear":
        # A non-positive linear score (refused by the decoder) would never win a slot.
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = np.log(sample.scores)
        return np.where(sample.scores > 0, logs, -np.inf)
    return np.asarray(sample.scores, dtype=np.float64)


def prepare(
    samples: Sequence[SampledRequest], default_slots: int, type_names: Iterable[str] = ()
) -> SampleModel:
    """Hold ``samples`` as per-type top keys; ``slots`` None means ``default_slots``."""
    names = tuple(sorted(set(type_names).union(*(s.types for s in samples))))
    index = {n: i for i, n in enumerate(names)}
    lengths = np.fromiter((len(s.types) for s in samples), np.int64, len(samples))
    wanted = np.fromiter(
        (default_slots if s.slots is None else s.slots for s in samples), np.int64, len(samples)
    )
    slots = np.minimum(wanted, lengths)
    depth = int(slots.max()) if len(samples) else 0
    keys = np.full((len(samples), len(names), depth), -np.inf)
    if len(samples) == 0 or depth == 0:
        return SampleModel(names, keys, slots)
    every = chain.from_iterable(s.types for s in samples)
    codes = np.fromiter(map(index.__getitem__, every), np.int64, int(lengths.sum()))
    values = np.concatenate([_keys_of(s) for s in samples])
    ends = np.cumsum(lengths)
    rows_per_block = max(1, BLOCK_ENTRIES // max(1, int(lengths.max())))
    for first in range(0, len(samples), rows_per_block):
        last = min(len(samples), first + rows_per_block)
        begin = int(ends[first] - lengths[first])
        block = slice(begin, int(ends[last - 1]))
        _fill(keys[first:last], codes[block], values[block], lengths[first:last])
    return SampleModel(names, keys, slots)


def _fill(
    keys: FloatArray, codes: npt.NDArray[np.int64], values: FloatArray, lengths: IntArray
) -> None:
    """Per request and type of one block, the top ``depth`` keys, descending.

    Requests are padded to a rectangle so one sort per row groups each type's
    candidates, best first: the sort key is the type code plus the value
    rescaled to [0, 1) within its row (so any score range sorts the same).
    The kept keys are sorted again exactly, so rounding in the rescale can at
    worst swap two candidates a hair apart at the ``depth`` boundary.
    """
    rows, width, types, depth = len(lengths), int(lengths.max()), keys.shape[1], keys.shape[2]
    row = np.repeat(np.arange(rows), lengths)
    col = np.arange(codes.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    finite = np.isfinite(values)
    first = np.cumsum(lengths) - lengths
    present = lengths > 0
    low, high = np.full(rows, np.inf), np.full(rows, -np.inf)
    low[present] = np.minimum.reduceat(np.where(finite, values, np.inf), first[present])
    high[present] = np.maximum.reduceat(np.where(finite, values, -np.inf), first[present])
    span = np.where(high > low, high - low, 1.0)
    scaled = np.where(finite, (values - np.where(finite, low[row], 0.0)) / span[row], 0.0)
    sort_key = np.full((rows, width), np.inf)
    sort_key[row, col] = np.where(finite, codes * 2.0 + (1.0 - 0.999 * scaled), np.inf)
    grid = np.full((rows, width), -np.inf)
    code_grid = np.full((rows, width), types, dtype=np.int64)
    grid[row, col], code_grid[row, col] = values, np.where(finite, codes, types)
    order = np.argsort(sort_key, axis=1)
    ranked = np.take_along_axis(grid, order, axis=1)
    ranked_codes = np.take_along_axis(code_grid, order, axis=1)
    cell = ranked_codes + (types + 1) * np.arange(rows)[:, None]
    per_type = np.bincount(cell.ravel(), minlength=rows * (types + 1)).reshape(rows, types + 1)
    starts = np.cumsum(per_type, axis=1) - per_type
    rank = np.arange(width)[None, :] - np.take_along_axis(starts, ranked_codes, axis=1)
    keep = (ranked_codes < types) & (rank < depth)
    r_idx = np.nonzero(keep)[0]
    keys[r_idx, ranked_codes[keep], rank[keep]] = ranked[keep]
    keys[:] = -np.sort(-keys, axis=2)
