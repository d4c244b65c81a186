"""One root exception for the project.

Every failure a caller may want to handle derives from :class:`CDError`, so a
command line or an HTTP handler can catch one type and translate it into an
exit code or a status. Errors from kazoo, confluent-kafka or rocksdict are
re-raised as one of these with ``raise ... from exc`` so the cause stays in the
traceback but no dependency type leaks through our interfaces.
"""

from __future__ import annotations


class CDError(Exception):
    """Root of every error this project raises on purpose."""


class InvalidInputError(CDError, ValueError):
    """Input was refused. ``field`` names where (dotted path), ``problem`` says what."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}" if field else problem)


class StoreError(CDError):
    """ZooKeeper could not be read or written."""


class StoreUnavailableError(StoreError):
    """ZooKeeper is not reachable (connection lost, session expired, time-out)."""


class VersionConflictError(StoreError):
    """A version-checked write lost a race: somebody else wrote in between."""


class NotFoundError(StoreError):
    """A znode the caller needs does not exist."""


class AccessDeniedError(StoreError):
    """ZooKeeper refused the write: missing or wrong digest credentials."""


class UpstreamError(CDError):
    """A service this one depends on (Kafka, a counter instance) failed."""
