"""protoshell/proxy/split.py: the client's stream cut into lines and payloads (sans-IO).

Fed whole, then one byte at a time: the pieces must say the same thing and
their bytes, joined, must be exactly what was fed.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from protoshell.proto import framer_for
from protoshell.proto.base import NEED_DATA
from protoshell.proxy.split import ClientPiece, ClientSplitter


def _server_says(splitter: ClientSplitter, data: bytes) -> None:
    """Feed the server's bytes to the splitter's framer and drain its events."""
    splitter.framer.receive_data(data)
    while splitter.framer.next_event() is not NEED_DATA:
        pass


def _feed(splitter: ClientSplitter, data: bytes, bytewise: bool) -> list[ClientPiece]:
    if not bytewise:
        split = splitter.feed(data)
        assert split.held == b""
        return split.pieces
    pieces: list[ClientPiece] = []
    for i in range(len(data)):
        pieces.extend(splitter.feed(data[i : i + 1]).pieces)
    return pieces


def _kinds(pieces: list[ClientPiece]) -> list[tuple[str, bytes]]:
    """(kind, bytes) with consecutive pieces of one kind joined (byte at a
    time cuts a payload into many)."""
    out: list[tuple[str, bytes]] = []
    for p in pieces:
        if out and out[-1][0] == p.kind == "body":
            out[-1] = ("body", out[-1][1] + p.raw)
        else:
            out.append((p.kind, p.raw))
    return out


def test_smtp_message_text_is_a_payload_recorded_as_typed() -> None:
    for bytewise in (False, True):
        s = ClientSplitter(framer_for("smtp"))
        _server_says(s, b"220 hi\r\n")
        assert _kinds(_feed(s, b"EHLO me\r\nDATA\r\n", bytewise)) == [("line", b"EHLO me\r\n"), ("line", b"DATA\r\n")]
        _server_says(s, b"250 ok\r\n354 go\r\n")
        pieces = _feed(s, b"Subject: x\r\n..dot\r\n..\r\n.\r\nQUIT\r\n", False)
        assert [(p.kind, p.raw, p.line) for p in pieces] == [
            ("body", b"Subject: x\r\n", b"Subject: x"),
            ("body", b"..dot\r\n", b".dot"),  # RFC 5321 4.5.2: unstuffed for the record
            ("body", b".", None),  # a lone "." line: recorded "C: .\c" then "C: ."
            ("body", b".\r\n", None),
            ("body", b".\r\n", b"."),  # the end of the message
            ("line", b"QUIT\r\n", None),
        ]
        assert [p.offset for p in pieces[:5]] == [0, 12, 19, 20, 23]


def test_imap_synchronizing_literal_after_the_continuation() -> None:
    for bytewise in (False, True):
        s = ClientSplitter(framer_for("imap"))
        _server_says(s, b"* OK hi\r\n")
        assert _kinds(_feed(s, b"a1 APPEND INBOX {11}\r\n", bytewise)) == [("line", b"a1 APPEND INBOX {11}\r\n")]
        _server_says(s, b"+ go\r\n")
        pieces = _feed(s, b"hello\r\nbye!\r\na2 NOOP\r\n", bytewise)
        assert _kinds(pieces) == [("body", b"hello\r\nbye!"), ("line", b"\r\n"), ("line", b"a2 NOOP\r\n")]
        assert pieces[0].total == 11 and pieces[0].offset == 0


def test_imap_literal_plus_is_sent_at_once() -> None:
    s = ClientSplitter(framer_for("imap"))
    _server_says(s, b"* OK hi\r\n")
    pieces = s.feed(b"a1 LOGIN {3+}\r\nbob {8+}\r\nredqueen\r\n").pieces
    assert _kinds(pieces) == [
        ("line", b"a1 LOGIN {3+}\r\n"),
        ("body", b"bob"),
        ("line", b" {8+}\r\n"),
        ("body", b"redqueen"),
        ("line", b"\r\n"),
    ]


def test_http_bodies_by_content_length_and_chunked_then_the_next_request() -> None:
    s = ClientSplitter(framer_for("http"))
    head = b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n"
    pieces = s.feed(head + b"a\nb\nc" + b"GET /b HTTP/1.1\r\nHost: h\r\n\r\n").pieces
    kinds = _kinds(pieces)
    assert kinds[4] == ("body", b"a\nb\nc")
    assert kinds[5] == ("line", b"GET /b HTTP/1.1\r\n")
    s = ClientSplitter(framer_for("http"))
    pieces = s.feed(b"POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n").pieces
    assert _kinds(pieces)[-1] == ("body", b"5\r\nhello\r\n0\r\n\r\n")
    assert pieces[-1].total is None


def test_what_follows_starttls_is_held_unread() -> None:
    s = ClientSplitter(framer_for("smtp"))
    _server_says(s, b"220 hi\r\n")
    split = s.feed(b"EHLO me\r\nSTARTTLS\r\nMAIL FROM:<evil>\r\n")
    assert [p.starttls for p in split.pieces] == [False, True]
    assert split.held == b"MAIL FROM:<evil>\r\n"
    s = ClientSplitter(framer_for("imap"))
    _server_says(s, b"* OK hi\r\n")
    split = s.feed(b"a1 STARTTLS\r\nx")
    assert split.pieces[0].starttls and split.held == b"x"
    s = ClientSplitter(framer_for("pop3"))
    _server_says(s, b"+OK hi\r\n")
    assert s.feed(b"STLS\r\n").pieces[0].starttls


def test_an_over_long_line_is_handed_out_in_pieces() -> None:
    s = ClientSplitter(framer_for("pop3"), max_line=100)
    _server_says(s, b"+OK hi\r\n")
    pieces = s.feed(b"x" * 250).pieces
    assert [len(p.raw) for p in pieces] == [250]
    assert s.partial == b""


@settings(max_examples=100, deadline=None)
@given(
    protocol=st.sampled_from(["smtp", "pop3", "imap", "http"]),
    chunks=st.lists(
        st.one_of(
            st.binary(max_size=40),
            st.sampled_from([b"DATA\r\n", b"a1 APPEND x {5}\r\n", b"{3+}\r\n", b"Content-Length: 4\r\n\r\n", b"\r\n", b".\r\n"]),
        ),
        max_size=12,
    ),
)
def test_every_byte_is_accounted_for_in_order(protocol: str, chunks: list[bytes]) -> None:
    s = ClientSplitter(framer_for(protocol))
    seen, fed = bytearray(), bytearray()
    for chunk in chunks:
        split = s.feed(chunk)
        fed += chunk
        seen += b"".join(p.raw for p in split.pieces) + split.held
        if split.held:
            break  # after STARTTLS the proxy waits for the answer
    assert bytes(seen) + s.partial == bytes(fed)
