"""Candidate samples (contract section 10): one sampled blend request, as published.

One definition for every producer and reader: the blender encodes what it
served, the controller and ``cdctl targets preview`` decode what they read, and
the simulator builds the same objects in process. Decoding is strict: a record
that is not exactly such an object raises :class:`InvalidInputError` naming
the field, so a reader can skip and count it instead of solving on garbage.

Scores are kept raw (before any constant): the model re-applies candidate
constants itself, so a sample stays useful whatever constants were in force.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import numpy as np
import numpy.typing as npt
import orjson

from services.errors import InvalidInputError, UpstreamError
from services.names import check_name

ScoreSpace = Literal["log", "linear"]
SCORE_SPACES: tuple[ScoreSpace, ...] = ("log", "linear")


@dataclass(frozen=True, slots=True)
class SampledRequest:
    """One request's candidates as parallel arrays: ``types[i]`` scored ``scores[i]``."""

    ts_ms: int
    experiment_group: str
    policy: str
    score_space: ScoreSpace
    slots: int | None
    types: tuple[str, ...]
    scores: npt.NDArray[np.float64]

    def to_json(self) -> dict[str, Any]:
        return {
            "ts": self.ts_ms,
            "experiment_group": self.experiment_group,
            "policy": self.policy,
            "score_space": self.score_space,
            "slots": self.slots,
            "types": list(self.types),
            "scores": self.scores.tolist(),
        }


@dataclass(slots=True)
class WindowSamples:
    """What a reader found for one window: samples by experiment group, and the garbage.

    Grouped by experiment group, not by the policy the blender stamped: a group
    that becomes a policy is solved on its own traffic from its first window,
    even though the blender served it under ``default`` until then. The
    controller folds groups into policies with the targets it holds.
    """

    by_group: dict[str, list[SampledRequest]] = field(default_factory=dict)
    skipped: int = 0  # records that were not samples (counted, never fatal)
    # Samples of the window per group before a reader's cap (a group absent here
    # was not capped: its list is all there was). Folding capped groups into one
    # policy must weight each by this, or a small group would be over-represented.
    seen: dict[str, int] = field(default_factory=dict)


class SamplesUnavailableError(UpstreamError):
    """The samples topic is missing or cannot be read: the controller falls back to PID."""


def encode_sample(sample: SampledRequest) -> bytes:
    """The record value published to the samples topic (its key is the policy)."""
    return orjson.dumps(sample.to_json())


def decode_sample(raw: bytes | str) -> SampledRequest:
    """Parse one record value; raise :class:`InvalidInputError` naming the bad field."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInputError("", f"not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise InvalidInputError("", f"must be a JSON object, got {type(doc).__name__}")
    ts = doc.get("ts")
    if not isinstance(ts, int) or isinstance(ts, bool) or ts < 0:
        raise InvalidInputError("ts", "must be a non-negative integer (epoch milliseconds)")
    space = doc.get("score_space", "log")
    if space not in SCORE_SPACES:
        raise InvalidInputError("score_space", f"must be one of {', '.join(SCORE_SPACES)}")
    types, scores = _candidates(doc.get("types"), doc.get("scores"), space)
    return SampledRequest(
        ts_ms=ts,
        experiment_group=check_name(doc.get("experiment_group", "default"), "experiment_group"),
        policy=check_name(doc.get("policy"), "policy"),
        score_space=space,
        slots=_slots(doc.get("slots")),
        types=types,
        scores=scores,
    )


def _slots(value: object) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidInputError("slots", "must be a positive integer or null")
    return value


def _names(types: list[object]) -> tuple[str, ...]:
    """The content types, each distinct name checked once and kept as one string.

    A controller holds up to ``CD_CONTROLLER_SAMPLE_CAP`` samples per group of
    hundreds of candidates but a handful of types; a string per candidate, as the
    parser hands them out, was about a third of that memory
    (``python -m bench.controller_memory``).
    """
    shared: dict[str, str] = {}
    for i, t in enumerate(types):
        if not (isinstance(t, str) and t in shared):
            name = check_name(t, f"types[{i}]")
            shared[name] = name
    return tuple(map(shared.__getitem__, cast(list[str], types)))  # every one checked


def _candidates(
    types: object, scores: object, space: ScoreSpace
) -> tuple[tuple[str, ...], npt.NDArray[np.float64]]:
    if not isinstance(types, list) or not types:
        raise InvalidInputError("types", "must be a non-empty array of content types")
    if not isinstance(scores, list) or len(scores) != len(types):
        raise InvalidInputError("scores", "must be an array as long as types")
    names = _names(types)
    for i, s in enumerate(scores):
        if not isinstance(s, int | float) or isinstance(s, bool) or not math.isfinite(s):
            raise InvalidInputError(f"scores[{i}]", "must be a finite number")
        if space == "linear" and s <= 0:
            raise InvalidInputError(f"scores[{i}]", "must be positive in linear score space")
    return names, np.asarray(scores, dtype=np.float64)
