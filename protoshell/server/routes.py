"""Request in, response out: what the embedded server answers, with no socket.

The lab's steps 3 to 5 and its assignment, done properly: a directory gets an
HTML listing with links, a file is sent with its type from ``mimetypes``,
``/time-page`` shows the current time, anything else is a 404 page, and only
GET and HEAD are allowed (405 with ``Allow``, RFC 9110 15.5.6).

``Router.route`` takes any object with the fields of the framer's
``HttpRequest`` (``method``, ``target``, ``header(name)``) and
the current time, and returns a ``Response`` the server writes out.  A file
body is handed over as an open file (``Response.file``) so the server can use
``sendfile`` and so a file that vanishes after the ``stat`` is caught here, at
``open``, and becomes a 404 instead of an error half-way through a response.
The router never adds ``Date``, ``Server``, ``Content-Length`` or
``Connection``: the server does, for every response alike (errors included).
"""

from __future__ import annotations

import html
import mimetypes
import os
import stat
import time
from dataclasses import dataclass, field
from typing import BinaryIO, Final, Protocol

from .. import __version__
from ..proto.http import REASONS, http_date, parse_http_date
from . import listing
from .paths import DocumentRoot, PathRefused, Resolved, UrlPath, parse_url_path

SERVER_NAME: Final = f"protoshell/{__version__}"
ALLOWED_METHODS: Final = ("GET", "HEAD")
TIME_PAGE: Final = "/time-page"
_TIME_PAGE_SEGMENTS: Final = (b"time-page",)

# The types the lab names and the site uses, fixed here so that a machine with
# no /etc/mime.types (a slim container) still labels them right; everything
# else asks ``mimetypes``.  Text types are UTF-8 (the site's own files are).
_TYPES: Final = {
    b".html": "text/html; charset=utf-8",
    b".htm": "text/html; charset=utf-8",
    b".txt": "text/plain; charset=utf-8",
    b".text": "text/plain; charset=utf-8",
    b".md": "text/markdown; charset=utf-8",
    b".css": "text/css; charset=utf-8",
    b".js": "text/javascript; charset=utf-8",  # RFC 9239 section 6
    b".mjs": "text/javascript; charset=utf-8",
    b".json": "application/json",  # RFC 8259 section 11: no charset parameter
    b".svg": "image/svg+xml",
    b".png": "image/png",
    b".jpg": "image/jpeg",
    b".jpeg": "image/jpeg",
    b".gif": "image/gif",
    b".ico": "image/vnd.microsoft.icon",
    b".webp": "image/webp",
    b".pdf": "application/pdf",
    b".xml": "application/xml",
}
DEFAULT_TYPE: Final = "application/octet-stream"


def content_type(name: bytes) -> str:
    """The Content-Type for a file name (bytes, as on disk)."""
    ext = os.path.splitext(name)[1].lower()
    known = _TYPES.get(ext)
    if known is not None:
        return known
    guess, encoding = mimetypes.guess_type(os.fsdecode(name), strict=False)
    if guess is None or encoding is not None:
        # a .gz/.bz2 file is sent as the bytes it is, not as a type the
        # browser would try to decompress and render
        return DEFAULT_TYPE
    if guess.startswith("text/"):
        return guess + "; charset=utf-8"
    return guess


class RequestLike(Protocol):
    """The parts of the framer's ``HttpRequest`` that routing reads."""

    @property
    def method(self) -> str: ...

    @property
    def target(self) -> str: ...

    def header(self, name: str) -> str | None: ...


@dataclass(slots=True)
class Response:
    """What to send: status, headers (without Date/Server/Content-Length/
    Connection), and a body that is either ``body`` bytes or an open ``file``
    of ``length`` bytes.  ``length`` is the Content-Length even when no body
    is sent (HEAD, RFC 9110 9.3.2), so HEAD and GET get the same headers.
    ``close`` asks the server to close the connection after it.
    """

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    file: BinaryIO | None = None
    length: int = 0
    close: bool = False
    # What the access log shows besides the request line (e.g. why a 400).
    note: str = ""
    # Set on responses the router makes again and again unchanged (a cached
    # file): responses with the same ``key`` have the same status, headers
    # and length (a HEAD's body aside), so the server may reuse the head it
    # serialised for the first one while its Date is current.
    key: object = None

    @property
    def reason(self) -> str:
        return REASONS.get(self.status, "Unknown")

    def header(self, name: str) -> str | None:
        lname = name.lower()
        for n, v in self.headers:
            if n.lower() == lname:
                return v
        return None

    def close_file(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


def _page(title: str, paragraphs: list[str]) -> bytes:
    """A small HTML page; the arguments are already-escaped HTML."""
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{listing.PAGE_STYLE}</style></head>\n"
        f"<body><h1>{title}</h1>{body}"
        f'<footer><a href="/">home</a> · {html.escape(SERVER_NAME)}</footer></body></html>\n'
    ).encode()


