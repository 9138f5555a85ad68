"""What a person sees: C:/S: lines, safe text, payload summaries, colours."""

from __future__ import annotations

import io
import time

from protoshell.context import Environment
from protoshell.proto.base import Payload, ResponseEnd, ServerLine
from protoshell.proto.pop3 import Pop3DataEnd, Pop3DataLine
from protoshell.render.console import make_console
from protoshell.render.exchange import ExchangeRenderer
from protoshell.render.safe_text import display_line
from protoshell.session import Exchange


def render(exchanges: list[Exchange], *, color: bool = False, **kw: object) -> str:
    out = io.StringIO()
    renderer = ExchangeRenderer(make_console(out, color=color, width=100), **kw)  # type: ignore[arg-type]
    for ex in exchanges:
        renderer(ex)
    renderer(Exchange("note", b"", None, time.time(), "end"))
    return out.getvalue()


def s_line(raw: bytes, status: str | None = "250", outcome: str = "ok") -> Exchange:
    return Exchange("S", raw, ServerLine(raw, status, outcome), time.time())  # type: ignore[arg-type]


def payload(data: bytes, offset: int = 0, total: int | None = None) -> Exchange:
    return Exchange("S", data, Payload(data, offset, total), time.time())


def test_lines_in_lecture_notation() -> None:
    text = render([Exchange("C", b"EHLO bar.com\r\n", None, 0.0), s_line(b"250 OK\r\n")])
    assert text.splitlines()[:2] == ["C: EHLO bar.com", "S: 250 OK"]


def test_raw_send_of_two_lines_shows_two_c_lines() -> None:
    text = render([Exchange("C", b"NOOP\r\nNOOP\r\n", None, 0.0)])
    assert text.splitlines()[:2] == ["C: NOOP", "C: NOOP"]


def test_terminal_escapes_from_the_server_are_shown_not_obeyed() -> None:
    text = render([s_line(b"220 \x1b[31mred\x1b[0m \x07bell \xff\xfe\r\n")])
    assert "\x1b" not in text and "\x07" not in text
    assert "S: 220 \\x1b[31mred\\x1b[0m \\x07bell \\xff\\xfe" in text


def test_display_keeps_what_is_printable() -> None:
    assert display_line(b"<!DOCTYPE html> caf\xc3\xa9 \\Seen $x") == "<!DOCTYPE html> café \\Seen $x"
    assert display_line(b"a\rb\tc\x00") == "a\\rb\\tc\\x00"
    assert display_line("\u202eevil".encode()) == "\\xe2\\x80\\xaeevil"  # bidi override


def test_text_payload_cut_at_max_lines_with_size_line() -> None:
    body = b"".join(b"line %d\n" % i for i in range(50))
    text = render([payload(body[:100], 0, len(body)), payload(body[100:], 100, len(body))], max_lines=3)
    lines = text.splitlines()
    assert lines[:3] == ["S: line 0", "S: line 1", "S: line 2"]
    assert lines[3] == f"S: <server sends {len(body)} octets of text payload: first 3 lines shown (--max-lines)>"


def test_binary_payload_is_only_summarised() -> None:
    blob = bytes(range(256)) * 4
    text = render([payload(blob, 0, len(blob))])
    assert text.splitlines()[0] == "S: <server sends 1024 octets of binary payload: binary, not shown>"


