"""A batch replay sends its next C: line as soon as the server's turn has
ended as the transcript expects, before that turn is shown (Session.presend,
Session.presend_plan): what is shown and checked is the same as if it had
been sent in its turn, and nothing goes out early that should not go out.

Against real servers on 127.0.0.1: aiosmtpd, and a scripted socket server
where the test needs to see exactly what the client sent."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from protoshell.proto.base import ServerLine as WireLine
from protoshell.replay.engine import Engine, ReplayOptions
from protoshell.session import Exchange
from protoshell.target import parse_target
from protoshell.transcript.parse import parse_transcript
from tests.integration.scripted_server import ScriptedServer
from tests.integration.servers import SMTPServer

from .support import replay


def run_engine(text: str, url: str) -> tuple[Engine, list[tuple[str, bytes, int]], int]:
    """Replay ``text``; each C line and S line shown, with the bytes the
    client had sent by the time it was shown."""
    seen: list[tuple[str, bytes, int]] = []
    engine: Engine
    transports: list[object] = []  # output is held, and may be shown after the close

    def observe(ex: Exchange) -> None:
        if engine.session is not None and not transports:
            transports.append(engine.session.transport)
        if ex.direction == "C" or isinstance(ex.event, WireLine):
            seen.append((ex.direction, ex.raw, transports[0].bytes_out))  # type: ignore[attr-defined]

    engine = Engine(parse_transcript(text, "t.txt"), parse_target(url), ReplayOptions(timeout=5), observers=[observe])
    result = asyncio.run(engine.run())
    return engine, seen, result.status


def test_the_next_line_is_on_the_wire_before_the_answer_is_shown(smtp_server: SMTPServer) -> None:
    text = "S: 220 *\nC: EHLO me\nS: ...\nS: 250 *\nC: NOOP\nS: 250 *\n# a comment\nC: RSET\nS: 250 *\nC: QUIT\nS: 221 *\n"
    _, seen, status = run_engine(text, smtp_server.url)
    assert status == 0
    # Shown in the transcript's order, every C: line after the answer before it.
    assert [(d, raw.split()[0]) for d, raw, _ in seen if d == "C" or raw[:4] in (b"250 ", b"221 ")] == [
        ("C", b"EHLO"),
        ("S", b"250"),
        ("C", b"NOOP"),
        ("S", b"250"),
        ("C", b"RSET"),
        ("S", b"250"),
        ("C", b"QUIT"),
        ("S", b"221"),
    ]
    sent = {raw.split()[0]: out for d, raw, out in seen if d == "C"}
    answers = [out for d, raw, out in seen if d == "S" and raw[:4] in (b"250 ", b"221 ")]
    # After an elision the next line waits for the turn (the usual way)...
    assert answers[0] < sent[b"NOOP"]
    # ...after a plain 250 that the transcript expects, it was already sent.
    assert answers[1] == sent[b"RSET"]
    assert answers[2] == sent[b"QUIT"]


def test_a_multi_line_answer_that_matches_sends_the_next_line_early() -> None:
    script = [
        ("send", b"220 x\r\n"),
        ("expect", b"EHLO"),
        ("send", b"250-a\r\n250 b\r\n"),
        ("expect", b"NOOP"),
        ("send", b"250 ok\r\n"),
        ("expect", b"QUIT"),
        ("send", b"221 bye\r\n"),
        ("close",),
    ]
    text = "S: 220 x\nC: EHLO me\nS: 250-a\nS: 250 b\nC: NOOP\nS: 250 ok\nC: QUIT\nS: 221 bye\n"
    with ScriptedServer(script) as server:
        _, seen, status = run_engine(text, f"smtp://{server.url_host}")
    assert status == 0
    shown = [(d, raw) for d, raw, _ in seen]
    assert shown.index(("S", b"250 b\r\n")) < shown.index(("C", b"NOOP\r\n"))
    out_at = {(d, raw): out for d, raw, out in seen}
    assert out_at[("S", b"250-a\r\n")] == out_at[("C", b"NOOP\r\n")]  # framed, then sent, then shown


@pytest.mark.parametrize(
    ("text", "answer", "next_line", "why"),
    [
        # one line: the status is told from the bytes, before framing
        ("S: 220 x\nC: NOOP\nS: 250 OK\nC: RSET\nS: 250 OK\n", b"550 no\r\n", b"RSET", ":3: expected status 250"),
        # several lines: framed first, then checked (a reply of another length but the same
        # code would match by status: RFC 5321 4.2.1, one reply)
        (
            "S: 220 x\nC: NOOP\nS: 250-a\nS: 250-b\nS: 250 c\nC: RSET\nS: 250 OK\n",
            b"550-a\r\n550 b\r\n",
            b"RSET",
            ":3: expected status 250-",
        ),
    ],
)
def test_a_mismatching_answer_stops_before_the_next_line_goes_out(
    tmp_path: Path, text: str, answer: bytes, next_line: bytes, why: str
) -> None:
    path = tmp_path / "t.txt"
    path.write_text(text)
    script = [("send", b"220 x\r\n"), ("expect", b"NOOP"), ("send", answer), ("expect", next_line)]
    with ScriptedServer(script) as server:
        r = replay(str(path), "--target", f"smtp://{server.url_host}")
    assert r.status == 1, r.out + r.err
    assert f"{path}{why}" in r.err
    assert next_line not in server.received  # the server's last read ended at the client's close


def test_a_line_that_needs_a_captured_value_waits_for_it(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("S: 220 x\nC: NOOP\nS: 250 queued as $qid\nC: VRFY $qid\nS: 250 OK\n")
    script = [
        ("send", b"220 x\r\n"),
        ("expect", b"NOOP"),
        ("send", b"250 queued as Q42\r\n"),
        ("expect", b"VRFY"),
        ("send", b"250 OK\r\n"),
        ("expect", b"\r\n"),
    ]
    with ScriptedServer(script) as server:
        r = replay(str(path), "--target", f"smtp://{server.url_host}")
    assert r.status == 0, r.out + r.err
    assert b"VRFY Q42\r\n" in server.received


def test_a_whole_mail_transaction_over_starttls_arrives_intact(smtp_server_factory: object, tls_ca: object, tmp_path: Path) -> None:
    """Early sends over TLS, through DATA (message lines go early after 354,
    dot-stuffed by the framer as in their turn) to the end of the message."""
    server = smtp_server_factory("starttls")  # type: ignore[operator]
    path = tmp_path / "t.txt"
    path.write_text(
        "S: 220 *\nC: EHLO me\nS: 250-*\nS: ...\nC: MAIL FROM:<a@b.example>\nS: 250 *\nC: RCPT TO:<c@d.example>\n"
        "S: 250 *\nC: DATA\nS: 354 *\nC: Subject: early\nC:\nC: .a line that starts with a dot\nC: the end\nC: .\n"
        "S: 250 *\nC: QUIT\nS: 221 *\n"
    )
    r = replay(str(path), "--target", server.url, "--starttls", "--cafile", str(tls_ca.ca_cert))  # type: ignore[attr-defined]
    assert r.status == 0, r.out + r.err
    (message,) = server.wait_for_messages()  # type: ignore[attr-defined]
    assert message.tls and message.rcpt_tos == ["c@d.example"]
    assert message.data.endswith(b"Subject: early\r\n\r\n.a line that starts with a dot\r\nthe end\r\n")
    assert "C: ..a line that starts with a dot" in r.out  # shown as on the wire, as in its turn
