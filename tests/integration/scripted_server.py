"""A real socket server that misbehaves on cue, for faults no real server
produces on demand: a reset in the middle of a response, an endless line,
silence, a huge literal.  Better than a mock: protoshell talks to it over
127.0.0.1 exactly as to any server.

A script is a list of steps run for each accepted connection:
``("send", bytes)``, ``("expect", bytes)`` (read until that substring
appears), ``("sleep", seconds)``, ``("stream", chunk, count)`` (send a chunk
many times; stops quietly if the client goes away), ``("recv_once",)``
(one ``recv(1024)``, whatever it brings: the lecture's lab server reads its
request so), ``("reset",)`` (RST via SO_LINGER 0), ``("close",)`` and
``("drop",)`` (``close()`` at once, with whatever the client sent next
unread: the kernel answers that with a reset, as for a naive server).
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Sequence
from typing import Any

Step = tuple[Any, ...]


class ScriptedServer:
    def __init__(self, script: Sequence[Step], *, timeout: float = 10.0, connections: int = 1) -> None:
        self.script = list(script)
        self.connections = connections  # accepted one after the other, each runs the script
        self.timeout = timeout
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(timeout)
        self.port = self.sock.getsockname()[1]
        self.received = bytearray()
        self.errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> ScriptedServer:  # noqa: PYI034 - Self needs 3.11 typing
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()
        self._thread.join(self.timeout)

    @property
    def url_host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _serve(self) -> None:
        for _ in range(self.connections):
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.settimeout(self.timeout)
            try:
                self._run(conn)
            except (OSError, TimeoutError) as exc:  # the client may legitimately vanish
                self.errors.append(exc)
            finally:
                conn.close()

    def _run(self, conn: socket.socket) -> None:
        for step in self.script:
            op = step[0]
            if op == "send":
                conn.sendall(step[1])
            elif op == "expect":
                while step[1] not in self.received:
                    data = conn.recv(65536)
                    if not data:
                        return
                    self.received += data
            elif op == "sleep":
                threading.Event().wait(step[1])
            elif op == "stream":
                chunk, count = step[1], step[2]
                try:
                    for _ in range(count):
                        conn.sendall(chunk)
                except OSError:
                    return
            elif op == "reset":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()
                return
            elif op == "recv_once":
                self.received += conn.recv(1024)
            elif op == "close":
                conn.shutdown(socket.SHUT_RDWR)
                return
            elif op == "drop":
                conn.close()
                return
            else:  # pragma: no cover - a typo in a test
                raise ValueError(f"unknown step {op!r}")
