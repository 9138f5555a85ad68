"""escape.py: the text form of a wire line is lossless and readable."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from protoshell.transcript import ClientLine, parse_transcript
from protoshell.transcript.escape import (
    REDACTION,
    escape_line,
    line_to_text,
    segments_to_text,
    terminator_of,
    text_to_line,
    tokenize,
    unescape_line,
)
from protoshell.transcript.variables import is_redacted

# (line content without terminator, notation the writer produces)
WRITTEN = [
    (b"EHLO bar.com", "EHLO bar.com"),
    (b"", ""),
    (
        b"* FLAGS (\\Answered \\Flagged \\Deleted \\Draft \\Seen)",
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Draft \\Seen)",
    ),
    (
        b"* OK [PERMANENTFLAGS (\\Seen \\*)] Flags permitted.",
        "* OK [PERMANENTFLAGS (\\Seen \\*)] Flags permitted.",
    ),
    (
        b"354 Start mail input; end with <CRLF>.<CRLF>",
        "354 Start mail input; end with <CRLF>.<CRLF>",
    ),
    (b"a\\b", "a\\b"),  # a backslash that starts no escape stays single
    (b"a\\nb", "a\\\\nb"),  # ... one that would is doubled
    (b"C:\\temp\\x41", "C:\\\\temp\\\\x41"),  # "\\t" and "\\x41" are escapes
    (b"end\\", "end\\"),
    (b"x\\c", "x\\\\c"),  # "\c" at the very end would mean "no terminator"
    (b"mid\\cle", "mid\\cle"),
    (b"\\\\", "\\\\\\"),
    (b"trailing  ", "trailing\\x20\\x20"),
    (b"  leading", "  leading"),
    (b"tab\there", "tab\\there"),
    (b"bare\rCR", "bare\\rCR"),
    (b"bare\nLF", "bare\\nLF"),
    (b"ends in LF\n", "ends in LF\\x0a"),  # not a bare-LF terminator
    (b"nul\x00 del\x7f esc\x1b", "nul\\x00 del\\x7f esc\\x1b"),
    (b"bad \xff\xfe utf8 \xc3", "bad \\xff\\xfe utf8 \\xc3"),
    ("caf\u00e9 \u65e5\u672c".encode(), "caf\u00e9 \u65e5\u672c"),  # printable UTF-8 kept
    ("nbsp\u00a0ls\u2028rlo\u202e".encode(), "nbsp\\xc2\\xa0ls\\xe2\\x80\\xa8rlo\\xe2\\x80\\xae"),
    (b"cost $5 and $x", "cost $5 and \\$x"),
    (b"* FLAGS ($Forwarded ${x})", "* FLAGS (\\$Forwarded \\${x})"),
    (b'LIST "" *', 'LIST "" *'),
    (b"<html>", "\\x3chtml>"),  # would read as a narration
    (b"<CRLF>", "\\x3cCRLF>"),
    (b"<a> <b>", "<a> <b>"),
    (b"...", "\\x2e.."),  # would read as an elision
    (b"...etc. etc. etc.", "...etc. etc. etc."),
    (b"PASS <redacted>", "PASS \\x3credacted>"),  # user text, not the marker
]


@pytest.mark.parametrize(("raw", "text"), WRITTEN)
def test_writer_notation(raw: bytes, text: str) -> None:
    assert escape_line(raw) == text
    assert unescape_line(text) == raw
    assert text_to_line(text) == raw + b"\r\n"


@pytest.mark.parametrize(
    ("wire", "text"),
    [
        (b"250 OK\r\n", "250 OK"),
        (b"250 OK\n", "250 OK\\n"),  # bare LF terminator
        (b"250 OK", "250 OK\\c"),  # no terminator (last bytes before close)
        (b"\r\n", ""),
        (b"\n", "\\n"),
        (b"", "\\c"),
        (b"a\\\n", "a\\\\\\n"),  # a final backslash before the LF mark is doubled
        (b"x\r", "x\\r\\c"),
        (b"two\n\r\n", "two\\x0a"),
        (b"two\n\n", "two\\n\\n"),
        (b"sp \r\n", "sp\\x20"),
        (b"sp \n", "sp \\n"),
    ],
)
def test_terminators(wire: bytes, text: str) -> None:
    assert line_to_text(wire) == text
    assert text_to_line(text) == wire


@pytest.mark.parametrize(
    ("text", "raw"),
    [
        # Only the defined escapes are escapes; any other backslash is text.
        (
            "\\Answered \\Recent \\Noselect \\HasNoChildren",
            b"\\Answered \\Recent \\Noselect \\HasNoChildren",
        ),
        ("\\x4", b"\\x4"),
        ("\\xZZ", b"\\xZZ"),
        ("\\X41", b"\\X41"),
        ("\\x4A\\x4a", b"JJ"),
        ("\\c in the middle", b"\\c in the middle"),
        ("\\$5", b"$5"),
        ("\\*", b"\\*"),
        ("\\\\*", b"\\*"),
        ("literal\ttab", b"literal\ttab"),
        ("\\r\\n", b"\r\n"),  # the lecture's HTTP blank line: exactly CRLF
    ],
)
def test_reading_hand_written_text(text: str, raw: bytes) -> None:
    assert unescape_line(text) == raw


def test_lecture_blank_line_is_crlf_on_the_wire() -> None:
    assert text_to_line("\\r\\n") == b"\r\n"
    assert text_to_line("") == b"\r\n"


def test_unencodable_text_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="U\\+D800"):
        unescape_line("a\ud800b")


def test_redaction_marker_is_distinguishable_from_user_text() -> None:
    marked = segments_to_text([b"PASS ", REDACTION, b"\r\n"])
    typed = line_to_text(b"PASS <redacted>\r\n")
    assert marked == "PASS <redacted>"
    assert typed != marked
    assert is_redacted(marked)
    assert not is_redacted(typed)
    assert text_to_line(typed) == b"PASS <redacted>\r\n"
    # A whole-line marker is not turned into a narration escape.
    assert segments_to_text([REDACTION, b"\r\n"]) == "<redacted>"


def _is_one_line(text: str) -> bool:
    return len(("x" + text + "x").splitlines()) == 1


@given(st.binary(max_size=200))
@example(b"\\\\n")
@example(b"\\x41\\")
@example(b"$a\\$b")
@example(b"<redacted>\\")
@example(b"\\<redacted>")
def test_escape_round_trip_any_bytes(raw: bytes) -> None:
    text = escape_line(raw)
    assert unescape_line(text) == raw
    assert text_to_line(text) == raw + b"\r\n"
    assert _is_one_line(text)
    assert not text.endswith((" ", "\t"))
    assert not is_redacted(text)


@given(st.binary(max_size=200))
@example(b"abc\\")
@example(b"abc\\\n")
@example(b"abc\r")
@example(b"\\c")
def test_line_round_trip_any_bytes(wire: bytes) -> None:
    text = line_to_text(wire)
    assert text_to_line(text) == wire
    assert _is_one_line(text)


@given(st.lists(st.one_of(st.binary(max_size=20), st.just(REDACTION)), max_size=6))
def test_segments_keep_bytes_and_markers(segments: list[bytes | object]) -> None:
    parts = [s if isinstance(s, bytes) else REDACTION for s in segments]
    text = segments_to_text(parts)
    assert _is_one_line(text)
    assert is_redacted(text) == any(p is REDACTION for p in parts)
    if not any(p is REDACTION for p in parts):
        assert text_to_line(text) == b"".join(p for p in parts if isinstance(p, bytes))
    (step,) = parse_transcript(f"C: {text}").steps
    assert isinstance(step, ClientLine)  # never a narration or an elision
    assert step.redacted == is_redacted(text)


@given(st.binary(max_size=120), st.sampled_from(["C", "S"]))
def test_written_text_parses_back_as_the_same_line(wire: bytes, side: str) -> None:
    text = line_to_text(wire)
    line = f"{side}: {text}" if text else f"{side}:"
    (step,) = parse_transcript(line).steps
    assert step.raw == wire  # type: ignore[union-attr]
    assert step.text == text  # type: ignore[union-attr]


_notation = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "\\",
                "\\\\",
                "n",
                "r",
                "t",
                "c",
                "x",
                "4",
                "a",
                "F",
                "$",
                "*",
                " ",
                "<redacted>",
                "{",
                "}",
                "\udcff",
                "é",
            ]
        ),
        st.characters(exclude_categories=["Cs"]),
    ),
    max_size=30,
).map("".join)


@given(_notation)
@example("\\c")
@example("a\\\\c")
@example("\\n\\n")
@example("\\x0a")
def test_fast_decoder_agrees_with_the_tokenizer(text: str) -> None:
    tokens = tokenize(text)
    data = b"".join(t.data for t in tokens)
    assert unescape_line(text) == data
    assert text_to_line(text) == data + terminator_of(tokens)
