"""Control windows: ``[end - interval, end)`` with ``end`` a multiple of the interval."""

from __future__ import annotations

from datetime import UTC, datetime


def window_end_at(moment: datetime, interval: int) -> int:
    """The end of the last full window at ``moment`` (epoch seconds)."""
    epoch = int(moment.timestamp())
    return epoch - epoch % interval


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    """ISO-8601 with a zone (``Z`` accepted); a naive time is refused as ambiguous."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone; add Z or +00:00")
    return moment
