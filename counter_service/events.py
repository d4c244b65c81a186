"""Impression validation and per-batch aggregation (contract section 2). Pure: no I/O.

The fast path decodes with a typed msgspec decoder and checks names against a
small cache of names already seen valid, so a well-formed event costs one C
decode and a few dict look-ups. Only a failing message takes the slow path,
which decodes again untyped to name the exact reason for the dead letter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, NamedTuple

import msgspec

from services import display
from services.names import DEFAULT_POLICY, NAME_RE
from services.timebuckets import bucket_of_ms

BAD_JSON: Final = "bad_json"
NOT_OBJECT: Final = "not_object"
MISSING_FIELD: Final = "missing_field"
MISTYPED_FIELD: Final = "mistyped_field"
BAD_NAME: Final = "bad_name"
TOO_OLD: Final = "too_old"
TOO_FAR_IN_FUTURE: Final = "too_far_in_future"
REASONS: Final = (
    BAD_JSON,
    NOT_OBJECT,
    MISSING_FIELD,
    MISTYPED_FIELD,
    BAD_NAME,
    TOO_OLD,
    TOO_FAR_IN_FUTURE,
)

MAX_FUTURE_MS: Final = 10 * 60 * 1000
_NAME_CACHE_LIMIT: Final = 4096

# (experiment group, bucket start in epoch s, content type)
CountKey = tuple[str, int, str]


class _Event(msgspec.Struct):
    ts: int
    content_type: str
    experiment_group: str | None = None


_decode = msgspec.json.Decoder(_Event).decode
_decode_any = msgspec.json.Decoder().decode


class Rejection(NamedTuple):
    """A tuple, not a frozen dataclass: one is built per bad event, and a frozen
    dataclass's ``__init__`` cost the dead-letter path a few percent."""

    at: int  # position in the batch, so the caller finds offset and original bytes
    reason: str
    detail: str


@dataclass
class BatchResult:
    counts: dict[CountKey, int] = field(default_factory=dict)
    rejections: list[Rejection] = field(default_factory=list)
    counted: int = 0
    # Completeness mark (epoch ms), -1 if none: the largest counted event time, each
    # capped at its record's time, so an event stamped ahead cannot carry the
    # partition's mark past what has been appended (and read) so far.
    max_ts: int = -1


def record_time(timestamp: tuple[int, int], fallback_ms: int) -> int:
    """The time an event is judged against: its Kafka record's timestamp.

    ``timestamp`` is confluent-kafka's ``(type, ms)``; a record without one
    (type 0, pre-0.10 formats) falls back to ``fallback_ms``, the consumer's clock.
    """
    kind, ms = timestamp
    return ms if kind != 0 and ms >= 0 else fallback_ms


@dataclass
class Validator:
    """Judges each event against its record's time, never the handler's clock.

    "Too old" and "too far ahead" compare ``ts`` with the time of the Kafka
    record that carried it (:func:`record_time`), so every attempt at a record
    (a retry, a restart, a zombie, another instance) reaches the same verdict:
    an event is either counted or dead-lettered, never both. With CreateTime
    records that time is the producer's; a topic with
    ``message.timestamp.type=LogAppendTime`` makes it the broker's.
    """

    bucket_seconds: int
    retention_ms: int
    max_future_ms: int = MAX_FUTURE_MS
    _names: set[str] = field(default_factory=set)
    # The end of a too-far-ahead detail, made once: formatting the float per bad
    # event cost a quarter of that refusal's judgement.
    _ahead: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._ahead = f"is more than {self.max_future_ms / 60_000:g} minutes ahead"

    def valid_name(self, name: str) -> bool:
        if name in self._names:
            return True
        if NAME_RE.fullmatch(name) is None:
            return False
        if len(self._names) >= _NAME_CACHE_LIMIT:
            self._names.clear()  # bound memory against a stream of random names
        self._names.add(name)
        return True

    def batch(self, values: Sequence[bytes | None], times_ms: Sequence[int]) -> BatchResult:
        """Count the valid events of one partition's batch, list the rejected ones.

        ``times_ms[i]`` is the record time of ``values[i]`` (:func:`record_time`).
        """
        result = BatchResult()
        counts = result.counts
        retention, ahead = self.retention_ms, self.max_future_ms
        names, seconds = self._names, self.bucket_seconds
        max_ts = -1
        for index, (value, at) in enumerate(zip(values, times_ms, strict=True)):
            try:
                event = _decode(value)  # type: ignore[arg-type]
            except (msgspec.DecodeError, TypeError):
                result.rejections.append(self._rejection(index, value, at))
                continue
            ts, kind, group = event.ts, event.content_type, event.experiment_group
            if group is None:
                group = DEFAULT_POLICY
            if not (
                at - retention <= ts <= at + ahead
                and (kind in names or self.valid_name(kind))
                and (group in names or self.valid_name(group))
            ):
                # Decoded and typed: the reason is in the fields, no second decode.
                reason, detail = self._judge(ts, kind, event.experiment_group, at)
                result.rejections.append(Rejection(index, reason, detail))
                continue
            key = (group, bucket_of_ms(ts, seconds), kind)
            counts[key] = counts.get(key, 0) + 1
            max_ts = max(max_ts, min(ts, at))
        result.counted = len(values) - len(result.rejections)
        result.max_ts = max_ts
        return result

    def _rejection(self, index: int, value: bytes | None, now_ms: int) -> Rejection:
        reason, detail = self.classify(value, now_ms)
        if not reason:  # the strict decoder refused what the lenient one accepts
            reason, detail = MISTYPED_FIELD, "a field has a type the decoder refuses"
        return Rejection(index, reason, detail)

    def classify(self, value: bytes | None, now_ms: int) -> tuple[str, str]:
        """Why a message is refused: ``(reason, detail)``; ``("", "")`` if it is valid."""
        if value is None or len(value) == 0:
            return BAD_JSON, "empty message"
        try:
            data = _decode_any(value)
        except msgspec.DecodeError as exc:
            return BAD_JSON, f"not valid UTF-8 JSON: {str(exc)[:200]}"
        if not isinstance(data, dict):
            return NOT_OBJECT, f"a JSON {type(data).__name__}, not an object"
        for name in ("ts", "content_type"):
            if name not in data:
                return MISSING_FIELD, name
        return self._classify_fields(data, now_ms)

    def _classify_fields(self, data: dict[str, object], now_ms: int) -> tuple[str, str]:
        ts, kind = data["ts"], data["content_type"]
        group = data.get("experiment_group")
        if type(ts) is not int:
            return MISTYPED_FIELD, "ts: must be an integer (epoch milliseconds)"
        if not isinstance(kind, str):
            return MISTYPED_FIELD, "content_type: must be a string"
        if group is not None and not isinstance(group, str):
            return MISTYPED_FIELD, "experiment_group: must be a string"
        return self._judge(ts, kind, group, now_ms)

    def _judge(self, ts: int, kind: str, group: str | None, now_ms: int) -> tuple[str, str]:
        """Names and time of an event whose fields have the right types."""
        if not self.valid_name(kind):
            return BAD_NAME, f"content_type: {kind[:80]!r}"
        if group is not None and not self.valid_name(group):
            return BAD_NAME, f"experiment_group: {group[:80]!r}"
        if ts < now_ms - self.retention_ms:
            return TOO_OLD, f"ts {ts} ({display.moment_ms(ts)}) is older than the retention"
        if ts > now_ms + self.max_future_ms:
            return TOO_FAR_IN_FUTURE, f"ts {ts} ({display.moment_ms(ts)}) {self._ahead}"
        return "", ""
