"""SASL PLAIN and LOGIN lines (protoshell/auth.py)."""

from __future__ import annotations

import base64

import pytest

from protoshell.auth import (
    AuthError,
    auth_dialogue,
    decode_challenge,
    login_responses,
    plain_response,
    sasl_start,
    sasl_user,
)


def test_plain_is_rfc_4616() -> None:
    assert plain_response("bob", "redqueen") == b"AGJvYgByZWRxdWVlbg=="
    assert base64.b64decode(plain_response("bob", "pw", "admin")) == b"admin\x00bob\x00pw"


def test_plain_refuses_nul() -> None:
    with pytest.raises(AuthError):
        plain_response("bo\x00b", "pw")


def test_login_is_two_lines() -> None:
    assert login_responses("bob", "redqueen") == (b"Ym9i", b"cmVkcXVlZW4=")


def test_non_ascii_is_utf8() -> None:
    assert base64.b64decode(login_responses("bob", "pässword")[1]) == "pässword".encode()


@pytest.mark.parametrize(
    ("protocol", "command"),
    [("smtp", b"AUTH PLAIN"), ("pop3", b"AUTH PLAIN"), ("imap", b"AUTHENTICATE PLAIN")],
)
def test_dialogue_command_per_protocol(protocol: str, command: bytes) -> None:
    d = auth_dialogue(protocol, "plain", "bob", "redqueen")
    assert d.command == command and d.responses == (b"AGJvYgByZWRxdWVlbg==",)
    assert d.is_secret(0)


def test_login_dialogue_redacts_both_lines() -> None:
    d = auth_dialogue("smtp", "LOGIN", "bob", "redqueen")
    assert d.command == b"AUTH LOGIN" and len(d.responses) == 2
    assert d.secrets == (0, 1)


def test_errors() -> None:
    with pytest.raises(AuthError, match="Authorization header"):
        auth_dialogue("http", "plain", "bob", "x")
    with pytest.raises(AuthError, match="unknown mechanism"):
        auth_dialogue("smtp", "CRAM-MD5", "bob", "x")


def test_decode_challenge() -> None:
    assert decode_challenge("VXNlcm5hbWU6") == "Username:"
    assert decode_challenge("not base64!") == ""


# -- a client's own exchange, as the proxy records it --


@pytest.mark.parametrize(
    ("line", "protocol", "start", "user"),
    [
        (b"AUTH LOGIN\r\n", "smtp", ("login", None), None),
        (b"AUTH LOGIN Ym9i\r\n", "smtp", ("login", b"Ym9i"), "bob"),
        (b"auth login\r\n", "pop3", ("login", None), None),
        (b"A1 AUTHENTICATE LOGIN\r\n", "imap", ("login", None), None),
        (b"AUTH PLAIN\r\n", "smtp", ("plain", None), None),
        (b"AUTH PLAIN AGJvYgByZWRxdWVlbg==\r\n", "smtp", ("plain", b"AGJvYgByZWRxdWVlbg=="), "bob"),
        (b"AUTH LOGIN\r\n", "imap", None, None),  # no tag: not IMAP's command
        (b"AUTH CRAM-MD5\r\n", "smtp", None, None),
        (b"AUTH LOGIN !!!\r\n", "smtp", ("login", b"!!!"), None),  # not base64: recorded as it came
    ],
)
def test_which_sasl_lines_become_auth(
    line: bytes, protocol: str, start: tuple[str, bytes | None] | None, user: str | None
) -> None:
    assert sasl_start(line, protocol) == start
    if start is not None and start[1] is not None:
        assert sasl_user(start[0], start[1]) == user
