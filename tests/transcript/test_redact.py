"""redact.py: a recorded transcript holds no secret, but still the usernames."""

from __future__ import annotations

import base64
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protoshell.transcript import Redactor, TranscriptWriter, parse_transcript
from protoshell.transcript.model import ClientLine


def b64(data: bytes) -> bytes:
    return base64.b64encode(data)


PLAIN = b64(b"\x00bob\x00redqueen")

# (protocol, exchange as (side, wire bytes), secrets that must vanish,
#  text that must stay, number of client lines redacted)
SESSIONS = [
    (
        "pop3",
        [
            ("S", b"+OK POP3 server ready <1896.6971@mailgate.dobbs.org>\r\n"),
            ("C", b"USER bob\r\n"),
            ("S", b"+OK bob\r\n"),
            ("C", b"PASS red queen\r\n"),
            ("S", b"+OK bob's maildrop has 2 messages (320 octets)\r\n"),
            ("C", b"STAT\r\n"),
        ],
        [b"red queen", b"queen"],
        [b"USER bob", b"PASS <redacted>", b"STAT"],
        1,
    ),
    (
        "pop3s",
        [
            ("C", b"APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n"),
            ("S", b"+OK maildrop has 1 message (369 octets)\r\n"),
        ],
        [b"c4c9334bac560ecc979e58001b3e22fb"],
        [b"APOP mrose <redacted>"],
        1,
    ),
    (
        "pop3",
        [
            ("C", b"AUTH PLAIN\r\n"),
            ("S", b"+ \r\n"),
            ("C", PLAIN + b"\r\n"),
            ("S", b"+OK Logged in.\r\n"),
            ("C", b"LIST\r\n"),
        ],
        [PLAIN],
        [b"AUTH PLAIN", b"LIST"],
        1,
    ),
    (
        "imap",
        [
            ("S", b"* OK IMAP4rev1 server ready\r\n"),
            ("C", b"A0001 LOGIN frobozz xyzzy\r\n"),
            ("S", b"A0001 OK LOGIN completed\r\n"),
            ("C", b'A0002 LOGIN "frobozz" "xy \\"zz\\" y"\r\n'),
            ("S", b"A0002 OK LOGIN completed\r\n"),
            ("C", b'A0003 USER "frobozz" "xyzzy"\r\n'),  # the lecture's spelling
            ("S", b"A0003 BAD unknown command\r\n"),
            ("C", b"A0004 SELECT INBOX\r\n"),
        ],
        [b"xyzzy", b'\\"zz\\"'],
        [
            b"A0001 LOGIN frobozz <redacted>",
            b'A0002 LOGIN "frobozz" "<redacted>"',
            b'A0003 USER "frobozz" "<redacted>"',
            b"A0004 SELECT INBOX",
        ],
        3,
    ),
    (
        "imap",
        [
            ("C", b"A1 LOGIN {7}\r\n"),
            ("S", b"+ Ready for literal data\r\n"),
            ("C", b"frobozz {9}\r\n"),
            ("S", b"+ Ready for literal data\r\n"),
            ("C", b"sw0rdfish\r\n"),
            ("S", b"A1 OK LOGIN completed\r\n"),
            ("C", b"A2 LOGIN bob {5+}\r\n"),  # LITERAL+ (RFC 7888): no continuation
            ("C", b"hunter\r\n"),  # 5 secret octets, then the rest of the line
            ("S", b"A2 NO wrong\r\n"),
            ("C", b"A3 NOOP\r\n"),
        ],
        [b"sw0rdfish", b"hunte"],
        [b"A1 LOGIN {7}", b"frobozz {9}", b"A2 LOGIN bob {5+}", b"A3 NOOP"],
        2,
    ),
    (
        "imaps",
        [
            ("C", b"A1 AUTHENTICATE PLAIN " + PLAIN + b"\r\n"),  # SASL-IR, RFC 4959
            ("S", b"A1 OK Logged in\r\n"),
            ("C", b"A2 AUTHENTICATE PLAIN\r\n"),
            ("S", b"+ \r\n"),
            ("C", b64(b"\x00alice\x00wonderland") + b"\r\n"),
            ("S", b"* CAPABILITY IMAP4rev1\r\n"),
            ("S", b"A2 OK Logged in\r\n"),
            ("C", b"A3 LOGOUT\r\n"),
        ],
        [PLAIN, b64(b"\x00alice\x00wonderland")],
        [b"A1 AUTHENTICATE PLAIN <redacted>", b"A2 AUTHENTICATE PLAIN", b"A3 LOGOUT"],
        2,
    ),
    (
        "smtp",
        [
            ("S", b"220 foo.com ESMTP\r\n"),
            ("C", b"EHLO bar.com\r\n"),
            ("S", b"250-foo.com\r\n"),
            ("S", b"250 AUTH PLAIN LOGIN\r\n"),
            ("C", b"AUTH PLAIN " + PLAIN + b"\r\n"),
            ("S", b"535 5.7.8 Authentication credentials invalid\r\n"),
            ("C", b"AUTH LOGIN\r\n"),
            ("S", b"334 VXNlcm5hbWU6\r\n"),
            ("C", b64(b"bob") + b"\r\n"),
            ("S", b"334 UGFzc3dvcmQ6\r\n"),
            ("C", b64(b"redqueen") + b"\r\n"),
            ("S", b"235 2.7.0 Authentication successful\r\n"),
            ("C", b"MAIL FROM:<bob@bar.com>\r\n"),
        ],
        [PLAIN, b64(b"redqueen")],
        [b"AUTH PLAIN <redacted>", b"AUTH LOGIN", b64(b"bob"), b"MAIL FROM:<bob@bar.com>"],
        2,
    ),
    (
        "submission",
        [
            ("C", b"AUTH LOGIN " + b64(b"bob") + b"\r\n"),  # initial response: the username
            ("S", b"334 UGFzc3dvcmQ6\r\n"),
            ("C", b64(b"redqueen") + b"\r\n"),
            ("S", b"235 2.7.0 ok\r\n"),
        ],
        [b64(b"redqueen")],
        [b"AUTH LOGIN " + b64(b"bob")],
        1,
    ),
    (
        "http",
        [
            ("C", b"GET /private HTTP/1.1\r\n"),
            ("C", b"Host: www.example.com\r\n"),
            ("C", b"Authorization: Basic " + b64(b"bob:redqueen") + b"\r\n"),
            ("C", b"proxy-authorization:Bearer tok3n.abc\r\n"),
            ("C", b"Cookie: sid=s3ss10n; theme=dark\r\n"),
            ("C", b"\r\n"),
            ("S", b"HTTP/1.1 200 OK\r\n"),
            ("S", b"Set-Cookie: sid=n3wsess; Path=/; HttpOnly\r\n"),
            ("S", b"Content-Length: 0\r\n"),
            ("S", b"\r\n"),
        ],
        [b64(b"bob:redqueen"), b"tok3n", b"s3ss10n", b"dark", b"n3wsess"],
        [
            b"Authorization: Basic <redacted>",
            b"proxy-authorization:Bearer <redacted>",
            b"Cookie: sid=<redacted>; theme=<redacted>",
            b"Set-Cookie: sid=<redacted>; Path=/; HttpOnly",
            b"Host: www.example.com",
        ],
        3,
    ),
]


