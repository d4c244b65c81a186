"""A loopback TCP proxy in front of the real ZooKeeper that can cut one multi-op.

ZooKeeper frames are a 4-byte length and a body; after the connect handshake a
request body starts with ``xid`` and ``type`` (14 is ``multi``). Armed, the
proxy cuts the connection at the next multi-op, either before the server sees
it (nothing committed) or after the server has applied it but before the
client gets the answer (committed, unknown to the client): the client sees a
connection loss in both cases and reconnects through the proxy with the same
session.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from typing import Literal

from services.local.process import free_port

MULTI = 14
Cut = Literal["before", "after"]


def _read_frame(sock: socket.socket) -> bytes | None:
    head = _read_exact(sock, 4)
    if head is None:
        return None
    body = _read_exact(sock, struct.unpack(">i", head)[0])
    return None if body is None else head + body


def _read_exact(sock: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        try:
            chunk = sock.recv(n - len(data))
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk
    return data


class ZkCutProxy:
    def __init__(self, server_port: int) -> None:
        self.server_port = server_port
        self.port = free_port()
        self.armed: Cut | None = None
        self.cuts = 0
        self.refuse_after_cut = False  # then the client cannot reconnect at all
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def hosts(self) -> str:
        return f"127.0.0.1:{self.port}"

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):  # wakes a blocked accept() (Linux)
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.server_port))
            muted = threading.Event()
            threading.Thread(
                target=self._upstream, args=(client, server, muted), daemon=True
            ).start()
            threading.Thread(
                target=self._downstream, args=(server, client, muted), daemon=True
            ).start()

    def _upstream(
        self, client: socket.socket, server: socket.socket, muted: threading.Event
    ) -> None:
        first = True
        while (frame := _read_frame(client)) is not None:
            kind = None if first else struct.unpack(">i", frame[8:12])[0]
            first = False
            if kind == MULTI and self.armed is not None:
                cut, self.armed = self.armed, None
                muted.set()  # the answer must never reach the client
                if cut == "after":
                    server.sendall(frame)
                    time.sleep(0.5)  # the server applies it (and answers into the void)
                self.cuts += 1
                if self.refuse_after_cut:
                    self.close()
                break
            server.sendall(frame)
        for sock in (client, server):
            sock.close()

    @staticmethod
    def _downstream(server: socket.socket, client: socket.socket, muted: threading.Event) -> None:
        while (frame := _read_frame(server)) is not None and not muted.is_set():
            try:
                client.sendall(frame)
            except OSError:
                break