def error_response(status: int, detail: str = "", *, close: bool = False) -> Response:
    """An HTML error page; ``detail`` is plain text for a person (escaped here)."""
    reason = REASONS.get(status, "Error")
    explain = [html.escape(detail)] if detail else []
    body = _page(f"{status} {html.escape(reason)}", explain)
    return Response(
        status,
        [("Content-Type", "text/html; charset=utf-8")],
        body=body,
        length=len(body),
        close=close,
        note=detail,
    )


#: Files up to this size are read whole (and cached); bigger ones are sent
#: with sendfile, never held in memory.
CACHE_FILE_MAX: Final = 128 << 10
CACHE_TOTAL_MAX: Final = 16 << 20
#: A file changed less than this many seconds ago is read afresh for every
#: request, not cached: on a file system whose timestamps count whole
#: seconds (FAT, ext3, some network file systems) a second write of the same
#: size within the second it was read would leave inode, size, mtime and
#: ctime as they were, and the cache could not tell ("racy git": git's index
#: has the same rule for the same reason).
SETTLE_SECONDS: Final = 2.0
#: A directory listing may show sizes and dates this many seconds old.
LISTING_MAX_AGE: Final = 1.0
LISTING_CACHE_ENTRIES: Final = 256
TARGET_MEMO_ENTRIES: Final = 4096


@dataclass(frozen=True, slots=True)
class _CachedFile:
    """One version of a small file, with what its 200 carries."""

    key: tuple[int, int, int, int]
    content_type: str
    last_modified: str
    mtime: int
    body: bytes
    # The ``Response.key`` of the 200s made from this entry: a bare object,
    # so what the server keeps by it does not hold on to the body.
    token: object = field(default_factory=object, compare=False)


