"""Starting and stopping the embedded HTTP server.

Two ways in:

- ``EmbeddedServer``: like aiosmtpd's ``Controller``, it runs the server on
  its own thread and event loop, so tests and the bare ``protoshell`` command
  can start it, learn its port, and go on.  ``start()`` waits until the
  socket listens and raises a clear ``OSError`` if it cannot; ``stop()``
  closes everything and joins the thread.  Also a context manager.
- ``serve_main(argv)``: ``protoshell serve [--root DIR] [--port N]
  [--bind ADDR] [--timeout S] [--mail ...]`` in the foreground: prints the
  URL, logs one line per request to stderr, and stops cleanly on Ctrl-C
  (exit 0).  Bad arguments: one line, exit 2; cannot listen (port in
  use...): one line, exit 3.  ``--mail`` adds the SMTP, POP3 and IMAP
  servers of ``server/mail/`` in the same loop (options: ``mail/service.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import site
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, NoReturn

from ..proto.base import Limits
from ..status import ExitStatus
from .background import BackgroundLoop
from .http_server import HttpServer

if TYPE_CHECKING:
    from .mail.service import MailConfig

DEFAULT_PORT = 8080
DEFAULT_BIND = "127.0.0.1"
DEFAULT_TIMEOUT = 15.0
# Bare ``protoshell``: the in-process server's one client is a person at the
# shell, who may read the banner and :help for minutes before the first
# request.  A server's guard against idle sockets (DEFAULT_TIMEOUT) would
# answer them with an unasked 408 page and a close before they typed a line;
# ten minutes is POP3's idle limit (RFC 1939 3) and a human's pace.
SHELL_TIMEOUT = 600.0


def default_root() -> Path:
    """The ``web/`` site that ships with protoshell.

    Looked for beside the package (a source checkout or an editable
    install), inside it, and under ``<data>/share/protoshell/web`` where
    ``pip install .`` puts it (pyproject.toml's data-files).  Raises
    FileNotFoundError if none exists.
    """
    here = Path(__file__).resolve().parent  # .../protoshell/server
    candidates = [here.parents[1] / "web", here.parent / "web"]
    # pip puts data files under the scheme's "data" path: sys.prefix in a
    # venv, /usr/local on Debian's system Python, ~/.local with --user.
    for base in (sysconfig.get_path("data"), sys.prefix, site.getuserbase()):
        candidate = Path(base) / "share" / "protoshell" / "web"
        if candidate not in candidates:
            candidates.append(candidate)
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        "the bundled web/ folder was not found (looked in "
        + ", ".join(str(c) for c in candidates)
        + "); pass --root DIR"
    )


def url_for(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def _listen_error(host: str, port: int, exc: OSError) -> str:
    why = exc.strerror or str(exc)
    if isinstance(exc, OSError) and exc.errno is not None:
        import errno

        if exc.errno == errno.EADDRINUSE:
            why = "address already in use (is another server running there?)"
        elif exc.errno == errno.EACCES:
            why = "permission denied (ports below 1024 need privileges)"
    return f"cannot listen on {host}:{port}: {why}"


class EmbeddedServer:
    """The HTTP server on a background thread with its own event loop.

    >>> with EmbeddedServer("web") as server:       # doctest: +SKIP
    ...     urllib.request.urlopen(server.url)
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        host: str = DEFAULT_BIND,
        port: int = 0,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        log: Callable[[str], None] | None = None,
        limits: Limits | None = None,
        ready_timeout: float = 10.0,
    ) -> None:
        self.root = Path(root) if root is not None else default_root()
        self.host = host
        self._requested_port = port
        self.timeout = timeout
        self.log = log
        self.limits = limits
        self.ready_timeout = ready_timeout
        self._background = BackgroundLoop("HTTP server", ready_timeout=ready_timeout, log=log)
        self._server: HttpServer | None = None
        self._port: int | None = None

    # -- public ---------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port listened on (the chosen one when asked for port 0)."""
        if self._port is None:
            raise RuntimeError("the server is not running: call start() first")
        return self._port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT/``."""
        return url_for(self.host, self.port)

    @property
    def running(self) -> bool:
        return self._background.running and self._port is not None

    def start(self) -> EmbeddedServer:
        """Start listening; returns once connections are accepted.

        Raises NotADirectoryError for a bad root, OSError (with the address
        in the message) when the socket cannot be bound, RuntimeError when
        the server did not come up within ``ready_timeout`` seconds.
        """
        if self._background.started:
            raise RuntimeError("the server was already started")
        # Fail in the caller's thread for a bad root or timeout.
        if self.timeout <= 0:
            raise ValueError("timeout must be more than 0 seconds")
        if not self.root.is_dir():
            raise NotADirectoryError(f"not a directory: {self.root}")
        try:
            self._background.start(self._open, self._close)
        except OSError as err:
            raise OSError(err.errno, _listen_error(self.host, self._requested_port, err)) from err
        return self

    def stop(self) -> None:
        """Close the listening socket and every connection; join the thread.
        Safe to call twice, or after a failed start."""
        self._background.stop()
        self._port = None

    def __enter__(self) -> EmbeddedServer:  # noqa: PYI034 - typing.Self is 3.11+
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- the server thread ----------------------------------------------------------

    async def _open(self) -> None:
        server = HttpServer(str(self.root), timeout=self.timeout, limits=self.limits, log=self.log)
        await server.start(self.host, self._requested_port)
        self._server = server
        self._port = server.port

    async def _close(self) -> None:
        if self._server is not None:
            await self._server.close()


# -- protoshell serve -----------------------------------------------------------------


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="protoshell serve",
        description="Serve a folder over HTTP (the lecture's lab server), in the foreground.",
    )
    p.add_argument("--root", metavar="DIR", help="folder to serve (default: the bundled web/)")
    p.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        metavar="N",
        help=f"TCP port (default {DEFAULT_PORT}; 0 picks a free one and prints it)",
    )
    p.add_argument(
        "--bind",
        default=DEFAULT_BIND,
        metavar="ADDR",
        help=f"address to listen on (default {DEFAULT_BIND}: this machine only)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="S",
        help=f"seconds a client may take to send a request (default {DEFAULT_TIMEOUT:g})",
    )
    from .mail.service import add_mail_arguments

    add_mail_arguments(p)
    return p


class _LineLog:
    """Access-log lines to a text stream, flushed once per batch of work in
    the loop (so a burst of requests costs one flush, and an idle server's
    log is never behind)."""

    def __init__(self, stream: IO[str], loop: asyncio.AbstractEventLoop) -> None:
        self.stream = stream
        self.loop = loop
        self.pending: list[str] = []

    def __call__(self, line: str) -> None:
        if not self.pending:
            self.loop.call_soon(self.flush)
        self.pending.append(line)

    def flush(self) -> None:
        if self.pending:
            lines, self.pending = self.pending, []
            with contextlib.suppress(OSError, ValueError):
                self.stream.write("\n".join(lines) + "\n")
                self.stream.flush()


async def _serve(
    args: argparse.Namespace,
    root: Path,
    out: IO[str],
    err: IO[str],
    mail: MailConfig | None = None,
) -> int:
    loop = asyncio.get_running_loop()
    log = _LineLog(err, loop)
    server = HttpServer(str(root), timeout=args.timeout, log=log)
    try:
        await server.start(args.bind, args.port)
    except OSError as exc:
        err.write(f"protoshell: {_listen_error(args.bind, args.port, exc)}\n")
        return ExitStatus.NETWORK
    stack = None
    if mail is not None:  # protoshell serve --mail
        from .mail.service import start_mail_for_serve

        mail.log = log
        stack, status = await start_mail_for_serve(mail, out, err)
        if stack is None:
            await server.close()
            return status
    stop = asyncio.Event()
    handled: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
            pass
    out.write(
        f"protoshell: serving {root} at {url_for(server.host, server.port)} "
        f"(port {server.port}); Ctrl-C stops\n"
    )
    out.flush()
    try:
        await stop.wait()
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
        if stack is not None:
            await stack.close()
        await server.close()
        log.flush()
    out.write("protoshell: server stopped\n")
    out.flush()
    return ExitStatus.OK


def serve_main(
    argv: list[str], *, stdout: IO[str] | None = None, stderr: IO[str] | None = None
) -> int:
    """``protoshell serve ...``; returns the exit code (0, 2 or 3)."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    try:
        args = build_parser().parse_args(argv)
    except _UsageError as exc:
        err.write(f"protoshell serve: {exc} (see protoshell serve --help)\n")
        return ExitStatus.USAGE
    except SystemExit as exc:  # --help
        return int(exc.code) if isinstance(exc.code, int) else ExitStatus.OK
    if not 0 <= args.port <= 65535:
        err.write(f"protoshell serve: --port must be 0..65535, not {args.port}\n")
        return ExitStatus.USAGE
    if not args.timeout > 0:
        err.write("protoshell serve: --timeout must be more than 0 seconds\n")
        return ExitStatus.USAGE
    try:
        root = Path(args.root).resolve() if args.root is not None else default_root()
    except FileNotFoundError as exc:
        err.write(f"protoshell serve: {exc}\n")
        return ExitStatus.USAGE
    if not root.is_dir():
        err.write(f"protoshell serve: --root {args.root}: not a directory\n")
        return ExitStatus.USAGE
    from .mail.service import mail_config_from_args

    try:
        mail = mail_config_from_args(args)  # checks the mail options even without --mail
    except ValueError as exc:
        err.write(f"protoshell serve: {exc}\n")
        return ExitStatus.USAGE
    try:
        return asyncio.run(_serve(args, root, out, err, mail if args.mail else None))
    except KeyboardInterrupt:  # Ctrl-C before the handlers were installed
        out.write("protoshell: server stopped\n")
        return ExitStatus.OK


if __name__ == "__main__":  # python -m protoshell.server.control serve-args...
    sys.exit(serve_main(sys.argv[1:]))
