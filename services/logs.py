"""Logging set-up for the commands: plain text for people, JSON lines for machines."""

from __future__ import annotations

import logging
import sys

import orjson


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


# Clients whose own log lines say how they work, not what the command did: a
# connection retry, every HTTP request. Servers keep their warnings in the log file.
LIBRARIES = ("kazoo", "httpx", "httpcore")
SILENT = logging.CRITICAL + 1


def configure(
    level: str = "INFO", *, json: bool = False, libraries: str | int = logging.WARNING
) -> None:
    """Root logger at ``level``; the clients in LIBRARIES at ``libraries`` or higher.

    Commands pass ``libraries=SILENT`` unless the user asked for ``-v``: their own
    errors say what failed (naming hosts and time-outs), library chatter does not.
    """
    handler = logging.StreamHandler(sys.stderr)
    if json:
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    floor = logging.getLevelName(libraries) if isinstance(libraries, str) else libraries
    for name in LIBRARIES:
        logging.getLogger(name).setLevel(max(floor, root.level))


def command_libraries(verbose: bool) -> int:
    """The library level for a command: everything at the command's level with ``-v``."""
    return logging.NOTSET if verbose else SILENT
