"""Reading a window's counts from any one ready counter instance.

Instances come from ``CD_COUNTER_URLS`` or, when that is empty, from the
registry ``<root>/counters``. Every instance answers for every partition, but
not every one is equally far along (one may be restoring or lagging), so the
first whose counts are complete through the window's end is used; a failing
one is skipped, not retried in a loop, and only when all fail does the step
fail (writing nothing).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx

from pid_controller.step import PolicyCounts
from services.documents import CounterRegistration, parse_document
from services.errors import InvalidInputError, UpstreamError
from services.zk import ZkStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WindowCounts:
    groups: dict[str, PolicyCounts]
    complete_through: int | None
    source: str


def registered_counters(store: ZkStore) -> list[str]:
    urls = []
    for name in store.children(store.paths.counters):
        node = store.read(store.paths.counter(name))
        if node is None:
            continue
        try:
            urls.append(parse_document(CounterRegistration, node.data).url.rstrip("/"))
        except InvalidInputError as exc:
            log.warning("ignoring counter registration %s: %s", name, exc)
    return urls


def _parse(body: object, start: int, end: int) -> tuple[dict[str, PolicyCounts], int | None]:
    if not isinstance(body, dict) or not isinstance(body.get("groups"), dict):
        raise UpstreamError("counter answered without a 'groups' object")
    groups: dict[str, PolicyCounts] = {}
    for group, buckets in body["groups"].items():
        total = 0
        by_type: dict[str, int] = {}
        for bucket in buckets:
            if not start <= int(bucket["start"]) < end:
                raise UpstreamError(f"counter returned bucket {bucket['start']} outside the window")
            total += int(bucket["total"])
            for type_name, n in bucket["by_type"].items():
                by_type[type_name] = by_type.get(type_name, 0) + int(n)
        groups[group] = PolicyCounts(total, by_type)
    complete = body.get("complete_through")
    return groups, None if complete is None else int(complete)


def fetch_window(
    urls: Sequence[str],
    start: int,
    end: int,
    *,
    timeout: float = 10.0,
    transport: Callable[[], httpx.Client] | None = None,
) -> WindowCounts:
    """Counts of ``[start, end)``, one bucket per group, from an instance complete through ``end``.

    Instances are asked in turn until one says its counts are complete through
    the window's end: a lagging or restarting instance is passed over, not
    trusted. When none is, the most complete answer is returned (the caller
    waits and asks again, or proceeds marked incomplete).
    """
    if not urls:
        raise UpstreamError("no counter instance: set CD_COUNTER_URLS or start a counter-service")
    failures = []
    best: WindowCounts | None = None
    params = {"start": start, "end": end, "bucket": end - start}
    for url in urls:
        try:
            with (transport or (lambda: httpx.Client(timeout=timeout)))() as client:
                response = client.get(f"{url}/v1/counts", params=params)
                response.raise_for_status()
                groups, complete = _parse(response.json(), start, end)
        except (httpx.HTTPError, ValueError, KeyError, TypeError, UpstreamError) as exc:
            log.warning("counter %s failed: %s", url, exc)
            failures.append(f"{url}: {exc}")
            continue
        counts = WindowCounts(groups, complete, url)
        if complete is not None and complete >= end:
            return counts
        if best is None or (complete or -1) > (best.complete_through or -1):
            best = counts
    if best is not None:
        return best
    raise UpstreamError("no counter instance answered: " + "; ".join(failures))
