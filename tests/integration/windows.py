"""Waiting for a window that stays the last full one long enough for a run.

A run that stamps samples in the last full window and then reads "the last full
window" again (a preview, a controller step) would read the next, empty window if
a boundary passed in between; near one, it waits for the boundary first. Shared
by the preview's test and ``bench.controller_memory``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from services.timebuckets import last_full_window_end


def window_start_that_stays_last(
    interval: int, margin: float, on_wait: Callable[[float], None] | None = None
) -> int:
    """Start of the last full window, once it will stay the last one for ``margin`` s;
    ``on_wait`` hears how many seconds a wait will take before it starts."""
    left = interval - time.time() % interval
    if left < margin:
        if on_wait is not None:
            on_wait(left)
        time.sleep(left + 1)
    return last_full_window_end(int(time.time()), interval) - interval
