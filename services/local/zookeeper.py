"""A real ZooKeeper server from Debian's ``zookeeper`` package, on a loopback port."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

from services.errors import CDError
from services.local.process import ServerProcess, free_port

JARS = (
    "/usr/share/java/zookeeper.jar",
    "/usr/share/java/slf4j-log4j12.jar",
    "/usr/share/java/log4j-1.2.jar",
)


def serving(port: int) -> bool:
    """Whether the server takes sessions: ``ruok`` says imok before the database is loaded.

    In that gap clients are dropped with "ZooKeeperServer not running", so a test that
    connects right after a restart can use up its whole timeout; ``srvr`` names the mode
    only once requests are served.
    """
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"srvr")
            reply = b""
            while chunk := sock.recv(1024):
                reply += chunk
            return b"Mode: " in reply
    except OSError:
        return False


class ZooKeeperServer:
    """Standalone server; data survives :meth:`restart`, so sessions can resume."""

    def __init__(self, workdir: Path, port: int = 0) -> None:
        if not Path(JARS[0]).exists() or shutil.which("java") is None:
            raise CDError("ZooKeeper needs Debian's 'zookeeper' package and java")
        self.workdir = workdir
        self.port = port or free_port()
        self.data_dir = workdir / "data"
        self.config = workdir / "zoo.cfg"
        self.server = ServerProcess(
            "zookeeper",
            [
                "java",
                "-Xmx256m",
                "-cp",
                ":".join(["/etc/zookeeper/conf", *JARS]),
                f"-Dzookeeper.log.dir={workdir}",
                "-Dzookeeper.root.logger=INFO,CONSOLE",
                "-Dlog4j.configuration=file:/etc/zookeeper/conf/log4j.properties",
                "org.apache.zookeeper.server.ZooKeeperServerMain",
                str(self.config),
            ],
            workdir / "zookeeper.log",
            lambda: serving(self.port),
        )

    @property
    def hosts(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config.write_text(
            "\n".join(
                [
                    "tickTime=500",
                    "minSessionTimeout=1000",
                    "maxSessionTimeout=30000",
                    f"dataDir={self.data_dir}",
                    f"clientPort={self.port}",
                    "clientPortAddress=127.0.0.1",
                    "admin.enableServer=false",
                    "4lw.commands.whitelist=ruok,srvr,stat",
                    "",
                ]
            )
        )
        self.server.start(timeout)

    def stop(self) -> None:
        self.server.stop()

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self.server.running
