"""The three mail servers together: SMTP, POP3 and IMAP over one Maildir.

- ``MailStack``: the servers in the running event loop (``await start()``,
  ``await close()``); ``protoshell serve --mail`` runs it beside the HTTP
  server in its loop.
- ``MailServices``: the same on its own thread and event loop, like
  ``EmbeddedServer`` (and aiosmtpd's ``Controller``): ``start()`` returns once
  all listen (or raises OSError naming the port), ``stop()`` joins; a
  context manager.  What tests use, with port 0 for free ports.

IMAP is written by another module (``protoshell.server.mail.imap``), whose
entry point is ``start_imap_server(...)``; it is called with the keyword
arguments it declares among ``maildir, store, host, port, user, password,
accounts, ssl_context, plaintext_login, log``, and returns either an
``asyncio.Server`` or an object with ``.port`` and ``async close()``.  When
that module is missing, the stack runs without IMAP and says why
(``imap_error``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import importlib
import inspect
import ipaddress
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final

from ..background import BackgroundLoop
from .certs import CertError, default_maildir, ensure_certificate, server_context
from .maildir import MaildirStore
from .pop3 import DEFAULT_TIMEOUT as POP3_TIMEOUT
from .pop3 import Pop3Service
from .smtp import DATA_SIZE_LIMIT, LECTURE_UNKNOWN_USERS, start_smtp_server

__all__ = [
    "DEMO_PASSWORD",
    "DEMO_USER",
    "MailConfig",
    "MailServices",
    "MailStack",
    "add_mail_arguments",
    "is_loopback",
    "mail_config_from_args",
    "start_mail_for_serve",
]

DEMO_USER: Final = "bob"  # the lecture's POP3 user
DEMO_PASSWORD: Final = "redqueen"
SMTP_PORT: Final = 2525
POP3_PORT: Final = 1110
IMAP_PORT: Final = 1143

LogSink = Callable[[str], None]


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``: plain-text login is then
    allowed (nothing crosses a network)."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass
class MailConfig:
    """What the mail servers need.  ``cert``/``key`` None: the self-signed
    certificate of ``certs.ensure_certificate`` (made at first start);
    ``tls=False``: no STARTTLS at all."""

    maildir: Path = field(default_factory=default_maildir)
    host: str = "127.0.0.1"
    smtp_port: int = SMTP_PORT
    pop3_port: int = POP3_PORT
    imap_port: int = IMAP_PORT
    user: str = DEMO_USER
    password: str = DEMO_PASSWORD
    cert: Path | None = None
    key: Path | None = None
    tls: bool = True
    imap: bool = True
    pop3_timeout: float = POP3_TIMEOUT
    smtp_timeout: float = 300.0
    data_size_limit: int = DATA_SIZE_LIMIT
    log: LogSink | None = None

    @property
    def plaintext_login(self) -> bool:
        return is_loopback(self.host)


class _ServerHandle:
    """An ``asyncio.Server`` or IMAP's own object, closed the same way."""

    def __init__(self, name: str, server: Any) -> None:
        self.name = name
        self.server = server

    @property
    def port(self) -> int:
        sockets = getattr(self.server, "sockets", None)
        if sockets:
            return int(sockets[0].getsockname()[1])
        return int(self.server.port)

    async def close(self) -> None:
        server = self.server
        if isinstance(server, asyncio.AbstractServer):
            server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 5)
            return
        result = server.close()
        if inspect.isawaitable(result):
            await result


def _listen_error(what: str, host: str, port: int, exc: OSError) -> OSError:
    why = exc.strerror or str(exc)
    if exc.errno == errno.EADDRINUSE:
        why = "address already in use (is another server running there?)"
    elif exc.errno == errno.EACCES:
        why = "permission denied (ports below 1024 need privileges)"
    shown = f"[{host}]" if ":" in host else host
    return OSError(exc.errno, f"cannot listen on {shown}:{port} ({what}): {why}")


