"""The local ZooKeeper's readiness: a server that answers but does not serve is not ready."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from services.local.zookeeper import serving

NOT_SERVING = b"This ZooKeeper instance is not currently serving requests\n"
SERVING = b"Zookeeper version: 3.8.0\nLatency min/avg/max: 0/0.0/0\nMode: standalone\n"


@contextmanager
def four_letter_server(reply: bytes) -> Iterator[int]:
    """Answers one connection the way ZooKeeper does: reply, then close."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def answer() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(4)
            conn.sendall(reply)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        thread.join(timeout=5)
        listener.close()


@pytest.mark.parametrize(("reply", "ready"), [(NOT_SERVING, False), (SERVING, True)])
def test_a_server_is_ready_only_once_it_serves_requests(reply: bytes, ready: bool) -> None:
    with four_letter_server(reply) as port:
        assert serving(port) is ready


def test_nothing_listening_is_not_ready() -> None:
    with socket.create_server(("127.0.0.1", 0)) as held:
        port = held.getsockname()[1]
    assert serving(port) is False
