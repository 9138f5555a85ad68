"""The teaching SMTP server: aiosmtpd, delivering into the shared Maildir.

aiosmtpd (aio-libs) is a well-kept, readable SMTP server; writing another
one would teach nothing.  What protoshell adds is the handler and the
settings:

- every message accepted is delivered, exactly as received, to the one
  Maildir (any recipient address counts as local: it is a one-mailbox demo),
  except the lecture's unknown user ``Green@foo.com``, refused with
  ``550 No such user here`` so that the lecture's exchange replays verbatim;
- ``DATA`` is answered ``250`` only once the message is safely in ``new/``
  (written to ``tmp/``, fsynced, linked); a client that vanishes mid-DATA
  leaves nothing behind, and a failed write answers ``451``;
- the size of a message is limited (``data_size_limit``, 32 MiB by default,
  announced as ``SIZE`` in the EHLO reply, RFC 1870); aiosmtpd stops keeping
  data past the limit or past 1001-octet lines (RFC 5321 4.5.3.1.6), so a
  huge message or line costs no memory, and answers 552 or 500;
- STARTTLS (RFC 3207) with the given TLS context;
- AUTH PLAIN and LOGIN (RFC 4954) with the demo account; without TLS only
  when ``plaintext_login`` (the server listens on loopback), and the
  greeting says which.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Callable, Collection
from typing import Any, Final

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from .maildir import MaildirStore

__all__ = [
    "DATA_SIZE_LIMIT",
    "LECTURE_UNKNOWN_USERS",
    "MaildirHandler",
    "smtp_greeting",
    "start_smtp_server",
]

#: The largest message accepted (RFC 1870 SIZE): 32 MiB.
DATA_SIZE_LIMIT: Final = 32 << 20
#: Recipients refused with 550, as the lecture's server refuses Green.
LECTURE_UNKNOWN_USERS: Final = frozenset({"Green@foo.com"})  # compared case-insensitively

LogSink = Callable[[str], None]

# aiosmtpd logs to "mail.log"; with no logging configured, Python would
# print its warnings (a deprecation note at every AUTH) over the shell's
# screen.  A NullHandler keeps it quiet unless the application configures
# logging.
logging.getLogger("mail.log").addHandler(logging.NullHandler())


def smtp_greeting(plaintext_login: bool) -> str:
    """The text after ``220 hostname`` (aiosmtpd's ``ident``)."""
    if plaintext_login:
        return (
            "protoshell ESMTP teaching server ready; "
            "AUTH PLAIN/LOGIN allowed without TLS on loopback"
        )
    return "protoshell ESMTP teaching server ready; STARTTLS first, then AUTH"


class _TeachingSMTP(SMTP):
    """aiosmtpd with AUTH LOGIN's usual prompts, ``334 VXNlcm5hbWU6`` and
    ``334 UGFzc3dvcmQ6`` (base64 of ``Username:`` and ``Password:``, as
    Postfix and Exchange send them; draft-murchison-sasl-login 2).
    aiosmtpd's own are ``User Name\\x00`` and ``Password\\x00``: a student
    decoding them met a NUL byte, shown as ``\\x00`` on screen."""

    AuthLoginUsernameChallenge = "Username:"
    AuthLoginPasswordChallenge = "Password:"


class MaildirHandler:
    """aiosmtpd handler: accept (nearly) every recipient, deliver to the Maildir."""

    def __init__(
        self,
        store: MaildirStore,
        *,
        unknown_users: Collection[str] = LECTURE_UNKNOWN_USERS,
        log: LogSink | None = None,
    ) -> None:
        self.store = store
        self.unknown_users = {u.lower() for u in unknown_users}
        self.log = log
        self.delivered = 0

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address.lower() in self.unknown_users:
            return "550 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data = envelope.original_content
        if data is None:
            content = envelope.content
            data = (
                content.encode("utf-8", "surrogateescape") if isinstance(content, str) else content
            )
        try:
            # fsync can take a while for a big message: not on the loop.
            key = await asyncio.to_thread(self.store.deliver, bytes(data or b""))
        except OSError as exc:
            if self.log is not None:
                self.log(f"smtp: cannot deliver to {self.store.path}: {exc}")
            return "451 Requested action aborted: cannot write to the mailbox"
        self.delivered += 1
        if self.log is not None:
            self.log(
                f"smtp: delivered {len(data or b'')} octets from <{envelope.mail_from}> "
                f"for {len(envelope.rcpt_tos)} recipient(s) as {key}"
            )
        return f"250 OK message accepted, delivered as {key}"


def _authenticator(user: str, password: str) -> Callable[..., AuthResult]:
    want_user, want_password = user.encode("utf-8"), password.encode("utf-8")

    def authenticate(
        server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login == want_user
            and data.password == want_password
        )
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)

    return authenticate


async def start_smtp_server(
    store: MaildirStore,
    *,
    host: str = "127.0.0.1",
    port: int = 2525,
    user: str,
    password: str,
    ssl_context: ssl.SSLContext | None,
    plaintext_login: bool = True,
    hostname: str = "localhost",
    data_size_limit: int = DATA_SIZE_LIMIT,
    timeout: float = 300.0,
    unknown_users: Collection[str] = LECTURE_UNKNOWN_USERS,
    log: LogSink | None = None,
) -> asyncio.Server:
    """Listen on ``host:port`` (0: a free port) in the running loop; returns
    the ``asyncio.Server`` (close it to stop).  Raises OSError if the port
    cannot be bound."""
    loop = asyncio.get_running_loop()
    handler = MaildirHandler(store, unknown_users=unknown_users, log=log)
    authenticator = _authenticator(user, password)

    def factory() -> SMTP:
        return _TeachingSMTP(
            handler,
            hostname=hostname,
            ident=smtp_greeting(plaintext_login),
            data_size_limit=data_size_limit,
            enable_SMTPUTF8=True,
            decode_data=False,
            tls_context=ssl_context,
            require_starttls=False,
            timeout=timeout,
            authenticator=authenticator,
            auth_required=False,
            auth_require_tls=not plaintext_login,
            loop=loop,
        )

    return await loop.create_server(
        factory,
        host,
        port,
        family=socket.AF_INET6 if ":" in host else socket.AF_INET,
        reuse_address=True,
    )