class MailStack:
    """SMTP, POP3 and (when available) IMAP in the running loop."""

    def __init__(self, config: MailConfig) -> None:
        self.config = config
        self.store: MaildirStore | None = None
        self.ssl_context: ssl.SSLContext | None = None
        self.cert: Path | None = None
        self.cert_made = False
        self.imap_error: str | None = None
        self.pop3: Pop3Service | None = None
        self._handles: dict[str, _ServerHandle] = {}

    # -- set-up that may fail before anything listens -----------------------------

    def prepare(self) -> None:
        """Open the Maildir and load (or make) the certificate.  Raises
        CertError or OSError with a one-line message."""
        c = self.config
        try:
            self.store = MaildirStore(c.maildir)
        except OSError as exc:
            raise OSError(
                exc.errno, f"cannot use {c.maildir} as a Maildir: {exc.strerror or exc}"
            ) from exc
        if not c.tls:
            return
        if (c.cert is None) != (c.key is None):
            raise CertError("give both --cert FILE and --key FILE, or neither")
        if c.cert is None or c.key is None:
            cert, key, self.cert_made = ensure_certificate()
        else:
            cert, key = c.cert, c.key
        self.ssl_context = server_context(cert, key)
        self.cert = Path(cert)

    async def start(self) -> None:
        """Listen on all ports; on any failure close what was opened and
        raise (OSError naming the port and the protocol, or CertError)."""
        if self.store is None:
            self.prepare()
        assert self.store is not None
        c = self.config
        try:
            try:
                smtp = await start_smtp_server(
                    self.store,
                    host=c.host,
                    port=c.smtp_port,
                    user=c.user,
                    password=c.password,
                    ssl_context=self.ssl_context,
                    plaintext_login=c.plaintext_login,
                    data_size_limit=c.data_size_limit,
                    timeout=c.smtp_timeout,
                    log=c.log,
                )
            except OSError as exc:
                raise _listen_error("SMTP", c.host, c.smtp_port, exc) from exc
            self._handles["smtp"] = _ServerHandle("smtp", smtp)
            pop3 = Pop3Service(
                self.store,
                {c.user: c.password},
                ssl_context=self.ssl_context,
                plaintext_login=c.plaintext_login,
                timeout=c.pop3_timeout,
                log=c.log,
            )
            try:
                await pop3.start(c.host, c.pop3_port)
            except OSError as exc:
                raise _listen_error("POP3", c.host, c.pop3_port, exc) from exc
            self.pop3 = pop3
            self._handles["pop3"] = _ServerHandle("pop3", pop3)
            if c.imap:
                await self._start_imap()
        except BaseException:
            await self.close()
            raise

    async def _start_imap(self) -> None:
        c = self.config
        try:
            module = importlib.import_module("protoshell.server.mail.imap")
            start = module.start_imap_server
        except (ImportError, AttributeError) as exc:
            self.imap_error = f"the IMAP server is not available ({exc})"
            return
        offered: dict[str, Any] = {
            "maildir": c.maildir,
            "store": self.store,
            "host": c.host,
            "port": c.imap_port,
            "user": c.user,
            "password": c.password,
            "accounts": {c.user: c.password},
            "ssl_context": self.ssl_context,
            "plaintext_login": c.plaintext_login,
            "log": c.log,
        }
        params = inspect.signature(start).parameters
        takes_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        kwargs = {k: v for k, v in offered.items() if takes_all or k in params}
        try:
            result = start(**kwargs)
            server = await result if inspect.isawaitable(result) else result
        except OSError as exc:
            raise _listen_error("IMAP", c.host, c.imap_port, exc) from exc
        self._handles["imap"] = _ServerHandle("imap", server)

    async def close(self) -> None:
        handles, self._handles = list(self._handles.values()), {}
        for handle in reversed(handles):
            with contextlib.suppress(Exception):
                await handle.close()
        await asyncio.sleep(0)

    # -- what is running ---------------------------------------------------------------

    def port(self, name: str) -> int | None:
        handle = self._handles.get(name)
        return handle.port if handle is not None else None

    @property
    def smtp_port(self) -> int:
        port = self.port("smtp")
        if port is None:
            raise RuntimeError("the mail servers are not running")
        return port

    @property
    def pop3_port(self) -> int:
        port = self.port("pop3")
        if port is None:
            raise RuntimeError("the mail servers are not running")
        return port

    @property
    def imap_port(self) -> int | None:
        """None when the IMAP server is not available (see ``imap_error``)."""
        return self.port("imap")

    def urls(self) -> dict[str, str]:
        host = f"[{self.config.host}]" if ":" in self.config.host else self.config.host
        out = {name: f"{name}://{host}:{h.port}" for name, h in self._handles.items()}
        return out

    def describe(self) -> list[str]:
        """What ``protoshell serve --mail`` prints: ports, account, folder."""
        c = self.config
        urls = self.urls()
        names = {"smtp": "SMTP", "pop3": "POP3", "imap": "IMAP"}
        lines = ["mail: " + ", ".join(f"{names[n]} {u}" for n, u in urls.items())]
        if self.imap_error:
            lines.append(f"mail: no IMAP: {self.imap_error}")
        unknown = ", ".join(sorted(LECTURE_UNKNOWN_USERS))
        lines.append(
            f"mail: Maildir {c.maildir} (mail to any address lands there, "
            f"but {unknown}: 550, as in the lecture)"
        )
        where = "allowed without TLS on loopback" if c.plaintext_login else "after STARTTLS only"
        lines.append(f"mail: demo account: user {c.user}, password {c.password} (login {where})")
        if self.cert is not None:
            made = ", made now" if self.cert_made else ""
            lines.append(
                f"mail: STARTTLS/STLS certificate {self.cert}{made}; trust it with "
                f"--cafile {self.cert} (curl: --cacert)"
            )
        else:
            lines.append("mail: no TLS")
        return lines


