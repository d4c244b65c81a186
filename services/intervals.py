"""Every target as an interval of shares (contract section 11). Pure, no I/O.

A target is a share (``0.04``) or a range (``{"min": 0.1}``, ``{"max": 0.12}``,
``{"min": 0.2, "max": 0.3}``). Everything that acts on targets (the PID step,
the predictive model, diagnostics, the simulator, cdctl, the status page)
reads them as one shape, ``[lo, hi]``: a share is ``lo == hi``, a min-only range
has ``hi = 1``, a max-only range ``lo = 0``. Then "on target" is one test
(``lo <= share <= hi``) and "where to steer" one function (:meth:`Interval.aim`),
with no case analysis repeated in every caller.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

TargetJson = float | dict[str, float]


class RangeLike(Protocol):
    """What :func:`as_interval` reads from a range (the targets document's model)."""

    @property
    def min(self) -> float | None: ...

    @property
    def max(self) -> float | None: ...


@dataclass(frozen=True)
class Interval:
    lo: float
    hi: float

    @classmethod
    def point(cls, share: float) -> Interval:
        return cls(share, share)

    @property
    def is_point(self) -> bool:
        return self.lo == self.hi

    @property
    def defined(self) -> bool:
        """False for the "no target" interval (NaN bounds) the simulator records."""
        return not (math.isnan(self.lo) or math.isnan(self.hi))

    def contains(self, share: float) -> bool:
        return self.lo <= share <= self.hi

    def nearest(self, share: float) -> float:
        """The share clamped into the interval: the closest share that is on target."""
        return min(self.hi, max(self.lo, share))

    def aim(self, share: float) -> float | None:
        """The bound to steer to (the nearest one), or None while the share is inside.

        For a point this is the point itself whenever the share differs from it.
        """
        return None if self.contains(share) else self.nearest(share)

    def relative_error(self, share: float) -> float:
        """``share / nearest - 1``: 0 inside, signed distance past the nearest bound outside."""
        if not self.defined or math.isnan(share):
            return math.nan
        bound = self.nearest(share)
        return share / bound - 1.0 if bound > 0 else math.nan

    def to_json(self) -> TargetJson:
        """The targets document's form: a number for a point, else the bounds that were set."""
        if self.is_point:
            return self.lo
        out: dict[str, float] = {}
        if self.lo > 0.0:
            out["min"] = self.lo
        if self.hi < 1.0:
            out["max"] = self.hi
        return out

    def label(self) -> str:
        """For people: ``4.00%``, ``>=10.00%``, ``<=12.00%``, ``20.00%..30.00%``."""
        if not self.defined:
            return "-"
        if self.is_point:
            return f"{self.lo:.2%}"
        if self.hi >= 1.0:
            return f">={self.lo:.2%}"
        if self.lo <= 0.0:
            return f"<={self.hi:.2%}"
        return f"{self.lo:.2%}..{self.hi:.2%}"


NO_TARGET = Interval(math.nan, math.nan)


def as_interval(target: float | Interval | RangeLike | Mapping[str, Any]) -> Interval:
    """Any target form (share, range model, ``{"min", "max"}`` mapping) as an interval."""
    if isinstance(target, Interval):
        return target
    if isinstance(target, int | float):
        return Interval.point(float(target))
    if isinstance(target, Mapping):
        lo, hi = target.get("min"), target.get("max")
    else:
        lo, hi = target.min, target.max
    return Interval(0.0 if lo is None else float(lo), 1.0 if hi is None else float(hi))


def floor_share(target: Interval) -> float:
    """What a target commits of a policy's impressions: a share, or a range's min.

    A policy's commitments must sum below 1 (the rest is for untargeted types).
    """
    return target.lo
