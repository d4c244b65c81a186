"""A child server process with a log file, a readiness probe and a clean stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx

from services.errors import CDError

# The console scripts installed beside this interpreter (the venv's bin folder).
BIN = Path(sys.executable).parent


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (bind port 0 and let the kernel choose)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_ok(url: str, timeout: float = 1.0) -> bool:
    """A readiness probe: the URL answers 200."""
    try:
        return httpx.get(url, timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


class ServerProcess:
    """Spawns ``argv`` with output to ``log_path``; ``ready`` says when it serves."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        ready: Callable[[], bool],
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.ready = ready
        self.env = env
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(self.env or {})},
                cwd=self.cwd,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise CDError(
                    f"{self.name} exited with {self.proc.returncode}; see {self.log_path}"
                )
            if self.ready():
                return
            time.sleep(0.05)
        self.stop()
        raise CDError(f"{self.name} not ready after {timeout}s; see {self.log_path}")

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def blender_process(
    port: int, zk_hosts: str, zk_root: str, workdir: Path, **env: str
) -> ServerProcess:
    """The ``blender`` command on loopback, its log and cache in ``workdir``; ready
    when ``/readyz`` answers 200. ``env`` adds or overrides ``CD_`` settings."""
    return ServerProcess(
        "blender",
        [str(BIN / "blender")],
        workdir / "blender.log",
        lambda: http_ok(f"http://127.0.0.1:{port}/readyz"),
        env={
            "CD_ZK_HOSTS": zk_hosts,
            "CD_ZK_ROOT": zk_root,
            "CD_BLENDER_HOST": "127.0.0.1",
            "CD_BLENDER_PORT": str(port),
            "CD_BLENDER_CACHE_PATH": str(workdir / "constants.cache.json"),
            # No candidate samples unless asked for: they would go to whatever
            # broker listens on the default port (a developer's local stack).
            "CD_BLENDER_SAMPLE_RATE": "0",
            **env,
        },
    )
