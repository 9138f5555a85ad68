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