def test_content_type_names_the_payload() -> None:
    from protoshell.proto.http import HttpClientFramer

    framer = HttpClientFramer()
    framer.send(b"GET / HTTP/1.1")
    framer.send(b"Host: x")
    framer.send(b"")
    framer.receive_data(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 4\r\n\r\n\x89PNG")
    exchanges = []
    while True:
        ev = framer.next_event()
        if isinstance(ev, ResponseEnd):
            break
        exchanges.append(Exchange("S", ev.raw, ev, 0.0))  # type: ignore[union-attr]
    text = render(exchanges)
    assert "S: Content-Type: image/png" in text
    assert "S: <server sends 4 octets of image/png payload: binary, not shown>" in text


def test_hex_view_shows_crlf_and_bytes() -> None:
    text = render([Exchange("C", b"QUIT\r\n", None, 0.0)], hex_view=True)
    assert "C: QUIT\\r\\n" in text
    assert "51 55 49 54 0d 0a" in text


def test_colour_by_outcome_only_on_a_terminal() -> None:
    plain = render([s_line(b"550 no\r\n", "550", "error")])
    assert "\x1b[" not in plain
    coloured = render([s_line(b"550 no\r\n", "550", "error")], color=True)
    assert "\x1b[" in coloured and "550 no" in coloured


def test_no_color_env_and_flag_win_over_a_terminal() -> None:
    tty = Environment(stdout_isatty=True, no_color_env=False)
    assert tty.color() is True
    assert tty.color(no_color_flag=True) is False
    assert Environment(stdout_isatty=True, no_color_env=True).color() is False
    assert Environment(stdout_isatty=False, no_color_env=False).color() is False


def body_line(raw: bytes, *, message: bool = True) -> Exchange:
    data = raw[1:] if raw.startswith(b".") else raw
    return Exchange("S", raw, Pop3DataLine(raw, None, "data", data, message), time.time())


def pop3_retr(lines: list[bytes]) -> list[Exchange]:
    """The Exchanges of ``RETR 1`` answered with ``lines``."""
    return [
        Exchange("C", b"RETR 1\r\n", None, 0.0, kind="line"),
        s_line(b"+OK\r\n", "+OK"),
        *(body_line(line) for line in lines),
        Exchange("S", b".\r\n", Pop3DataEnd(b".\r\n", ".", "data", True), 0.0),
        Exchange("S", b"", ResponseEnd(b"", "+OK", "ok"), 0.0),
    ]


def test_a_long_pop3_body_is_cut_with_one_line_saying_what() -> None:
    lines = [b"line %d\r\n" % i for i in range(1000)] + [b"..stuffed\r\n"]
    text = render(pop3_retr(lines), max_lines=3).splitlines()
    octets = sum(len(line) for line in lines)
    assert text[:8] == [
        "C: RETR 1",
        "S: +OK",
        "S: line 0",
        "S: line 1",
        "S: line 2",
        f"S: <server sends 1001 lines ({octets} octets) of message text: first 3 lines shown (--max-lines)>",
        "S: .",
        "# end",
    ]


def test_a_body_within_max_lines_is_shown_whole_without_a_cut_line() -> None:
    text = render(pop3_retr([b"a\r\n", b"..b\r\n"]), max_lines=2)
    assert text.splitlines()[2:5] == ["S: a", "S: ..b", "S: ."]  # as on the wire
    assert "<server sends" not in text


def test_two_bodies_are_counted_apart_and_listings_named_plainly() -> None:
    listing = [body_line(b"%d 100\r\n" % i, message=False) for i in range(5)]
    end = Exchange("S", b".\r\n", Pop3DataEnd(b".\r\n", ".", "data"), 0.0)
    text = render([*listing, end, *listing, end], max_lines=4)
    assert text.count("S: <server sends 5 lines (35 octets): first 4 lines shown (--max-lines)>") == 2


def test_an_overlong_body_line_is_cut_and_hex_view_still_cuts_blocks() -> None:
    text = render(pop3_retr([b"x" * 10_000 + b"\r\n"]))
    assert len(text) < 5000 and "S: " + "x" * 4096 + " …" in text
    hexed = render(pop3_retr([b"abc\r\n"] * 50), max_lines=2, hex_view=True)
    assert hexed.count("S: abc\\r\\n") == 2 and "first 2 lines shown" in hexed


def test_message_text_the_client_sends_is_cut_but_the_dot_shown() -> None:
    sent = [Exchange("C", b"DATA\r\n", None, 0.0, kind="line"), s_line(b"354 go ahead\r\n", "354", "continue")]
    sent += [Exchange("C", b"..%d\r\n" % i, None, 0.0, line=b".%d" % i, kind="message") for i in range(300)]
    sent += [Exchange("C", b".\r\n", None, 0.0, line=b".", kind="line"), s_line(b"250 OK\r\n")]
    text = render(sent, max_lines=2).splitlines()
    octets = sum(len(b"..%d\r\n" % i) for i in range(300))
    assert text[2:7] == [
        "C: ..0",
        "C: ..1",
        f"C: <client sends 300 lines ({octets} octets) of message text: first 2 lines shown (--max-lines)>",
        "C: .",
        "S: 250 OK",
    ]


def test_a_long_request_body_is_one_block_cut_too() -> None:
    body = b"".join(b"field%d=value\n" % i for i in range(500))
    sent = [Exchange("C", b"POST / HTTP/1.1\r\n", None, 0.0, kind="line"), Exchange("C", body, None, 0.0, kind="body")]
    text = render(sent, max_lines=2).splitlines()
    assert text[:4] == [
        "C: POST / HTTP/1.1",
        "C: field0=value",
        "C: field1=value",
        f"C: <client sends 500 lines ({len(body)} octets) of request body: first 2 lines shown (--max-lines)>",
    ]


def c_payload(data: bytes, offset: int = 0, total: int | None = None) -> Exchange:
    """What the proxy emits for a client's literal, body or message line."""
    return Exchange("C", data, Payload(data, offset, total), time.time(), kind="body")


def test_a_client_payload_is_shown_as_c_lines_and_cut_by_max_lines() -> None:
    data = b"".join(b"line %d\r\n" % i for i in range(10))
    text = render([Exchange("C", b"a1 APPEND INBOX {80}\r\n", None, 0.0), c_payload(data[:33], 0, 80), c_payload(data[33:], 33, 80)], max_lines=3)
    assert text.splitlines()[:5] == [
        "C: a1 APPEND INBOX {80}",
        "C: line 0",
        "C: line 1",
        "C: line 2",
        "C: <client sends 80 octets of text payload: first 3 lines shown (--max-lines)>",
    ]


def test_a_binary_client_payload_is_only_summarised() -> None:
    text = render([c_payload(b"\x00\x01\x02" * 10, 0, 30)])
    assert text.splitlines()[0] == "C: <client sends 30 octets of binary payload: binary, not shown>"


def test_the_prefix_goes_before_every_line() -> None:
    out = io.StringIO()
    renderer = ExchangeRenderer(make_console(out, color=False, width=100))
    renderer.prefix = "[2] "
    renderer(Exchange("C", b"NOOP\r\n", None, 0.0))
    renderer(s_line(b"250 OK\r\n"))
    renderer(Exchange("note", b"", None, 0.0, "closed"))
    assert out.getvalue().splitlines() == ["[2] C: NOOP", "[2] S: 250 OK", "[2] # closed"]


def test_the_prefix_does_not_restyle_the_line_in_colour() -> None:
    out = io.StringIO()
    renderer = ExchangeRenderer(make_console(out, color=True, width=100))
    renderer(Exchange("C", b"NOOP\r\n", None, 0.0))
    plain_line = out.getvalue()
    renderer.prefix = "[2] "
    renderer(Exchange("C", b"NOOP\r\n", None, 0.0))
    prefixed_line = out.getvalue()[len(plain_line) :]
    assert prefixed_line.endswith(plain_line)  # the same styles after the number
    assert "[2] " in prefixed_line


def imap_response(command: bytes, response: bytes, **kw: object) -> str:
    """What the renderer shows of ``response`` to ``command``, framed by the
    IMAP framer as a session would (ImapLine, Payload, ResponseEnd events)."""
    from protoshell.proto.base import NEED_DATA
    from protoshell.proto.imap import ImapFramer

    framer = ImapFramer()
    exchanges = [Exchange("C", framer.send(command), None, 0.0)]
    framer.receive_data(response)
    while (event := framer.next_event()) is not NEED_DATA:
        exchanges.append(Exchange("S", event.raw, event, 0.0))  # type: ignore[union-attr]
    return render(exchanges, **kw)


def test_a_long_imap_response_is_cut_and_its_tagged_line_shown() -> None:
    """FETCH 1:* on 3,000 messages: the first untagged lines, one cut line
    with the count, then the tagged completion line."""
    untagged = b"".join(b"* %d FETCH (FLAGS (\\Seen))\r\n" % i for i in range(1, 3001))
    text = imap_response(b"A1 FETCH 1:* FLAGS\r\n", untagged + b"A1 OK FETCH completed\r\n", max_lines=3)
    assert text.splitlines()[:6] == [
        "C: A1 FETCH 1:* FLAGS",
        "S: * 1 FETCH (FLAGS (\\Seen))",
        "S: * 2 FETCH (FLAGS (\\Seen))",
        "S: * 3 FETCH (FLAGS (\\Seen))",
        f"S: <server sends 3000 lines ({len(untagged)} octets) of untagged responses: first 3 lines shown (--max-lines)>",
        "S: A1 OK FETCH completed",
    ]
    # Below the limit nothing changes: every line, no cut line.
    text = imap_response(b"A1 LIST \"\" *\r\n", b'* LIST () "." "INBOX"\r\n* LIST () "." "Sent"\r\nA1 OK done\r\n', max_lines=2)
    assert text.splitlines()[1:4] == ['S: * LIST () "." "INBOX"', 'S: * LIST () "." "Sent"', "S: A1 OK done"]


def test_literals_in_a_long_imap_response_share_its_lines() -> None:
    """FETCH 1:3 BODY[]: a literal's lines count against the same
    --max-lines as the response lines around them; past the limit nothing
    more is shown, and the cut line counts every line and octet."""
    one = b"Subject: hi\r\n\r\nhello"
    response = b"".join(b"* %d FETCH (BODY[] {%d}\r\n%s)\r\n" % (i, len(one), one) for i in (1, 2, 3))
    text = imap_response(b"A1 FETCH 1:3 BODY[]\r\n", response + b"A1 OK done\r\n", max_lines=6)
    assert text.splitlines()[1:9] == [
        "S: * 1 FETCH (BODY[] {20}",
        "S: Subject: hi",
        "S: ",
        "S: hello",
        "S: )",
        "S: * 2 FETCH (BODY[] {20}",
        f"S: <server sends 15 lines ({len(response)} octets) of untagged responses: first 6 lines shown (--max-lines)>",
        "S: A1 OK done",
    ]
    # A literal longer than the limit by itself: cut once, by the block's line.
    body = b"".join(b"line %d\r\n" % i for i in range(50))
    response = b"* 1 FETCH (BODY[] {%d}\r\n%s)\r\n" % (len(body), body)
    lines = imap_response(b"A1 FETCH 1 BODY[]\r\n", response + b"A1 OK done\r\n", max_lines=4).splitlines()
    assert lines[1:] == [
        f"S: * 1 FETCH (BODY[] {{{len(body)}}}",
        "S: line 0",
        "S: line 1",
        "S: line 2",
        f"S: <server sends 52 lines ({len(response)} octets) of untagged responses: first 4 lines shown (--max-lines)>",
        "S: A1 OK done",
        "# end",
    ]


def test_a_huge_untagged_search_line_is_cut_at_the_line_limit() -> None:
    """``* SEARCH`` with 100,000 numbers is one line of ~590 KB: shown up
    to DISPLAY_LINE_CHARS, marked, then the tagged line."""
    from protoshell.render.exchange import DISPLAY_LINE_CHARS

    search = b"* SEARCH " + b" ".join(b"%d" % i for i in range(1, 100_001)) + b"\r\n"
    lines = imap_response(b"A1 SEARCH ALL\r\n", search + b"A1 OK done\r\n").splitlines()
    assert lines[1].startswith("S: * SEARCH 1 2 3 ") and lines[1].endswith(" …")
    assert len(lines[1]) == len("S: ") + DISPLAY_LINE_CHARS + len(" …")
    assert lines[2:] == ["S: A1 OK done", "# end"]


def _http_response_exchanges(response: bytes, *, eof: bool) -> list[Exchange]:
    """What a session hands the renderer for a GET answered with ``response``."""
    from protoshell.proto.base import NEED_DATA
    from protoshell.proto.http_client import HttpClientFramer

    framer = HttpClientFramer()
    for line in (b"GET / HTTP/1.1", b"Host: x", b""):
        framer.send(line)
    framer.receive_data(response)
    if eof:
        framer.receive_data(b"")
    exchanges = []
    while (event := framer.next_event()) is not NEED_DATA:
        exchanges.append(Exchange("S", event.raw, event, 0.0))  # type: ignore[union-attr]
    return exchanges


def test_an_http_response_with_bare_lf_line_ends_is_pointed_out() -> None:
    """The lecture's lab server writes '\\n' line ends: the framer tolerates
    them and the view says so, after the head (it said nothing)."""
    lines = render(_http_response_exchanges(b"HTTP/1.1 200 OK\nContent-Type: text/html\n\n<h1>Hi</h1>", eof=True)).splitlines()
    assert "# warning: bare LF line endings (RFC 9112 2.2 tolerates them)" in lines, lines
    assert lines.index("S: <h1>Hi</h1>") > lines.index("S: Content-Type: text/html")
    quiet = _http_response_exchanges(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", eof=False)
    assert "warning" not in render(quiet)