class MailServices:
    """The mail servers on a background thread with their own event loop.

    >>> with MailServices(tmp / "Maildir", smtp_port=0, pop3_port=0, imap_port=0,
    ...                   cert=c, key=k) as mail:          # doctest: +SKIP
    ...     smtplib.SMTP("127.0.0.1", mail.smtp_port)
    """

    def __init__(
        self,
        maildir: str | Path | None = None,
        host: str = "127.0.0.1",
        smtp_port: int = SMTP_PORT,
        pop3_port: int = POP3_PORT,
        imap_port: int = IMAP_PORT,
        user: str = DEMO_USER,
        password: str = DEMO_PASSWORD,
        cert: str | Path | None = None,
        key: str | Path | None = None,
        *,
        tls: bool = True,
        imap: bool = True,
        pop3_timeout: float = POP3_TIMEOUT,
        smtp_timeout: float = 300.0,
        data_size_limit: int = DATA_SIZE_LIMIT,
        log: LogSink | None = None,
        ready_timeout: float = 10.0,
    ) -> None:
        self.config = MailConfig(
            maildir=Path(maildir) if maildir is not None else default_maildir(),
            host=host,
            smtp_port=smtp_port,
            pop3_port=pop3_port,
            imap_port=imap_port,
            user=user,
            password=password,
            cert=Path(cert) if cert is not None else None,
            key=Path(key) if key is not None else None,
            tls=tls,
            imap=imap,
            pop3_timeout=pop3_timeout,
            smtp_timeout=smtp_timeout,
            data_size_limit=data_size_limit,
            log=log,
        )
        self.ready_timeout = ready_timeout
        self.stack = MailStack(self.config)
        self._background = BackgroundLoop("mail servers", ready_timeout=ready_timeout, log=log)

    # -- public -------------------------------------------------------------------------

    @property
    def store(self) -> MaildirStore:
        if self.stack.store is None:
            raise RuntimeError("the mail servers are not running: call start() first")
        return self.stack.store

    @property
    def smtp_port(self) -> int:
        return self.stack.smtp_port

    @property
    def pop3_port(self) -> int:
        return self.stack.pop3_port

    @property
    def imap_port(self) -> int | None:
        return self.stack.imap_port

    @property
    def imap_error(self) -> str | None:
        return self.stack.imap_error

    @property
    def host(self) -> str:
        return self.config.host

    @property
    def cert(self) -> Path | None:
        return self.stack.cert

    def urls(self) -> dict[str, str]:
        return self.stack.urls()

    @property
    def running(self) -> bool:
        return self._background.running

    def start(self) -> MailServices:
        """Start all servers; returns once they listen.  Raises CertError,
        OSError (naming the port), or RuntimeError after ``ready_timeout``."""
        if self._background.started:
            raise RuntimeError("the mail servers were already started")
        self.stack.prepare()  # certificate and folder errors in the caller's thread
        self._background.start(self.stack.start, self.stack.close, after_close=_cancel_all)
        return self

    def stop(self) -> None:
        """Close every server and connection; join the thread.  Safe twice."""
        self._background.stop()

    def __enter__(self) -> MailServices:  # noqa: PYI034 - typing.Self is 3.11+
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel connection tasks still running (aiosmtpd's, POP3's) and let
    them finish, so the loop closes without 'Task was destroyed' noise."""
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        with contextlib.suppress(Exception):
            loop.run_until_complete(
                asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 5)
            )


# -- protoshell serve --mail --------------------------------------------------------------


def add_mail_arguments(p: argparse.ArgumentParser) -> None:
    """The ``--mail`` options of ``protoshell serve``."""
    g = p.add_argument_group("mail (--mail)")
    g.add_argument(
        "--mail",
        action="store_true",
        help=f"also serve SMTP, POP3 and IMAP over one Maildir "
        f"(demo account {DEMO_USER}:{DEMO_PASSWORD})",
    )
    g.add_argument(
        "--maildir",
        metavar="DIR",
        help="the Maildir (default: $XDG_DATA_HOME/protoshell/Maildir, "
        "else ~/.local/share/protoshell/Maildir)",
    )
    g.add_argument(
        "--user",
        metavar="NAME:PASSWORD",
        help=f"the account for POP3, IMAP and SMTP AUTH (default {DEMO_USER}:{DEMO_PASSWORD})",
    )
    g.add_argument("--smtp-port", type=int, default=SMTP_PORT, metavar="N",
                   help=f"SMTP port (default {SMTP_PORT}; 0: a free one)")  # fmt: skip
    g.add_argument("--pop3-port", type=int, default=POP3_PORT, metavar="N",
                   help=f"POP3 port (default {POP3_PORT})")  # fmt: skip
    g.add_argument("--imap-port", type=int, default=IMAP_PORT, metavar="N",
                   help=f"IMAP port (default {IMAP_PORT})")  # fmt: skip
    g.add_argument(
        "--cert",
        metavar="FILE",
        help="TLS certificate (PEM) for STARTTLS/STLS (default: a self-signed one, made "
        "with openssl at first start and kept in the data folder)",
    )
    g.add_argument("--key", metavar="FILE", help="the private key (PEM) of --cert")


_MAIL_ONLY = ("maildir", "user", "cert", "key")


def mail_config_from_args(args: argparse.Namespace, log: LogSink | None = None) -> MailConfig:
    """A MailConfig from parsed arguments; raises ValueError (one line) for
    bad ones."""
    if not args.mail:
        given = [f"--{name}" for name in _MAIL_ONLY if getattr(args, name) is not None]
        if given:
            raise ValueError(f"{given[0]} needs --mail")
    for name in ("smtp_port", "pop3_port", "imap_port"):
        value = getattr(args, name)
        if not 0 <= value <= 65535:
            raise ValueError(f"--{name.replace('_', '-')} must be 0..65535, not {value}")
    ports = [args.smtp_port, args.pop3_port, args.imap_port, args.port]
    fixed = [p for p in ports if p != 0]
    if len(set(fixed)) != len(fixed):
        raise ValueError("--port, --smtp-port, --pop3-port and --imap-port must differ")
    user, password = DEMO_USER, DEMO_PASSWORD
    if args.user is not None:
        user, sep, password = args.user.partition(":")
        if not sep or not user or not password:
            raise ValueError(f"--user wants NAME:PASSWORD, not {args.user!r}")
        if any(ch.isspace() for ch in user) or not user.isprintable():
            raise ValueError("--user: the name cannot contain spaces or control characters")
        if not password.isprintable():
            raise ValueError("--user: the password cannot contain control characters")
    if (args.cert is None) != (args.key is None):
        raise ValueError("give both --cert FILE and --key FILE, or neither")
    return MailConfig(
        maildir=Path(args.maildir).expanduser() if args.maildir else default_maildir(),
        host=args.bind,
        smtp_port=args.smtp_port,
        pop3_port=args.pop3_port,
        imap_port=args.imap_port,
        user=user,
        password=password,
        cert=Path(args.cert).expanduser() if args.cert else None,
        key=Path(args.key).expanduser() if args.key else None,
        log=log,
    )


async def start_mail_for_serve(
    config: MailConfig, out: IO[str], err: IO[str]
) -> tuple[MailStack | None, int]:
    """Start the mail stack for ``protoshell serve --mail`` and print what
    runs.  Returns ``(stack, 0)``, or ``(None, exit status)`` after one line
    on ``err``: 2 for a certificate or folder problem, 3 when a port is taken."""
    stack = MailStack(config)
    try:
        stack.prepare()
    except CertError as exc:
        err.write(f"protoshell serve: {exc}\n")
        return None, 2
    except OSError as exc:
        err.write(f"protoshell serve: {exc.strerror or exc}\n")
        return None, 2
    try:
        await stack.start()
    except OSError as exc:
        err.write(f"protoshell: {exc.strerror or exc}\n")
        return None, 3
    for line in stack.describe():
        out.write(f"protoshell: {line}\n")
    out.flush()
    return stack, 0
