"""variables.py: capture in S: lines, substitute in C: lines, wildcards."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protoshell.transcript import (
    RedactedLineError,
    VariableError,
    compile_expected,
    escape_line,
    match_expected,
    substitute,
    substitute_bytes,
    variables_in,
)


@pytest.mark.parametrize(
    ("pattern", "actual", "captures"),
    [
        # DESIGN.md's example: the first "* " is IMAP's, the last "*" a wildcard.
        (
            "* OK [UIDVALIDITY $uv] *",
            b"* OK [UIDVALIDITY 1357449499] UIDs valid\r\n",
            {"uv": "1357449499"},
        ),
        ("250 $x", b"250 OK\r\n", {"x": "OK"}),
        (
            "+OK POP3 server ready $stamp",
            b"+OK POP3 server ready <1896.6971@dobbs>\r\n",
            {"stamp": "\\x3c1896.6971@dobbs>"},
        ),
        ("$a.$b", b"1.2.3\r\n", {"a": "1", "b": "2.3"}),  # stops at the next literal
        ("${n}th", b"12th\r\n", {"n": "12"}),
        ("$t OK $t", b"A1 OK A1\r\n", {"t": "A1"}),
        ("221 *", b"221 foo.com Service closing transmission channel\r\n", {}),
        ("221 *", b"221 \r\n", {}),  # a wildcard may match nothing
        ("*", b"anything at all\r\n", {}),
        ("2* OK", b"250 OK\r\n", {}),
        ("Set-Cookie: sid=<redacted>; Path=/", b"Set-Cookie: sid=abc123; Path=/\r\n", {}),
        ("* FLAGS (\\Seen \\*)", b"* FLAGS (\\Seen \\*)\r\n", {}),
        ("cost \\$5", b"cost $5\r\n", {}),
        ("a\\x2ab", b"a*b\r\n", {}),
        ("bare LF\\n", b"bare LF\n", {}),
        ("cut\\c", b"cut", {}),
        ("$v", b"\xff\\n$x\r\n", {"v": "\\xff\\\\n\\$x"}),
    ],
)
def test_matches(pattern: str, actual: bytes, captures: dict[str, str]) -> None:
    assert match_expected(pattern, actual) == captures


@pytest.mark.parametrize(
    ("pattern", "actual"),
    [
        ("* OK done", b"A1 OK done\r\n"),  # untagged expected, tagged received
        ("* OK [UIDVALIDITY $uv] *", b"* OK [UIDVALIDITY 1]\r\n"),  # the space is literal
        ("250 $x", b"250 two words\r\n"),  # a variable never spans a space
        ("250 $x", b"250 \r\n"),  # ... nor matches nothing
        ("$t OK $t", b"A1 OK A2\r\n"),  # the same name twice must agree
        ("* FLAGS (\\Seen \\*)", b"* FLAGS (\\Seen x)\r\n"),  # \* is no wildcard
        ("a\\x2ab", b"axb\r\n"),
        ("cost \\$5", b"cost 5\r\n"),
        ("250 OK", b"250 OK\n"),  # bare LF where CRLF was expected
        ("250 OK", b"250 OK"),
        ("250 OK", b"250 OK \r\n"),
        ("Set-Cookie: sid=<redacted>; Path=/", b"Set-Cookie: sid=abc\r\n"),
    ],
)
def test_mismatches(pattern: str, actual: bytes) -> None:
    assert match_expected(pattern, actual) is None


def test_actual_as_notation() -> None:
    assert match_expected("250 $code", "250 OK") == {"code": "OK"}
    assert compile_expected("250 $code").names == ("code",)


def test_substitute() -> None:
    variables = {"uv": "1357449499", "box": "INBOX"}
    assert substitute("A1 SELECT $box", variables) == "A1 SELECT INBOX"
    assert substitute_bytes("A1 UID FETCH ${uv}1 *", variables) == b"A1 UID FETCH 13574494991 *\r\n"
    assert substitute_bytes("cost \\$box", variables) == b"cost $box\r\n"
    assert substitute_bytes('A1 LIST "" *', {}) == b'A1 LIST "" *\r\n'


def test_unknown_variables_are_all_listed() -> None:
    with pytest.raises(VariableError) as info:
        substitute("LOGIN $user $password $user", {"other": "x"})
    assert info.value.names == ("user", "password")
    assert "$user, $password" in str(info.value)


def test_redacted_line_is_refused_until_given_a_variable() -> None:
    with pytest.raises(RedactedLineError, match=r"\$name"):
        substitute_bytes("PASS <redacted>", {})
    # What the docs tell the user to do instead:
    secret = escape_line(b"red queen\\n")
    assert substitute_bytes("PASS $password", {"password": secret}) == b"PASS red queen\\n\r\n"
    # User text that happens to spell the marker is sent.
    assert substitute_bytes("say \\x3credacted>", {}) == b"say <redacted>\r\n"


def test_value_cannot_turn_into_an_escape() -> None:
    # The captured value is one backslash; after it comes "n".
    captured = match_expected("$v", b"\\\r\n")
    assert captured == {"v": "\\"}
    assert substitute_bytes("x$v${v}n", captured) == b"x\\\\n\r\n"
    assert substitute("x${v}n", captured) == "x\\\\n"


def test_variables_in_order_of_first_use() -> None:
    assert variables_in("$b $a ${b} \\$c $") == ("b", "a")


@given(st.binary(min_size=1, max_size=40).filter(lambda b: not any(c in b for c in b" \t\r\n")))
def test_captured_bytes_go_back_on_the_wire_unchanged(value: bytes) -> None:
    captured = match_expected("* OK [X $v] *", b"* OK [X " + value + b"] rest\r\n")
    assert captured is not None
    if b"]" not in value:
        assert substitute_bytes("C $v", captured) == b"C " + value + b"\r\n"
