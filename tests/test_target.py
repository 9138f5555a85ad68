"""URL -> Target: the schemes, default ports and TLS modes of DESIGN.md section 1."""

from __future__ import annotations

import pytest

from protoshell.target import TargetError, is_loopback, parse_target


@pytest.mark.parametrize(
    ("url", "protocol", "port", "tls"),
    [
        ("http://h", "http", 80, "none"),
        ("https://h", "http", 443, "implicit"),
        ("smtp://h", "smtp", 25, "none"),
        ("smtps://h", "smtp", 465, "implicit"),
        ("submission://h", "smtp", 587, "starttls"),
        ("pop3://h", "pop3", 110, "none"),
        ("pop3s://h", "pop3", 995, "implicit"),
        ("imap://h", "imap", 143, "none"),
        ("imaps://h", "imap", 993, "implicit"),
        ("SMTP://h:2525", "smtp", 2525, "none"),
    ],
)
def test_schemes(url: str, protocol: str, port: int, tls: str) -> None:
    t = parse_target(url)
    assert (t.protocol, t.port, t.tls, t.host) == (protocol, port, tls, "h")


def test_ipv6_and_host_header() -> None:
    t = parse_target("http://[::1]:8080/x?y=1")
    assert t.host == "::1" and t.port == 8080 and t.path == "/x?y=1"
    assert t.host_header == "[::1]:8080"
    assert parse_target("http://example.org:80").host_header == "example.org"


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("localhost:25", "not a URL"),
        ("gopher://h", "unknown scheme"),
        ("smtp://", "no host"),
        ("smtp://h:99999", "bad URL"),
        ("smtp://h:0", "port 0"),
    ],
)
def test_bad_urls_say_why(url: str, words: str) -> None:
    with pytest.raises(TargetError, match=words):
        parse_target(url)


def test_starttls_upgrade_rules() -> None:
    assert parse_target("smtp://h:2525").with_starttls().tls == "starttls"
    with pytest.raises(TargetError, match="already uses TLS"):
        parse_target("imaps://h").with_starttls()
    with pytest.raises(TargetError, match="no STARTTLS"):
        parse_target("http://h").with_starttls()


def test_loopback() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("192.0.2.1") and not is_loopback("example.org")
