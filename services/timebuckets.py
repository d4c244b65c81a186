"""Event-time bucket arithmetic shared by the counter service and the controller.

All times are integers (epoch seconds or milliseconds), so bucket boundaries are
exact and two components computing "the window ending at E" always agree.
Floor division keeps alignment correct for negative values too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Final

from services.errors import InvalidInputError

# Epoch seconds accepted in requests: up to year ~33658. Keeps every value far
# inside a signed 64-bit integer even after converting to milliseconds.
MAX_EPOCH_SECONDS: Final = 10**12
# ASCII digits only (str.isdigit accepts "²"), short enough for int() to be cheap.
_INTEGER: Final = re.compile(r"[+-]?[0-9]{1,18}")


def floor_to(value: int, step: int) -> int:
    """The largest multiple of ``step`` that is <= ``value``."""
    if step <= 0:
        raise ValueError("step must be positive")
    return (value // step) * step


def ceil_to(value: int, step: int) -> int:
    """The smallest multiple of ``step`` that is >= ``value``."""
    return -floor_to(-value, step)


def is_aligned(value: int, step: int) -> bool:
    return value % step == 0


def bucket_of_ms(ts_ms: int, bucket_seconds: int) -> int:
    """Start (epoch s) of the bucket holding the event time ``ts_ms`` (epoch ms)."""
    return (ts_ms // (bucket_seconds * 1000)) * bucket_seconds


def buckets(start: int, end: int, step: int) -> Iterator[int]:
    """Starts of the ``step``-aligned buckets overlapping ``[start, end)``, ascending."""
    current = floor_to(start, step)
    while current < end:
        yield current
        current += step


def last_full_window_end(now: int, interval: int) -> int:
    """End of the last window ``[end - interval, end)`` that is entirely in the past."""
    return floor_to(now, interval)


def iso(epoch: float) -> str:
    """UTC ISO-8601 with a ``Z``, as the constants document writes times; fractions of
    a second are dropped. OverflowError or ValueError where no calendar has it.

    Arithmetic on a cached day rather than ``datetime.strftime``: every dead letter
    for a bad time names the event's time, and strftime cost the counter about a
    tenth of its dead-letter path; two-digit fields come from a table, as formatting
    three integers with ``:02d`` cost half of what was left.
    """
    day, second = divmod(math.floor(epoch), 86_400)
    hour, second = divmod(second, 3600)
    minute, second = divmod(second, 60)
    return f"{_day(day)}T{_TWO[hour]}:{_TWO[minute]}:{_TWO[second]}Z"


_TWO: Final = tuple(f"{n:02d}" for n in range(60))


_EPOCH_DAY: Final = date(1970, 1, 1)


@lru_cache(maxsize=1024)
def _day(day: int) -> str:
    return (_EPOCH_DAY + timedelta(days=day)).isoformat()


def parse_time(value: str, field: str) -> int:
    """Epoch seconds from an integer string or an ISO-8601 time with a zone.

    Fractions of a second are dropped (floor), so ``12:00:00.9`` is second 12:00:00.
    A time without a zone is refused: guessing the zone would silently shift windows.
    """
    text = value.strip()
    if not text:
        raise InvalidInputError(field, "must not be empty")
    seconds = int(text) if _INTEGER.fullmatch(text) else _parse_iso(text, field)
    if not 0 <= seconds <= MAX_EPOCH_SECONDS:
        raise InvalidInputError(field, f"must be between 0 and {MAX_EPOCH_SECONDS} epoch seconds")
    return seconds


def _parse_iso(text: str, field: str) -> int:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInputError(
            field, f"{text[:64]!r} is neither epoch seconds nor an ISO-8601 time"
        ) from exc
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInputError(field, "an ISO-8601 time needs a zone (e.g. Z or +00:00)")
    try:
        return int(moment.timestamp() // 1)
    except (OverflowError, ValueError) as exc:
        raise InvalidInputError(field, "time out of range") from exc


def check_bucket(bucket: int, granularity: int, field: str = "bucket") -> int:
    """A query bucket must be a positive multiple of the stored granularity."""
    if bucket <= 0:
        raise InvalidInputError(field, "must be a positive number of seconds")
    if bucket % granularity != 0:
        raise InvalidInputError(
            field, f"must be a multiple of the stored granularity ({granularity} s), got {bucket}"
        )
    if bucket > MAX_EPOCH_SECONDS:
        raise InvalidInputError(field, f"must be at most {MAX_EPOCH_SECONDS} seconds")
    return bucket