def _record(protocol: str, exchange: list[tuple[str, bytes]], redact: bool = True) -> str:
    stream = io.StringIO()
    stream.close = lambda: None  # type: ignore[method-assign]
    writer = TranscriptWriter(
        stream,
        target=f"{protocol}://localhost",
        started="2026-11-25T16:00:00Z",
        protocol=protocol,
        redact=redact,
    )
    for side, raw in exchange:
        (writer.client if side == "C" else writer.server)(raw)
    writer.close()
    return stream.getvalue()


@pytest.mark.parametrize(("protocol", "exchange", "secrets", "visible", "redacted"), SESSIONS)
def test_recorded_transcript_holds_no_secret(
    protocol: str,
    exchange: list[tuple[str, bytes]],
    secrets: list[bytes],
    visible: list[bytes],
    redacted: int,
) -> None:
    text = _record(protocol, exchange)
    for secret in secrets:
        assert secret.decode("latin-1") not in text
    for shown in visible:
        assert shown.decode("latin-1") in text
    steps = parse_transcript(text).steps
    assert sum(isinstance(s, ClientLine) and s.redacted for s in steps) == redacted
    # --no-redact keeps everything.
    plain = _record(protocol, exchange, redact=False)
    assert all(secret.decode("latin-1") in plain for secret in secrets)
    assert "<redacted>" not in plain


def test_redacted_lines_keep_their_terminators() -> None:
    r = Redactor("pop3")
    assert r.client_line(b"PASS x\r\n") == b"PASS <redacted>\r\n"
    assert r.client_line(b"pass x\n") == b"pass <redacted>\n"
    assert r.client_line(b"PASS x") == b"PASS <redacted>"
    assert r.client_line(b"PASS\r\n") == b"PASS\r\n"  # nothing to hide


def test_smtp_message_text_is_not_mistaken_for_commands() -> None:
    r = Redactor("smtp")
    assert r.client_line(b"DATA\r\n") == b"DATA\r\n"
    r.server_line(b"354 Start mail input; end with <CRLF>.<CRLF>\r\n")
    assert r.client_line(b"AUTH PLAIN in a message body\r\n") == b"AUTH PLAIN in a message body\r\n"
    assert r.client_line(b".\r\n") == b".\r\n"
    r.server_line(b"250 OK\r\n")
    assert r.client_line(b"AUTH PLAIN " + PLAIN + b"\r\n") == b"AUTH PLAIN <redacted>\r\n"


def test_smtp_refused_data_does_not_hide_a_later_auth() -> None:
    r = Redactor("smtp")
    r.client_line(b"DATA\r\n")
    r.server_line(b"503 5.5.1 Error: need RCPT command\r\n")
    assert r.client_line(b"AUTH PLAIN " + PLAIN + b"\r\n") == b"AUTH PLAIN <redacted>\r\n"


