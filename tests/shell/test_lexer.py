"""highlight_line(): the input line coloured by the vocabulary."""

from __future__ import annotations

from protoshell.proto import vocabulary_for
from protoshell.shell import lexer
from protoshell.shell.lexer import LexContext, highlight_line


def lx(protocol: str, **kw: object) -> LexContext:
    return LexContext(protocol, vocabulary_for(protocol), meta_names=("help", "quit"), **kw)  # type: ignore[arg-type]


def styles(line: str, c: LexContext, lineno: int = 0) -> list[tuple[str, str]]:
    return [(s, t) for s, t, *_ in highlight_line(line, lineno, c) if not t.isspace()]


def test_fragments_keep_the_text() -> None:
    line = "A1 FETCH 1 (BODY[HEADER]) $x {12}"
    assert "".join(t for _, t, *_ in highlight_line(line, 0, lx("imap"))) == line


def test_known_command_by_lecture_phase() -> None:
    assert styles("EHLO me", lx("smtp"))[0] == (lexer.command_style("identify"), "EHLO")
    assert styles("quit", lx("smtp"))[0] == (lexer.command_style("goodbye"), "quit")
    assert styles("RETR 1", lx("pop3"))[0][0] == lexer.command_style(
        vocabulary_for("pop3").commands["RETR"].phase
    )


def test_unknown_first_word_is_marked() -> None:
    assert styles("EHOL me", lx("smtp"))[0] == (lexer.UNKNOWN, "EHOL")


def test_imap_tag_and_literal() -> None:
    got = styles("A0009 APPEND INBOX {310}", lx("imap"))
    assert got[0] == (lexer.TAG, "A0009")
    assert got[1][1] == "APPEND" and got[1][0].startswith("class:input.command.")
    assert got[-1] == (lexer.LITERAL, "{310}")


def test_imap_unknown_command_is_not_shown_as_a_tag() -> None:
    # The framer tags `USER "frobozz" "xyzzy"` (proto.imap_vocab.typed_tag): USER is the
    # command it sends, an unknown one, not the user's tag.
    assert styles('USER "frobozz" "xyzzy"', lx("imap"))[0] == (lexer.UNKNOWN, "USER")
    assert styles('A0001 USER "frobozz"', lx("imap"))[0] == (lexer.TAG, "A0001")


def test_http_method_is_case_sensitive_and_headers() -> None:
    assert styles("get / HTTP/1.1", lx("http"))[0] == (lexer.UNKNOWN, "get")
    assert styles("Content-Type: text/plain", lx("http"), lineno=1)[0] == (
        lexer.HEADER,
        "Content-Type",
    )


def test_meta_commands() -> None:
    assert styles(":help EHLO", lx("smtp"))[0] == (lexer.META, ":help ")
    assert styles(":hlep", lx("smtp"))[0] == (lexer.META_UNKNOWN, ":hlep")
    assert styles("::help", lx("smtp"))[0] == ("class:input.escape", ":")


def test_variables_known_and_unknown() -> None:
    got = styles("LOGIN $user $nope", lx("imap", variables=("user",)))
    assert (lexer.VARIABLE, "$user") in got
    assert (lexer.VARIABLE_UNKNOWN, "$nope") in got


def test_message_mode_marks_the_dot_that_gets_stuffed() -> None:
    c = lx("smtp", message_mode=True)
    assert styles(".hidden", c) == [(lexer.STUFFED, "."), (lexer.TEXT, "hidden")]
    assert styles(".", c) == [(lexer.TEXT, ".")]
    assert styles("QUIT", c) == [(lexer.TEXT, "QUIT")]  # message text, not a command
