"""Decoding and validating a ``POST /v1/blend`` body (contract section 6).

msgspec decodes straight into typed structs, in C, so parsing stays a small
part of a request even at thousands of candidates; pydantic models per
candidate would dominate. What msgspec cannot check cheaply per item (names,
finiteness, sign) is checked once per distinct value or vectorised. Every
refusal is an :class:`InvalidInputError` naming the field, with the candidate
index, in the contract's own path style: ``candidates[3].score``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args

import msgspec
import numpy as np

from blender.blend import FloatArray, IntArray, ScoreSpace
from services.errors import InvalidInputError
from services.names import NAME_RE, check_name

NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]


class Candidate(msgspec.Struct, gc=False):
    """One candidate as decoded, and below :data:`blender.blend.NUMPY_FROM` also its
    own result row: the response sets ``blended_score`` and encodes the ranked
    candidates as they are (:mod:`blender.response`), since building a result per
    candidate cost more than the blend itself at tens of candidates (measured).
    """

    id: NonEmpty
    content_type: str
    score: float
    # Any, not float: a client's own "blended_score" stays an ignored extra field
    # (whatever its type) and is overwritten before the candidate is encoded.
    blended_score: Any = None


class _Body(msgspec.Struct, gc=False):
    candidates: list[Candidate]
    experiment_group: str | None = None
    # Floats are let through here so an integral 3.0 (an "integer" to JSON Schema)
    # is accepted; _limit() refuses anything else.
    limit: int | float | None = None
    explain: bool = False
    score_space: Literal["log", "linear"] | None = None
    # Candidate sampling (README): the caller's own decision and the request's time.
    sample: bool | None = None
    ts: int | float | None = None  # floats let through as for limit; _ts() checks


_DECODER = msgspec.json.Decoder(_Body)
_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_MISSING = re.compile(r"^Object missing required field `(?P<name>[^`]+)`$")


@dataclass(slots=True)  # not frozen: its __init__ costs a microsecond more per request
class BlendRequest:
    """A validated request, its candidates as msgspec decoded them.

    The columns (scores, types) are computed on demand: the blend path reads the
    candidates once (:mod:`blender.plan`), and only a sampled request needs them.
    """

    group: str | None
    limit: int | None
    explain: bool
    space: ScoreSpace
    candidates: list[Candidate]
    sample: bool | None = None  # None: the blender's uniform sampling decides
    ts_ms: int | None = None  # None: the blender's clock stamps the sample
    # Set by a blend that checked the content types on the way (see parse_blend_request).
    blended: list[float] | None = None

    @property
    def score_list(self) -> list[float]:
        return [c.score for c in self.candidates]

    @property
    def types(self) -> list[str]:
        """Per candidate, its content type."""
        return [c.content_type for c in self.candidates]

    @property
    def type_names(self) -> list[str]:
        """The distinct content types, in order of first appearance."""
        return list(dict.fromkeys(self.types))

    @property
    def scores(self) -> FloatArray:
        return np.array(self.score_list, dtype=np.float64)

    @property
    def type_codes(self) -> IntArray:
        """Per candidate, an index into ``type_names``."""
        index = {name: code for code, name in enumerate(self.type_names)}
        return np.fromiter(map(index.__getitem__, self.types), np.intp, len(self.candidates))


def _translate(exc: msgspec.ValidationError) -> InvalidInputError:
    match = _AT.match(str(exc))
    assert match is not None  # the pattern matches any string
    message, path = match["msg"], (match["path"] or "").lstrip(".")
    missing = _MISSING.match(message)
    if missing:
        field = f"{path}.{missing['name']}" if path else missing["name"]
        return InvalidInputError(field, "required field is missing")
    if message == "Number out of range":
        return InvalidInputError(path or "body", "must be a finite number")
    return InvalidInputError(path or "body", message[:1].lower() + message[1:])


def _decode(body: bytes) -> _Body:
    try:
        return _DECODER.decode(body)
    except msgspec.ValidationError as exc:
        raise _translate(exc) from exc
    except msgspec.DecodeError as exc:
        # NaN and Infinity literals land here too: they are not JSON.
        raise InvalidInputError("body", f"not valid JSON: {exc}") from exc


# Content types a BodyDecoder knows by name: bounded, so that a client sending ever
# new names cannot make it rebuild its decoder on every request.
MAX_KNOWN_TYPES = 64


class BodyDecoder:
    """Decodes a body with the content types seen valid so far as a ``Literal``.

    msgspec then hands out the one string it holds for each name instead of a new
    string per candidate: the blend's look-up of each candidate's constant finds its
    hash cached and its key by identity, and no string is made or freed per
    candidate (about 5% of a request's instructions at 500 candidates, measured with
    ``bench.blender_instructions``). A body with a name it does not know yet, or a
    bad one, goes to the plain decoder, which accepts every name and words the
    errors; the names of a request that passed all checks are learnt for the next.
    """

    def __init__(self) -> None:
        self.names: tuple[str, ...] = ()
        self._known: msgspec.json.Decoder[_Body] | None = None

    def decode(self, body: bytes) -> tuple[_Body, bool]:
        """The body, and whether every content type in it was a known name."""
        if self._known is not None:
            try:
                return self._known.decode(body), True
            except msgspec.MsgspecError:
                pass  # a new name, or a bad body: the plain decoder decides
        return _decode(body), False

    def learn(self, names: list[str]) -> None:
        """Know ``names`` (valid ones) from the next request on, within the bound."""
        new = [name for name in names if name not in self.names]
        if not new or len(self.names) + len(new) > MAX_KNOWN_TYPES:
            return
        # Types made at run time, from names known only then: typed Any for mypy.
        literal: Any = Literal
        sequence: Any = list
        known = literal[(*self.names, *new)]
        # typing caches a Literal by its values: an equal one made before (another
        # endpoint's) holds its own strings, and those are the ones msgspec hands out.
        self.names = get_args(known)
        candidate = msgspec.defstruct(
            "KnownCandidate", [("content_type", known)], bases=(Candidate,), gc=False
        )
        body = msgspec.defstruct(
            "KnownBody", [("candidates", sequence[candidate])], bases=(_Body,), gc=False
        )
        self._known = msgspec.json.Decoder(body)


def _limit(value: int | float | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, float):
        if not value.is_integer() or value < 0:
            raise InvalidInputError("limit", "must be an integer >= 0")
        return int(value)
    return value  # msgspec only lets ints through; the sign is checked by the caller


MAX_TS_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


def _ts(value: int | float | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, float) and not value.is_integer():
        raise InvalidInputError("ts", "must be an integer (epoch milliseconds)")
    if not 0 <= value <= MAX_TS_MS:
        raise InvalidInputError("ts", f"must be epoch milliseconds between 0 and {MAX_TS_MS}")
    return int(value)


# Names already seen valid: a feed has a handful of types and groups, and a set
# lookup costs a tenth of the regular expression. Bounded, so that a client
# sending ever new names cannot grow it.
_VALID: set[str] = set()
_VALID_MAX = 4096


def _valid(name: str) -> bool:
    if name in _VALID:
        return True
    if NAME_RE.fullmatch(name) is None:
        return False
    if len(_VALID) < _VALID_MAX:
        _VALID.add(name)
    return True


def check_types(request: BlendRequest) -> None:
    """Every content type a valid name, or the 422 naming the first candidate without one."""
    types = request.types
    # dict.fromkeys runs in C; a request has few distinct types, so names are
    # checked once each rather than once per candidate.
    bad = {name for name in dict.fromkeys(types) if not _valid(name)}
    if bad:
        first = next(i for i, t in enumerate(types) if t in bad)
        check_name(types[first], f"candidates[{first}].content_type")


def _check_positive(candidates: list[Candidate]) -> None:
    # msgspec refuses non-finite literals ("Number out of range"), and JSON has no
    # NaN, so every score is finite; linear space also needs them positive.
    scores = [c.score for c in candidates]
    if scores and min(scores) <= 0.0:
        first = next(i for i, score in enumerate(scores) if score <= 0.0)
        raise InvalidInputError(f"candidates[{first}].score", "must be > 0 in linear score space")


def parse_blend_request(
    body: bytes,
    *,
    max_candidates: int,
    default_space: ScoreSpace,
    types: Callable[[BlendRequest], None] = check_types,
    decoder: BodyDecoder | None = None,
) -> BlendRequest:
    """Decode and validate; raises :class:`InvalidInputError` naming the field.

    ``types`` checks the candidates' content types, in its turn among the checks
    (which problem a request with several is refused for stays the same). The
    blender passes a blend that checks them on the way (:meth:`blender.plan.Plans.blend`)
    and leaves its result in ``blended``: one pass over the candidates instead of two.
    A ``decoder`` learns the content types of the requests that pass (:class:`BodyDecoder`).
    """
    raw, known = decoder.decode(body) if decoder is not None else (_decode(body), True)
    limit = _limit(raw.limit)
    if limit is not None and limit < 0:
        raise InvalidInputError("limit", "must be an integer >= 0")
    group = raw.experiment_group
    if group is not None and not _valid(group):
        check_name(group, "experiment_group")
    candidates = raw.candidates
    if len(candidates) > max_candidates:
        raise InvalidInputError(
            "candidates", f"at most {max_candidates} candidates allowed, got {len(candidates)}"
        )
    space: ScoreSpace = raw.score_space or default_space
    request = BlendRequest(group, limit, raw.explain, space, candidates, raw.sample)
    if space == "linear":
        _check_positive(candidates)
    types(request)
    request.ts_ms = _ts(raw.ts)
    if not known and decoder is not None:
        decoder.learn(request.type_names)
    return request
