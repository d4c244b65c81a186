"""The counter's HTTP API served by uvicorn in a thread of its own.

The main thread belongs to the consume loop and the signal handlers, so the API
runs beside it. Stopping means waiting for that thread: uvicorn's loop (uvloop)
calls into Python from its timers, and a loop still running while the
interpreter exits crashes the process (SIGSEGV after "stopped cleanly"); an
in-flight request must also not read the state after it is closed.
"""

from __future__ import annotations

import logging
import threading

import uvicorn
from fastapi import FastAPI

log = logging.getLogger(__name__)


class HttpThread:
    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            ws="none",
            lifespan="off",
            access_log=False,
        )
        self.server = uvicorn.Server(config)
        # Not the main thread: uvicorn installs no signal handlers; SIGTERM stays ours.
        self.thread = threading.Thread(target=self.server.run, name="http", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout: float = 5.0) -> bool:
        """Close the listener and open connections; True once the loop has ended."""
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(timeout)
        if self.thread.is_alive():
            log.warning("the HTTP server did not stop within %g s", timeout)
            return False
        return True