def _file_key(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _file_response(
    ctype: str,
    last_modified: str,
    if_modified_since: str | None,
    mtime: int,
    body: bytes,
    length: int,
    key: object = None,
) -> Response:
    headers = [("Content-Type", ctype), ("Last-Modified", last_modified)]
    if if_modified_since is not None:
        since = parse_http_date(if_modified_since)
        # RFC 9110 13.1.3: "not modified" unless the file is newer than the
        # date given (an invalid date is ignored, as the RFC says).
        if since is not None and mtime <= since:
            return Response(304, headers)
    return Response(200, headers, body=body, length=length, key=key)


class Router:
    """Maps requests to responses for one document root."""

    def __init__(self, root: str | os.PathLike[str], *, settle: float = SETTLE_SECONDS) -> None:
        self.root = DocumentRoot(root)
        self.settle = settle  # see SETTLE_SECONDS
        self._files: dict[bytes, _CachedFile] = {}
        self._targets: dict[str, UrlPath | PathRefused] = {}
        self._listings: dict[
            tuple[bytes, tuple[bytes, ...]], tuple[tuple[int, int, int], float, bytes]
        ] = {}
        self._cached_bytes = 0

    # -- entry point -------------------------------------------------------

    def route(self, request: RequestLike, *, now: float | None = None) -> Response:
        """The response to ``request`` at time ``now`` (default: the clock)."""
        if now is None:
            now = time.time()
        method = request.method
        if method not in ALLOWED_METHODS:
            # RFC 9110 15.5.6: a 405 must list what is allowed.
            resp = error_response(405, f"{method} is not allowed here; use GET or HEAD")
            resp.headers.append(("Allow", ", ".join(ALLOWED_METHODS)))
            return resp
        head = method == "HEAD"
        url = self._parse(request.target)
        if isinstance(url, PathRefused):
            return error_response(url.status, url.reason)
        if url.segments == _TIME_PAGE_SEGMENTS and not url.trailing_slash:
            return self.time_page(now)
        where = self.root.resolve(url)
        if where.kind == "dir":
            if not url.trailing_slash or not url.canonical:
                return self.redirect(url)
            return self.directory(where, now)
        if where.kind == "file":
            return self.file(where, request.header("If-Modified-Since"), head=head)
        return self.not_found(url)

    def _parse(self, target: str) -> UrlPath | PathRefused:
        """``parse_url_path``, remembered: a browser or a benchmark asks for
        the same few targets again and again, and the answer depends on the
        target string alone (the file system is looked at afresh each time)."""
        known = self._targets.get(target)
        if known is None:
            try:
                known = parse_url_path(target)
            except PathRefused as exc:
                known = exc
            if len(self._targets) >= TARGET_MEMO_ENTRIES:
                self._targets.clear()
            self._targets[target] = known
        return known

    # -- responses ---------------------------------------------------------

    def redirect(self, url: UrlPath) -> Response:
        """301 to the slash form.  ``Location`` is rebuilt from the decoded
        segments (see paths.py), so it always starts with exactly one ``/``."""
        location = url.quoted(slash=True)
        body = _page(
            "301 Moved Permanently",
            [f'A directory: see <a href="{html.escape(location)}">{html.escape(location)}</a>.'],
        )
        return Response(
            301,
            [("Location", location), ("Content-Type", "text/html; charset=utf-8")],
            body=body,
            length=len(body),
        )

    def directory(self, where: Resolved, now: float) -> Response:
        """The HTML listing.  A listing is reused while the directory's own
        ``stat`` is unchanged (so an added, removed or renamed entry shows at
        once) for at most ``LISTING_MAX_AGE`` seconds (so a file's new size
        or date shows within that time)."""
        st = where.st
        assert st is not None
        key = (where.fs_path, where.url.segments)
        version = (st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
        cached = self._listings.get(key)
        if cached is not None and cached[0] == version and 0 <= now - cached[1] < LISTING_MAX_AGE:
            body = cached[2]
        else:
            try:
                entries = listing.scan(where.fs_path, self.root.contains)
            except OSError:  # vanished, or not readable
                return self.not_found(where.url)
            body = listing.render(
                where.url.display(), entries, at_root=not where.url.segments, server=SERVER_NAME
            )
            if len(self._listings) >= LISTING_CACHE_ENTRIES:
                self._listings.clear()
            self._listings[key] = (version, now, body)
        return Response(
            200,
            [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-cache")],
            body=body,
            length=len(body),
        )

    def file(self, where: Resolved, if_modified_since: str | None, *, head: bool) -> Response:
        """200 with the file (or 304).  Small files are read whole and kept
        in a cache checked against the ``stat`` done for this very request
        (inode, size, mtime and ctime, which no one can set by hand), so a
        changed file is never served stale (a file changed in the last
        ``settle`` seconds is not cached yet: see SETTLE_SECONDS); big ones
        go out as an open file for ``sendfile``."""
        st = where.st
        assert st is not None
        cached = self._files.get(where.fs_path)
        if cached is not None and cached.key == _file_key(st):
            return _file_response(
                cached.content_type,
                cached.last_modified,
                if_modified_since,
                cached.mtime,
                b"" if head else cached.body,
                st.st_size,
                cached.token,
            )
        ctype = content_type(where.url.segments[-1])
        if head:
            mtime = int(st.st_mtime)
            return _file_response(
                ctype, http_date(mtime), if_modified_since, mtime, b"", st.st_size
            )
        try:
            # O_NONBLOCK: if the name was swapped for a FIFO since the stat,
            # open must not hang the server.
            fd = os.open(where.fs_path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:  # vanished (or unreadable) since the stat: not there
            return self.not_found(where.url)
        fh = os.fdopen(fd, "rb", buffering=0)
        try:
            st = os.fstat(fd)  # describes what we will actually send
            if not stat.S_ISREG(st.st_mode):
                fh.close()
                return self.not_found(where.url)
            mtime = int(st.st_mtime)
            last_modified = http_date(mtime)
            if st.st_size > CACHE_FILE_MAX:
                resp = _file_response(
                    ctype, last_modified, if_modified_since, mtime, b"", st.st_size
                )
                if resp.status == 200:  # the caller owns (and closes) the file now
                    resp.file = fh
                    fh = None  # type: ignore[assignment]
                return resp
            body = fh.read(st.st_size + 1) or b""
        except OSError:
            return self.not_found(where.url)
        finally:
            if fh is not None:
                fh.close()
        if len(body) == st.st_size and max(st.st_mtime, st.st_ctime) < time.time() - self.settle:
            self._remember(
                where.fs_path, _CachedFile(_file_key(st), ctype, last_modified, mtime, body)
            )
        return _file_response(ctype, last_modified, if_modified_since, mtime, body, len(body))

    def _remember(self, path: bytes, entry: _CachedFile) -> None:
        files = self._files
        old = files.pop(path, None)
        if old is not None:
            self._cached_bytes -= len(old.body)
        while files and self._cached_bytes + len(entry.body) > CACHE_TOTAL_MAX:
            oldest = next(iter(files))  # dicts keep insertion order: FIFO
            self._cached_bytes -= len(files.pop(oldest).body)
        files[path] = entry
        self._cached_bytes += len(entry.body)

    def time_page(self, now: float) -> Response:
        """The assignment's dynamic endpoint: the current time, as HTML."""
        utc = time.gmtime(now)
        local = time.localtime(now)
        body = _page(
            "The time",
            [
                (
                    f'It is <strong id="time">{time.strftime("%H:%M:%S", utc)}</strong> UTC '
                    f'on <span id="date">{time.strftime("%A %d %B %Y", utc)}</span>.'
                ),
                "On the server's clock: "
                + html.escape(time.strftime("%Y-%m-%d %H:%M:%S %Z", local)),
                f"As an HTTP date: <code>{html.escape(http_date(now))}</code>",
                "Reload the page to see the clock move: this page is made for each request.",
            ],
        )
        return Response(
            200,
            [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store")],
            body=body,
            length=len(body),
        )

    def not_found(self, url: UrlPath) -> Response:
        return error_response(404, f"nothing at {url.display().rstrip('/') or '/'}")
