"""The contract's ZooKeeper documents (section 4) as validated models.

Every reader and writer goes through :func:`parse_document` /
:func:`dump_document`, so a document that one component accepts is accepted by
all, and a refusal always names the field (``policies.default.targets.video``)
and the problem. Operator input (targets) forbids unknown keys so a typo is
refused instead of silently ignored; documents written by our own components
allow extra keys so a newer writer can add superset fields.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, TypeVar

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from services.errors import InvalidInputError
from services.intervals import Interval, as_interval
from services.names import DEFAULT_POLICY, NAME_PATTERN

Name = Annotated[str, Field(pattern=NAME_PATTERN)]
SCHEMA_VERSION = 1
# ZooKeeper's default jute.maxbuffer is 1 MiB; stay clearly below it.
MAX_DOCUMENT_BYTES = 1_000_000


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


Finite = Annotated[float, AfterValidator(_finite)]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=True)


class OpenModel(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, allow_inf_nan=True)


class Gains(StrictModel):
    kp: Annotated[Finite, Field(ge=0)]
    ki: Annotated[Finite, Field(ge=0)]
    kd: Annotated[Finite, Field(ge=0)] = 0.0


class Bounds(StrictModel):
    """Per-policy limits; a missing key falls back to the controller's setting.

    ``max_step`` (log units, section 11): no constant moves more than this in one window.
    """

    min: Finite | None = None
    max: Finite | None = None
    max_step: Annotated[Finite, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Bounds:
        if self.min is not None and self.max is not None and self.min >= self.max:
            raise ValueError(f"min ({self.min}) must be below max ({self.max})")
        return self


Share = Annotated[Finite, Field(gt=0.0, lt=1.0)]


class TargetRange(StrictModel):
    """A range target (section 11): at least one bound, each in (0, 1), min below max."""

    # A bound not set is left out when written (also in documents that keep nulls).
    min: Annotated[Share | None, Field(exclude_if=lambda v: v is None)] = None
    max: Annotated[Share | None, Field(exclude_if=lambda v: v is None)] = None

    @model_validator(mode="after")
    def _bounds(self) -> TargetRange:
        if self.min is None and self.max is None:
            raise ValueError("a range needs min, max or both")
        if self.min is not None and self.max is not None and self.min >= self.max:
            raise ValueError(f"min ({self.min}) must be below max ({self.max})")
        return self

    def interval(self) -> Interval:
        return as_interval(self)


# Tags are not valid names, so they can never be mistaken for a field in a path.
_SHARE_TAG, _RANGE_TAG = "<share>", "<range>"


def _target_kind(value: Any) -> str:
    return _RANGE_TAG if isinstance(value, dict | TargetRange) else _SHARE_TAG


# A share or a range. The discriminator picks one model by the value's shape, so a
# refusal names the problem of that form only (not a "valid number or object" list).
Target = Annotated[
    Annotated[Share, Tag(_SHARE_TAG)] | Annotated[TargetRange, Tag(_RANGE_TAG)],
    Discriminator(_target_kind),
]


def target_interval(target: float | TargetRange) -> Interval:
    return as_interval(target)


class PolicyTargets(StrictModel):
    targets: dict[Name, Target]
    gains: Gains | None = None
    bounds: Bounds | None = None

    @field_validator("targets")
    @classmethod
    def _shares(cls, targets: dict[str, float | TargetRange]) -> dict[str, float | TargetRange]:
        # A range's min is committed like a share; its max commits nothing.
        total = math.fsum(target_interval(t).lo for t in targets.values())
        if total >= 1.0:
            raise ValueError(
                f"targets (shares and range mins) sum to {total:.6g}; they must sum to less than 1"
            )
        return targets

    def intervals(self) -> dict[str, Interval]:
        return {name: target_interval(t) for name, t in self.targets.items()}


class TargetsDocument(StrictModel):
    schema_: Literal[1] = Field(default=1, alias="schema")
    policies: dict[Name, PolicyTargets] = Field(default_factory=dict)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Diagnostic(OpenModel):
    target: Target
    share: Finite | None = None
    impressions: Annotated[int, Field(ge=0)] = 0
    error: Finite | None = None
    p: Finite = 0.0
    i: Finite = 0.0
    d: Finite = 0.0
    saturated: Literal["upper", "lower"] | None = None
    skipped: str | None = None
    # Written only when true (contract: ``"rate_limited": true`` when it bound).
    rate_limited: bool = Field(default=False, exclude_if=lambda v: not v)

    # Contract section 10. Documents written before it have none of these: they
    # were PID steps, which is what the defaults say.
    mode: Literal["predictive", "pid"] = "pid"
    fallback: str | None = None
    samples: Annotated[int, Field(ge=0)] = 0
    predicted_share: Annotated[Finite, Field(ge=0.0, le=1.0)] | None = None
    reachable: tuple[Finite, Finite] | None = None

    def interval(self) -> Interval:
        return target_interval(self.target)


class ConstantsDocument(OpenModel):
    schema_: Literal[1] = Field(default=1, alias="schema")
    generation: Annotated[int, Field(ge=0)]
    computed_at: str
    window_end: str | None = None
    rolled_back_from: int | None = None
    policies: dict[Name, dict[Name, Finite]] = Field(default_factory=dict)
    diagnostics: dict[Name, dict[Name, Diagnostic]] = Field(default_factory=dict)

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    def constants_for(self, policy: str) -> dict[str, float]:
        """The constants a policy's requests use; unknown policies follow ``default``."""
        if policy in self.policies:
            return self.policies[policy]
        return self.policies.get(DEFAULT_POLICY, {})