def test_sasl_cancel_and_login_username_stay_visible() -> None:
    r = Redactor("smtp")
    r.client_line(b"AUTH CRAM-MD5\r\n")
    r.server_line(b"334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+\r\n")
    assert r.client_line(b"*\r\n") == b"*\r\n"
    r.server_line(b"501 5.7.0 cancelled\r\n")
    assert r.client_line(b"NOOP\r\n") == b"NOOP\r\n"


def test_imap_literal_data_of_other_commands_is_not_parsed_as_commands() -> None:
    r = Redactor("imap")
    assert r.client_line(b"A1 APPEND INBOX {30}\r\n") == b"A1 APPEND INBOX {30}\r\n"
    r.server_line(b"+ Ready\r\n")
    body = b"A9 LOGIN looks like a cmd\r\n"  # 27 octets of message, then 3 more
    assert r.client_line(body) == body
    assert r.client_line(b"hi\r\n") == b"hi\r\n"  # ends the literal mid-line
    assert r.client_line(b"\r\n") == b"\r\n"  # end of the APPEND command
    assert r.client_line(b"A2 LOGIN bob pw\r\n") == b"A2 LOGIN bob <redacted>\r\n"


def test_imap_refused_literal_resets() -> None:
    r = Redactor("imap")
    r.client_line(b"A1 APPEND INBOX {99999999}\r\n")
    r.server_line(b"A1 NO [TOOBIG] message too big\r\n")
    assert r.client_line(b"A2 LOGIN bob pw\r\n") == b"A2 LOGIN bob <redacted>\r\n"


def test_http_body_and_obs_fold() -> None:
    r = Redactor("https")
    r.client_line(b"POST /login HTTP/1.1\r\n")
    assert r.client_line(b"Authorization: Basic\r\n") == b"Authorization: <redacted>\r\n"
    assert r.client_line(b"  more-credentials\r\n") == b"  <redacted>\r\n"
    assert r.client_line(b"\r\n") == b"\r\n"
    body = b"Cookie: this is body text\r\n"
    assert r.client_line(body) == body
    r.client_line(b"GET / HTTP/1.1\r\n")
    assert r.client_line(b"Cookie: a=1\r\n") == b"Cookie: a=<redacted>\r\n"


def test_unknown_protocol() -> None:
    with pytest.raises(ValueError, match="gopher"):
        Redactor("gopher")


_line = st.tuples(
    st.sampled_from(
        [
            b"",
            b"A1 ",
            b"LOGIN ",
            b"AUTH ",
            b"AUTHENTICATE ",
            b"PLAIN ",
            b"LOGIN",
            b"PASS ",
            b"APOP a ",
            b"USER ",
            b"DATA",
            b".",
            b"{3}",
            b"{0}",
            b"{2+}",
            b'"',
            b"\\",
            b"+ ",
            b"334 ",
            b"235 ",
            b"A1 OK",
            b"+OK",
            b"HTTP/1.1 200 OK",
            b"GET / HTTP/1.1",
            b"Cookie: ",
            b"Authorization: ",
            b"Set-Cookie: ",
            b"a=b; c",
            b" ",
            b"\t",
            b"x",
        ]
    ),
    st.binary(max_size=6),
    st.sampled_from([b"\r\n", b"\n", b""]),
)


@given(
    st.sampled_from(["smtp", "pop3", "imap", "http"]),
    st.lists(st.tuples(st.booleans(), st.lists(_line, min_size=1, max_size=3)), max_size=12),
)
def test_redactor_never_fails_and_changes_only_what_it_marks(
    protocol: str, lines: list[tuple[bool, list[tuple[bytes, bytes, bytes]]]]
) -> None:
    r = Redactor(protocol)
    for from_client, parts in lines:
        raw = b"".join(a + b for a, b, _ in parts).replace(b"\n", b"") + parts[-1][2]
        segments = r.client_segments(raw) if from_client else r.server_segments(raw)
        kept = b"".join(s for s in segments if isinstance(s, bytes))
        marked = any(not isinstance(s, bytes) for s in segments)
        if not marked:
            assert kept == raw
        assert kept.endswith(parts[-1][2])


def test_imap_login_with_both_literals_sent_as_separate_pieces() -> None:
    """A client's ``LOGIN {3+} bob {8+} password``, as the proxy and pipe
    mode hand it over: the literal's octets alone, then the rest of the line.
    The password was recorded in clear: the piece that held only ``bob``
    ended the command for the redactor."""
    r = Redactor("imap")
    pieces = [b"a LOGIN {3+}\r\n", b"bob", b" {8+}\r\n", b"redqueen", b"\r\n"]
    out = [r.client_line(p) for p in pieces]
    assert out == [b"a LOGIN {3+}\r\n", b"bob", b" {8+}\r\n", b"<redacted>", b"\r\n"]
    assert r.client_line(b"b LOGIN bob pw\r\n") == b"b LOGIN bob <redacted>\r\n"  # a new command after it
