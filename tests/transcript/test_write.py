"""write.py: recorded bytes come back byte for byte; nothing is lost on a crash."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protoshell.transcript import (
    ClientLine,
    Comment,
    Meta,
    Narration,
    ServerLine,
    TranscriptWriter,
    parse_transcript,
)


class FlushCountingStream(io.StringIO):
    """A stream that only shows what was flushed, like a file after a crash."""

    def __init__(self) -> None:
        super().__init__()
        self.flushed = ""
        self.was_closed = False

    def flush(self) -> None:
        self.flushed = self.getvalue()

    def close(self) -> None:
        self.was_closed = True


def _writer(stream: io.StringIO, redact: bool = False, protocol: str = "smtp") -> TranscriptWriter:
    return TranscriptWriter(
        stream,
        target="smtp://localhost:2525",
        started="2026-11-25T16:00:00Z",
        protocol=protocol,
        redact=redact,
    )


def test_design_example_is_written_as_designed() -> None:
    stream = FlushCountingStream()
    w = _writer(stream)
    w.server(b"220 foo.com Simple Mail Transfer Service Ready\r\n")
    w.client(b"EHLO bar.com\r\n")
    w.server(b"250-foo.com greets bar.com\r\n250 HELP\r\n")
    w.client(b"QUIT\r\n")
    w.server(b"221 foo.com Service closing transmission channel\r\n")
    assert stream.flushed.split("\n") == [
        (
            "# protoshell transcript · target: smtp://localhost:2525 · 2026-11-25T16:00:00Z"
            " · protocol: smtp"
        ),
        "S: 220 foo.com Simple Mail Transfer Service Ready",
        "C: EHLO bar.com",
        "S: 250-foo.com greets bar.com",
        "S: 250 HELP",
        "C: QUIT",
        "S: 221 foo.com Service closing transmission channel",
        "",
    ]
    assert w.lines_written == 7


def test_every_line_is_flushed_at_once() -> None:
    stream = FlushCountingStream()
    w = _writer(stream)
    assert stream.flushed.startswith("# protoshell transcript")
    calls: list[Callable[[], None]] = [
        lambda: w.client(b"NOOP\r\n"),
        lambda: w.server(b"250 OK\r\n"),
        lambda: w.payload(10),
        lambda: w.comment("note"),
        lambda: w.meta("sleep", "0.5"),
        lambda: w.connect(25),
        lambda: w.hangup("S"),
    ]
    for call in calls:
        call()
        assert stream.flushed == stream.getvalue()
    w.close()
    assert stream.was_closed and w.closed
    with pytest.raises(ValueError, match="closed"):
        w.client(b"NOOP\r\n")


def test_actions_comments_and_meta_parse_back() -> None:
    stream = FlushCountingStream()
    w = _writer(stream)
    w.connect(110)
    w.connect()
    w.payload(1425, b"preview bytes are never written")
    w.payload(None)
    w.narration("S", "server thinks")
    w.hangup()
    w.hangup("S")
    w.comment("two\nlines")
    w.comment("")
    w.meta("starttls")
    w.meta("auth", "plain", "bob")
    text = stream.getvalue()
    assert "preview" not in text
    t = parse_transcript(text)
    assert t.header["protocol"] == "smtp"
    narr = [(s.side, s.kind, s.port, s.octets) for s in t.steps if isinstance(s, Narration)]
    assert narr == [
        ("C", "connect", 110, None),
        ("C", "connect", None, None),
        ("S", "payload", None, 1425),
        ("S", "payload", None, None),
        ("S", "other", None, None),
        ("C", "hangup", None, None),
        ("S", "hangup", None, None),
    ]
    assert [s.text for s in t.steps if isinstance(s, Comment)] == ["two", "lines", ""]
    assert [(s.command, s.args) for s in t.steps if isinstance(s, Meta)] == [
        ("starttls", ()),
        ("auth", ("plain", "bob")),
    ]


@pytest.mark.parametrize(
    "call",
    [
        lambda w: w.narration("S", "a <b>"),
        lambda w: w.narration("S", "two\nlines"),
        lambda w: w.narration("S", "redacted"),
        lambda w: w.narration("X", "who"),
        lambda w: w.meta("bad name"),
        lambda w: w.meta("set", "x\ny"),
        lambda w: w.comment("a\rb"),
        lambda w: w.payload(-1),
    ],
)
def test_writer_refuses_what_would_not_parse_back(call: object) -> None:
    w = _writer(FlushCountingStream())
    with pytest.raises(ValueError):
        call(w)  # type: ignore[operator]


def test_unterminated_and_bare_lf_lines() -> None:
    stream = FlushCountingStream()
    w = _writer(stream)
    w.client(b"one\ntwo\r\nthree")
    w.server(b"")  # nothing on the wire: nothing written
    lines = stream.getvalue().split("\n")[1:-1]
    assert lines == ["C: one\\n", "C: two", "C: three\\c"]
    t = parse_transcript(stream.getvalue())
    assert b"".join(s.raw for s in t.steps if isinstance(s, ClientLine)) == b"one\ntwo\r\nthree"


def test_target_password_is_hidden_when_redacting() -> None:
    stream = FlushCountingStream()
    TranscriptWriter(stream, target="imap://bob:s3cret@localhost:143", started="t", protocol="imap")
    assert "s3cret" not in stream.getvalue()
    assert "imap://bob:<redacted>@localhost:143" in stream.getvalue()


_wire_line = st.tuples(
    st.binary(max_size=60), st.sampled_from([b"\r\n", b"\n", b"\r\n", b"\r\n"])
).map(lambda t: t[0].replace(b"\n", b"\r") + t[1])


@given(st.lists(st.tuples(st.sampled_from("CS"), _wire_line), max_size=12), st.binary(max_size=20))
def test_recorded_bytes_replay_identically(
    exchange: list[tuple[str, bytes]], unterminated: bytes
) -> None:
    stream = FlushCountingStream()
    w = _writer(stream)
    for side, raw in exchange:
        (w.client if side == "C" else w.server)(raw)
    if unterminated:
        w.server(unterminated.replace(b"\n", b"\r"))  # the last bytes before a close
    t = parse_transcript(stream.getvalue())
    lines = [s for s in t.steps if isinstance(s, (ClientLine, ServerLine))]
    expected = list(exchange)
    if unterminated:
        expected.append(("S", unterminated.replace(b"\n", b"\r")))
    assert [("C" if isinstance(s, ClientLine) else "S", s.raw) for s in lines] == expected
    assert len(t.steps) == len(expected)  # no line became a narration or an elision
