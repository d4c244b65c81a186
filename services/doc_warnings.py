"""Warnings a person reading a constants document must see, worded once for every reader.

``pid-controller explain``, ``cdctl constants show`` and the blender's status
page all print these, so an operator gets the same sentence wherever they look.
"""

from __future__ import annotations

from services.documents import ConstantsDocument
from services.timebuckets import iso


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
