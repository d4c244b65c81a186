"""Warnings a person reading a constants document must see, worded once for every reader.

``pid-controller explain``, ``cdctl constants show`` and the blender's status
page all print these, so an operator gets the same sentence wherever they look.
"""

from __future__ import annotations

from services import display
from services.documents import ConstantsDocument, Diagnostic
from services.timebuckets import iso


def _percent(value: float) -> str:
    return f"{100 * value:.3g}%"


def _target(d: Diagnostic) -> str:
    """A share as ``15%``; a range (section 11) as the tables print it."""
    return _percent(d.target) if isinstance(d.target, float) else display.target(d.target)


def _bounds(extra: dict[str, object]) -> str | None:
    lo, hi = extra.get("bound_min"), extra.get("bound_max")
    if not isinstance(lo, int | float) or not isinstance(hi, int | float):
        return None
    if lo == -hi:
        return f"bounds ±{hi:g}"
    return f"bounds [{lo:g}, {hi:g}]"


def saturation_warning(type_name: str, d: Diagnostic) -> str | None:
    """A saturated type's warning; with the prediction it names the reachable range:
    ``video reachable 3.1% to 12.4% with bounds ±5; target 15%``."""
    if d.saturated is None:
        return None
    if d.reachable is None:
        return (
            f"{type_name}: saturated at the {d.saturated} bound; "
            f"target {_target(d)} is outside the controllable range"
        )
    low, high = d.reachable
    bounds = _bounds(dict(d.model_extra or {}))
    within = f" with {bounds}" if bounds else ""
    return f"{type_name} reachable {_percent(low)} to {_percent(high)}{within}; target {_target(d)}"


def counts_warning(doc: ConstantsDocument) -> str | None:
    """The step ran on counts not complete through its window (superset ``counts_complete``)."""
    extra = doc.model_extra or {}
    if extra.get("counts_complete") is not False:
        return None
    through = extra.get("counts_complete_through")
    read = (
        f"the counters had read every partition only through {iso(through)}"
        if isinstance(through, int | float) and not isinstance(through, bool)
        else "no counter said how far it had read"
    )
    return (
        f"counts incomplete: {read}, before the window's end {doc.window_end or '-'}; "
        "the shares of this generation miss impressions counted later"
    )
