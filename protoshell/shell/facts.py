"""What the shell has learned from the server, for completion.

The framers learn protocol facts as they frame (SMTP EHLO keywords and AUTH
mechanisms, POP3 message numbers and CAPA, IMAP capabilities and mailbox
names); this module only reads them, by the hint names the vocabulary tables
use in ``Command.args`` ("mailbox", "message", "auth-mechanism"...).  HTTP
paths come from the last HTML directory listing the server sent, which the
``PathLearner`` observer collects (bounded) from the body.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping
from html.parser import HTMLParser
from urllib.parse import unquote, urljoin, urlsplit

from ..proto.base import Payload, ResponseEnd, ServerLine
from ..session import Exchange

MAX_HTML = 256 << 10  # bytes of a listing read for links
MAX_PATHS = 500


def _words(value: object) -> tuple[str, ...]:
    """Names from a framer attribute that may be a dict, a list or a tuple."""
    if value is None:
        return ()
    if isinstance(value, Mapping):
        return tuple(str(k) for k in value)
    if isinstance(value, (str, bytes)):
        return (value.decode() if isinstance(value, bytes) else value,)
    if isinstance(value, Iterable):
        return tuple(str(v) for v in value)
    return ()


# hint name -> the framer attributes that hold it
_FRAMER_FACTS: dict[str, tuple[str, ...]] = {
    "auth-mechanism": ("auth_mechanisms",),
    "esmtp-keyword": ("ehlo_keywords",),
    "capability": ("capabilities",),
    "message": ("message_numbers",),
    "mailbox": ("mailboxes",),
    "flag": ("flags",),
}


def learned_facts(framer: object, paths: Iterable[str] = ()) -> dict[str, tuple[str, ...]]:
    """hint name -> words learned from this connection (empty ones left out)."""
    out: dict[str, tuple[str, ...]] = {}
    for hint, attrs in _FRAMER_FACTS.items():
        words: list[str] = []
        for attr in attrs:
            try:
                words.extend(_words(getattr(framer, attr, None)))
            except (AttributeError, TypeError, ValueError):
                pass  # a framer property must never break completion
        if words:
            out[hint] = tuple(dict.fromkeys(words))
    learned_paths = tuple(paths)
    if learned_paths:
        out["path"] = learned_paths
    return out


class _LinkParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag.lower() != "a":
            return
        for name, value in attrs:
            if name.lower() == "href" and value:
                self.hrefs.append(value)


def extract_links(html: str, base: str = "/") -> list[str]:
    """The same-server paths an HTML page links to, resolved against ``base``
    (the request path), without fragments, sorted, at most MAX_PATHS."""
    parser = _LinkParser()
    parser.feed(html)  # html.parser is lenient: it reports, never raises, on bad HTML
    parser.close()
    base = base if base.startswith("/") else "/" + base
    out: set[str] = set()
    for href in parser.hrefs:
        parts = urlsplit(href)
        if parts.scheme or parts.netloc:
            continue  # another server
        joined = urlsplit(urljoin(base, href))
        path = joined.path or "/"
        if not posixpath.normpath(unquote(path)).startswith("/"):
            continue
        out.add(path + (f"?{joined.query}" if joined.query else ""))
        if len(out) >= MAX_PATHS:
            break
    return sorted(out)


def request_path(first_line: bytes) -> str | None:
    """The path of an HTTP request line (``GET /a/ HTTP/1.1`` -> ``/a/``)."""
    words = first_line.split()
    if len(words) >= 2 and words[1].startswith(b"/"):
        return words[1].decode("utf-8", "replace")
    return None


class PathLearner:
    """Observer: remembers the links of the last HTML page (a directory
    listing), so ``GET <Tab>`` offers them.  Reads at most MAX_HTML bytes of
    a body; never holds more."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self._base = "/"
        self._html = False
        self._body = bytearray()
        self._request_line = True

    def __call__(self, ex: Exchange) -> None:
        if ex.direction == "C":
            if self._request_line:
                path = request_path(ex.raw)
                if path is not None:
                    self._base = path
                    self._request_line = False
            if ex.raw in (b"\r\n", b"\n"):
                self._request_line = True
            return
        event = ex.event
        if isinstance(event, ServerLine):
            if event.status is not None and event.status.startswith("HTTP "):
                self._html = False
                self._body.clear()
            name = getattr(event, "name", None)
            if isinstance(name, str) and name.lower() == "content-type":
                value = str(getattr(event, "value", "")).lower()
                self._html = "html" in value
        elif isinstance(event, Payload):
            if self._html and len(self._body) < MAX_HTML:
                self._body += event.raw[: MAX_HTML - len(self._body)]
        elif isinstance(event, ResponseEnd):
            if self._html and self._body:
                links = extract_links(self._body.decode("utf-8", "replace"), self._base)
                if links:
                    self.paths = links
            self._html = False
            self._body.clear()
            self._request_line = True
