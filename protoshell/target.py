"""Where to connect: a URL like ``imaps://127.0.0.1:1993`` made into a Target.

Pure (no sockets): the scheme decides the protocol, the default port and how
TLS starts, exactly as in DESIGN.md section 1.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

TlsMode = Literal["none", "implicit", "starttls"]


class TargetError(ValueError):
    """A URL protoshell cannot connect to; the message is one line for the user."""


# scheme -> (protocol, default port, TLS mode)
SCHEMES: dict[str, tuple[str, int, TlsMode]] = {
    "http": ("http", 80, "none"),
    "https": ("http", 443, "implicit"),
    "smtp": ("smtp", 25, "none"),
    "smtps": ("smtp", 465, "implicit"),
    "submission": ("smtp", 587, "starttls"),
    "pop3": ("pop3", 110, "none"),
    "pop3s": ("pop3", 995, "implicit"),
    "imap": ("imap", 143, "none"),
    "imaps": ("imap", 993, "implicit"),
}


@dataclass(frozen=True, slots=True)
class Target:
    scheme: str
    protocol: str  # "http", "smtp", "pop3", "imap"
    host: str
    port: int
    tls: TlsMode
    path: str = "/"  # HTTP only: the path in the URL, a hint for the first request

    @property
    def default_port(self) -> int:
        return SCHEMES[self.scheme][1]

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def host_header(self) -> str:
        """The authority as HTTP's Host header wants it (port only if not default)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == self.default_port else f"{host}:{self.port}"

    def with_starttls(self) -> Target:
        if self.tls == "implicit":
            raise TargetError(f"{self.scheme}:// already uses TLS from the start; --starttls does not apply")
        if self.protocol == "http":
            raise TargetError("HTTP has no STARTTLS; use https://")
        return Target(self.scheme, self.protocol, self.host, self.port, "starttls", self.path)


def parse_target(url: str) -> Target:
    """Parse a target URL; raise TargetError with a one-line reason."""
    if "://" not in url:
        raise TargetError(
            f"not a URL: {url!r} (expected e.g. smtp://localhost:2525; schemes: {', '.join(SCHEMES)})"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetError(f"bad URL {url!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise TargetError(f"unknown scheme {scheme!r} in {url!r}; use one of: {', '.join(SCHEMES)}")
    protocol, default_port, tls = SCHEMES[scheme]
    host = parts.hostname
    if not host:
        raise TargetError(f"no host in {url!r}")
    if port == 0:
        raise TargetError(f"port 0 is not a port one can connect to: {url!r}")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(scheme, protocol, host, port or default_port, tls, path)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
