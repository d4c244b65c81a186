"""Shared by the counter's API tests: a fake view, and how schemathesis checks the API."""

from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.specs.openapi.checks import positive_data_acceptance

ROWS = {
    "control": [(0, "video", 1), (60, "image", 2), (3600, "video", 4), (7200, "video", 8)],
    "default": [(3660, "image", 16)],
}


class FakeView:
    bucket_seconds = 60

    def __init__(self, restored: bool = True) -> None:
        self._restored = restored

    def restored(self) -> bool:
        return self._restored

    def ready(self) -> tuple[bool, str]:
        return (True, "") if self._restored else (False, "restoring")

    def healthy(self) -> tuple[bool, str]:
        return True, ""

    def complete_through(self) -> int | None:
        return 7200

    def status(self) -> dict[str, Any]:
        return {
            "instance": "fake",
            "ready": True,
            "events_counted": 31,
            "events_rejected": 2,
            "lag": 5,
            "partitions": [{"topic": "t", "partition": 0, "offset": 33, "lag": 5, "owned": True}],
            "last_event_ts": 7_200_000,
            "complete_through": 7200,
            "changelog_records_read": 3,
            "changelog_records_skipped": 0,
            "changelog_gaps": 0,
            "restore": {"records_read": 3, "seconds": 0.25, "from_snapshot": True},
            "snapshots_written": 0,
            "snapshot_in_progress": False,
        }

    def groups(self) -> list[str]:
        return sorted(ROWS)

    def counts(
        self, groups: list[str], start: int, end: int
    ) -> dict[str, list[tuple[int, str, int]]]:
        return {g: [r for r in ROWS.get(g, []) if start <= r[0] < end] for g in groups}


# What OpenAPI cannot declare about /v1/counts: alignment to the stored
# granularity, end after start, real calendar dates, times before 1970.
SEMANTIC_PROBLEMS = (
    "multiple of the stored granularity",
    "must be after start",
    "must be between 0 and",
    "is neither epoch seconds nor an ISO-8601 time",
    "time out of range",
)


def semantic_refusals_only(
    ctx: schemathesis.CheckContext,
    response: schemathesis.Response,
    case: schemathesis.Case[Any],
) -> None:
    """Schema-valid input may be refused (422) only for a constraint the schema cannot state."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 422:
        return
    problem = response.json().get("problem", "")
    assert any(s in problem for s in SEMANTIC_PROBLEMS), f"schema-valid input refused: {problem}"


def call_and_validate(
    case: schemathesis.Case[Any], base_url: str, *, restoring: bool = False
) -> None:
    """All of schemathesis's checks; on /v1/counts ST202 gives way to the check above.

    ``restoring``: every valid query is answered with the documented 503 (counts
    would be low), which schemathesis's server-error check counts as a failure;
    its body is still checked against the declared schema.
    """
    if case.operation.path == "/v1/counts":
        excluded: list[CheckFunction] = [positive_data_acceptance]
        if restoring:
            excluded.append(not_a_server_error)
        case.call_and_validate(
            base_url=base_url,
            excluded_checks=excluded,
            additional_checks=[semantic_refusals_only],
        )
    else:
        case.call_and_validate(base_url=base_url)
