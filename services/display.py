"""Numbers and times as people read them in tables, pages and messages.

One place, so ``cdctl``, ``pid-controller explain`` and the blender's status page
print a share, a term or a time the same way.
"""

from __future__ import annotations

from services.intervals import Interval, RangeLike, as_interval
from services.timebuckets import iso

NONE = "-"


def _unsigned_zero(text: str) -> str:
    """``-0`` or ``-0.0000`` is a rounding artefact of a tiny negative: show it as zero."""
    if text.startswith("-") and not text.strip("-+0.%e"):
        return text[1:]
    return text


def number(value: float | None, digits: int = 4) -> str:
    """``digits`` significant digits; never ``-0``."""
    return NONE if value is None else _unsigned_zero(f"{value:.{digits}g}")


def signed(value: float, decimals: int = 4) -> str:
    """A constant: always signed, fixed decimals; ``+0.0000`` rather than ``-0.0000``."""
    text = f"{value:+.{decimals}f}"
    return "+" + text[1:] if text.startswith("-") and not text.strip("-+0.") else text


def share(value: float | None) -> str:
    """A share or a target: percent with two decimals, as ``cdctl targets show`` prints."""
    return NONE if value is None else _unsigned_zero(f"{value:.2%}")


def target(value: float | RangeLike | Interval | None) -> str:
    """A target: a share as :func:`share` prints it, or a range (``>=10.00%``,
    ``<=12.00%``, ``20.00%..30.00%``)."""
    return NONE if value is None else as_interval(value).label()


def moment(epoch: float | None) -> str:
    """An epoch as UTC ISO-8601 (``2026-11-22T15:00:00Z``); ``never`` for None."""
    return "never" if epoch is None else iso(epoch)


def moment_ms(ms: int) -> str:
    """Event time (epoch ms) as ISO-8601, or ``out of range`` where no calendar has it."""
    try:
        return iso(ms / 1000)
    except (OverflowError, OSError, ValueError):
        return "out of range"


def paused_notice(reason: str, since: str) -> str:
    """What every view of the constants says while operators froze the controller."""
    return (
        f"PAUSED since {since}: {reason}. Controller runs write nothing "
        "until `cdctl controller resume`."
    )
