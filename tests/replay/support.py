"""Servers and helpers for the replay tests (fixtures: conftest.py).

- ``lecture_smtp``: aiosmtpd that knows the lecture's people: it accepts
  Smith@bar.com and Jones@foo.com and answers any other recipient "550 No
  such user here", as the lecture's server does for Green@foo.com.
- ``http_server``: the embedded HTTP server serving the bundled web/.
- ``lecture_message()``: the lecture's IMAP message, 2545 octets: a
  1425-octet header (blank line included) and a 1120-octet body.
- ``pop3_messages()``: the lecture's two POP3 messages, 120 and 200 octets.
- ``replay()`` / ``show()`` / ``demo()``: the entry points in-process, with a
  fake Environment, returning (exit status, stdout, stderr).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from protoshell.context import Environment
from tests.integration.servers import HOST, ServerStartError, _smtp_controller_class

ROOT = Path(__file__).resolve().parents[2]
TRANSCRIPTS = ROOT / "transcripts"
WEB = ROOT / "web"
KNOWN_PEOPLE = {"smith@bar.com", "jones@foo.com", "bob@bar.com"}


class LectureHandler:
    """aiosmtpd handler: the lecture's server, which knows Jones, not Green."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address.lower() not in KNOWN_PEOPLE:
            return "550 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(bytes(envelope.original_content or b""))
        return "250 OK"


@dataclass
class LectureSMTP:
    host: str
    port: int
    handler: LectureHandler

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"


@contextlib.contextmanager
def running_lecture_smtp() -> Iterator[LectureSMTP]:
    handler = LectureHandler()
    controller = _smtp_controller_class()(handler, hostname=HOST, port=0, server_hostname="foo.com", ready_timeout=15)
    try:
        controller.start()
    except Exception as exc:
        with contextlib.suppress(Exception):
            controller.stop(no_assert=True)
        raise ServerStartError(f"aiosmtpd did not start: {exc!r}") from exc
    try:
        yield LectureSMTP(HOST, controller.port, handler)
    finally:
        controller.stop(no_assert=True)


def _sized(lines: list[bytes], size: int, filler: bytes) -> bytes:
    """``lines`` (CRLF-terminated) padded by one more line to exactly ``size`` octets."""
    have = sum(len(x) for x in lines)
    pad = size - have - len(filler) - 2
    assert pad >= 0, (have, size)
    return b"".join(lines) + filler + b"x" * pad + b"\r\n"


def lecture_message() -> bytes:
    """2545 octets: BODY[HEADER] 1425 (with the blank line), BODY[TEXT] 1120."""
    header_lines = [
        b"From: Smith <Smith@bar.com>\r\n",
        b"To: Jones <Jones@foo.com>\r\n",
        b"Subject: the lecture's message\r\n",
        b"Date: Mon, 23 May 2005 22:38:34 +0000\r\n",
        b"Message-ID: <1896.6971@mailgate.dobbs.org>\r\n",
    ]
    header = _sized(header_lines, 1425 - 2, b"X-Padding: ") + b"\r\n"
    body = _sized([b"Blah blah blah...\r\n", b"...etc. etc. etc.\r\n"], 1120, b"")
    message = header + body
    assert (len(header), len(body), len(message)) == (1425, 1120, 2545)
    return message


def pop3_messages() -> tuple[bytes, bytes]:
    one = _sized([b"Subject: message 1\r\n", b"\r\n"], 120, b"")
    two = _sized([b"Subject: message 2\r\n", b"\r\n"], 200, b"")
    assert (len(one), len(two)) == (120, 200)
    return one, two


@dataclass
class Run:
    status: int
    out: str
    err: str


def fake_env(stdin: bytes = b"", *, tty: bool = False) -> tuple[Environment, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    env = Environment(
        stdin=io.BytesIO(stdin),
        stdout=out,
        stderr=err,
        stdin_isatty=tty,
        stdout_isatty=False,
        no_color_env=True,
    )
    return env, out, err


def replay(*args: str, stdin: bytes = b"") -> Run:
    from protoshell.replay.cli_entry import replay_main

    env, out, err = fake_env(stdin)
    timeout = [] if "--timeout" in args else ["--timeout", "5"]
    status = replay_main([*args, *timeout], env=env)
    return Run(status, out.getvalue(), err.getvalue())


def show(*args: str) -> Run:
    from protoshell.replay.cli_entry import show_main

    env, out, err = fake_env()
    status = show_main(list(args), env=env)
    return Run(status, out.getvalue(), err.getvalue())


def demo(*args: str, stdin: bytes = b"") -> Run:
    from protoshell.replay.cli_entry import demo_main

    env, out, err = fake_env(stdin)
    timeout = [] if "--timeout" in args else ["--timeout", "5"]
    status = demo_main([*args, *timeout], env=env)
    return Run(status, out.getvalue(), err.getvalue())