class PausedDocument(OpenModel):
    reason: Annotated[str, Field(min_length=1, max_length=1000)]
    since: str


class CounterRegistration(OpenModel):
    url: Annotated[str, Field(pattern=r"^https?://[^\s/]+(:\d+)?/?$")]


D = TypeVar("D", bound=BaseModel)


def _field_path(loc: tuple[int | str, ...]) -> str:
    # "[key]" and a Target's tag are in pydantic's location but are not fields.
    kept = [p for p in loc if p not in ("[key]", _SHARE_TAG, _RANGE_TAG)]
    return ".".join("schema" if p == "schema_" else str(p) for p in kept)


def validate_document(model: type[D], data: Any) -> D:
    """Validate already-decoded data; raise :class:`InvalidInputError` naming the field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        if "[key]" in first["loc"]:
            message = f"invalid name {first['input']!r}: {message}"
        raise InvalidInputError(_field_path(first["loc"]) or model.__name__, message) from exc


def parse_document(model: type[D], raw: bytes | str | None) -> D:
    """Decode UTF-8 JSON and validate it; every failure is an :class:`InvalidInputError`."""
    name = model.__name__
    if raw is None or len(raw) == 0:
        raise InvalidInputError(name, "document is empty")
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise InvalidInputError(name, f"document is {len(raw)} bytes, over {MAX_DOCUMENT_BYTES}")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInputError(name, f"not valid UTF-8 JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidInputError(name, f"must be a JSON object, got {type(data).__name__}")
    return validate_document(model, data)


def parse_stored(model: type[D], where: str, raw: bytes | None) -> D:
    """:func:`parse_document` for a stored document: the refusal names ``where`` (the znode)."""
    try:
        return parse_document(model, raw)
    except InvalidInputError as exc:
        problem = exc.problem if exc.field == model.__name__ else str(exc)
        raise InvalidInputError(where, problem) from exc


def dump_document(doc: BaseModel, *, drop_none: bool = False) -> bytes:
    """Serialise with the contract's field names; refuses what ZooKeeper would refuse.

    ``drop_none`` leaves out unset optional blocks (a policy's ``gains``), for
    documents people read; the constants document keeps its explicit nulls.
    """
    data = doc.model_dump(mode="json", by_alias=True, exclude_none=drop_none)
    raw = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise InvalidInputError(
            type(doc).__name__, f"document is {len(raw)} bytes, over {MAX_DOCUMENT_BYTES}"
        )
    return raw
