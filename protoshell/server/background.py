"""A service on its own thread and event loop, as aiosmtpd's Controller does.

The embedded HTTP server (bare ``protoshell``, tests) and the mail servers
(tests) share this: ``start`` returns once the service listens, or raises
the error that stopped it (or RuntimeError after ``ready_timeout``) in the
caller's thread; ``stop`` closes it and joins the thread, and is safe twice.
Unexpected errors inside the loop go to ``log``, never over the user's screen.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable
from typing import Any


class BackgroundLoop:
    def __init__(self, name: str, *, ready_timeout: float, log: Callable[[str], None] | None = None) -> None:
        self.name = name
        self.ready_timeout = ready_timeout
        self.log = log
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._running = False

    @property
    def started(self) -> bool:
        return self._thread is not None

    @property
    def running(self) -> bool:
        return self._running and self._thread is not None and self._thread.is_alive()

    def start(
        self,
        open_service: Callable[[], Awaitable[None]],
        close_service: Callable[[], Awaitable[None]],
        *,
        after_close: Callable[[asyncio.AbstractEventLoop], None] | None = None,
    ) -> None:
        if self._thread is not None:
            raise RuntimeError(f"the {self.name} was already started")
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(
            target=self._run, args=(open_service, close_service, after_close), name=f"protoshell-{self.name}", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(self.ready_timeout):
            self.stop()
            raise RuntimeError(f"the {self.name} did not start within {self.ready_timeout} s")
        if self._error is not None:
            err = self._error
            self._thread.join(self.ready_timeout)
            self._thread = None
            raise err

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(self.ready_timeout)
        self._thread = None
        self._running = False

    def _on_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if self.log is not None:
            self.log(f"{self.name}: internal error: {context.get('message', '')} {context.get('exception', '')}")

    def _run(
        self,
        open_service: Callable[[], Awaitable[None]],
        close_service: Callable[[], Awaitable[None]],
        after_close: Callable[[asyncio.AbstractEventLoop], None] | None,
    ) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        loop.set_exception_handler(self._on_loop_error)
        try:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(open_service())
            except BaseException as exc:  # noqa: BLE001 - handed to start()'s caller
                self._error = exc
                return
            self._running = True
            self._ready.set()
            loop.run_forever()
            loop.run_until_complete(close_service())
            if after_close is not None:
                after_close(loop)
        finally:
            self._running = False
            self._ready.set()
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            asyncio.set_event_loop(None)
            loop.close()
            self._loop = None
