"""The counter's HTTP API (contract section 3), built over a read-only :class:`CounterView`.

Every declared response carries its schema (422 and 503 use the shared error
body), so the OpenAPI document can be checked against real answers.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Final, Protocol

from fastapi import FastAPI, Query
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from pydantic import BaseModel, WithJsonSchema

from services.errors import InvalidInputError
from services.http import ERROR_SCHEMA, error_response, install_error_handlers, json_response
from services.names import NAME_PATTERN, check_name
from services.timebuckets import (
    MAX_EPOCH_SECONDS,
    check_bucket,
    floor_to,
    is_aligned,
    parse_time,
)

# The query syntax the OpenAPI document declares, and the handler enforces (fullmatch),
# so the two cannot drift. ``\Z``, not ``$``: Python's ``$`` also matches before a
# trailing newline, and OpenAPI tools written in Python read patterns with ``re``.
TIME_PATTERN: Final = (
    r"^(?:[0-9]{1,12}|[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}(?::[0-9]{2}"
    r"(?::[0-9]{2}(?:\.[0-9]{1,6})?)?)?(?:Z|[+-][0-9]{2}:?[0-9]{2}))\Z"
)
TIME_RE: Final = re.compile(TIME_PATTERN)
GROUP_PATTERN: Final = NAME_PATTERN.removesuffix("$") + r"\Z"
TIME_SYNTAX: Final = "epoch seconds or YYYY-MM-DDTHH[:MM[:SS[.ffffff]]] with Z, ±HH:MM or ±HHMM"


class CounterView(Protocol):
    """What the API reads; implemented by the running service (and by test doubles)."""

    bucket_seconds: int

    def restored(self) -> bool: ...
    def ready(self) -> tuple[bool, str]: ...
    def healthy(self) -> tuple[bool, str]: ...
    def complete_through(self) -> int | None: ...
    def status(self) -> dict[str, Any]: ...
    def groups(self) -> list[str]: ...
    def counts(
        self, groups: list[str], start: int, end: int
    ) -> dict[str, list[tuple[int, str, int]]]: ...


class Bucket(BaseModel):
    start: int
    total: int
    by_type: dict[str, int]


class CountsResponse(BaseModel):
    bucket_seconds: int
    complete_through: int | None
    groups: dict[str, list[Bucket]]


class GroupsResponse(BaseModel):
    groups: list[str]


class PartitionStatus(BaseModel):
    topic: str
    partition: int
    offset: int
    lag: int
    owned: bool


class StatusResponse(BaseModel):
    instance: str
    ready: bool
    events_counted: int
    events_rejected: int
    lag: int
    partitions: list[PartitionStatus]
    last_event_ts: int | None
    complete_through: int | None
    changelog_records_read: int
    changelog_records_skipped: int
    changelog_gaps: int
    restore: RestoreStatus | None
    snapshots_written: int
    snapshot_in_progress: bool


class RestoreStatus(BaseModel):
    records_read: int
    seconds: float
    from_snapshot: bool


class Probe(BaseModel):
    status: str
    reason: str = ""


_ERROR: dict[str, Any] = {"content": {"application/json": {"schema": ERROR_SCHEMA}}}
_422: dict[int | str, dict[str, Any]] = {
    422: {"description": "A parameter is invalid; `field` names it.", **_ERROR}
}
_503: dict[int | str, dict[str, Any]] = {
    503: {"description": "State not restored yet (counts would be low).", **_ERROR}
}


def aggregate(rows: list[tuple[int, str, int]], bucket: int) -> list[dict[str, Any]]:
    """Fold stored ``(bucket, type, count)`` rows into ascending ``bucket``-aligned buckets."""
    folded: dict[int, dict[str, int]] = {}
    for start, kind, count in rows:
        if count == 0:
            continue
        by_type = folded.setdefault(floor_to(start, bucket), {})
        by_type[kind] = by_type.get(kind, 0) + count
    return [
        {"start": start, "total": sum(by_type.values()), "by_type": dict(sorted(by_type.items()))}
        for start, by_type in sorted(folded.items())
    ]


def query_time(value: str, field: str) -> int:
    """``parse_time`` (its messages name the problem), limited to the declared syntax."""
    seconds = parse_time(value, field)
    if TIME_RE.fullmatch(value) is None:
        raise InvalidInputError(field, f"must be {TIME_SYNTAX}")
    return seconds


def check_range(start: int, end: int, granularity: int) -> None:
    for name, value in (("start", start), ("end", end)):
        if not is_aligned(value, granularity):
            raise InvalidInputError(
                name, f"must be a multiple of the stored granularity ({granularity} s)"
            )
    if end <= start:
        raise InvalidInputError("end", "must be after start")


class _Collector(Collector):
    def __init__(self, view: CounterView) -> None:
        self.view = view

    def collect(self) -> list[Metric]:
        status = self.view.status()
        events = CounterMetricFamily(
            "cd_counter_events", "Impressions counted or rejected (exact)", labels=["result"]
        )
        events.add_metric(["counted"], status["events_counted"])
        events.add_metric(["rejected"], status["events_rejected"])
        lag = GaugeMetricFamily("cd_counter_lag", "Source events not yet counted")
        lag.add_metric([], status["lag"])
        gaps = CounterMetricFamily(
            "cd_counter_changelog_gaps",
            "Gaps found in the changelog (records gone under this instance)",
        )
        gaps.add_metric([], status["changelog_gaps"])
        return [events, lag, gaps]


def create_app(view: CounterView) -> FastAPI:
    app = FastAPI(title="counter-service", version="1")
    install_error_handlers(app)
    _data_routes(app, view)
    _probe_routes(app, view)
    _declare_granularity(app, view.bucket_seconds)
    return app


_GROUP_ITEM = WithJsonSchema({"type": "string", "pattern": GROUP_PATTERN})


def _time_query(bound: str) -> Any:
    return Query(
        description=f"{TIME_SYNTAX}; {bound}; on the stored granularity",
        json_schema_extra={"pattern": TIME_PATTERN},
    )


BUCKET_QUERY = Query(
    description="bucket seconds, a multiple of the stored granularity",
    json_schema_extra={"minimum": 1, "maximum": MAX_EPOCH_SECONDS},
)


def _declare_granularity(app: FastAPI, granularity: int) -> None:
    """Put the configured granularity into the (cached) OpenAPI document."""
    for param in app.openapi()["paths"]["/v1/counts"]["get"]["parameters"]:
        if param["name"] == "bucket":
            param["schema"].update(minimum=granularity, multipleOf=granularity)


def _data_routes(app: FastAPI, view: CounterView) -> None:
    @app.get("/v1/counts", response_model=CountsResponse, responses={**_422, **_503})
    def counts(
        start: Annotated[str, _time_query("inclusive")],
        end: Annotated[str, _time_query("exclusive")],
        bucket: Annotated[int, BUCKET_QUERY] = 3600,
        group: Annotated[
            list[Annotated[str, _GROUP_ITEM]] | None,
            Query(description="repeatable; absent = all"),
        ] = None,
    ) -> Response:
        s, e = query_time(start, "start"), query_time(end, "end")
        check_bucket(bucket, view.bucket_seconds)
        check_range(s, e, view.bucket_seconds)
        wanted = [check_name(g, "group") for g in group] if group else None
        if not view.restored():
            return error_response(503, "", "state is not restored yet")
        complete = view.complete_through()
        found = view.counts(wanted if wanted is not None else view.groups(), s, e)
        body = {g: aggregate(rows, bucket) for g, rows in found.items()}
        if wanted is None:
            body = {g: buckets for g, buckets in body.items() if buckets}
        return json_response(
            {"bucket_seconds": bucket, "complete_through": complete, "groups": body}
        )

    @app.get("/v1/groups", response_model=GroupsResponse)
    def groups() -> Response:
        return json_response({"groups": view.groups()})

    @app.get("/v1/status", response_model=StatusResponse)
    def status() -> Response:
        return json_response(view.status())


def _probe_routes(app: FastAPI, view: CounterView) -> None:
    registry = CollectorRegistry(auto_describe=True)
    registry.register(_Collector(view))

    @app.get("/healthz", response_model=Probe, responses={503: {"model": Probe}})
    def healthz() -> Response:
        ok, reason = view.healthy()
        return json_response(
            {"status": "ok" if ok else "failing", "reason": reason}, 200 if ok else 503
        )

    @app.get("/readyz", response_model=Probe, responses={503: {"model": Probe}})
    def readyz() -> Response:
        ok, reason = view.ready()
        return json_response(
            {"status": "ready" if ok else "not ready", "reason": reason}, 200 if ok else 503
        )

    @app.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
