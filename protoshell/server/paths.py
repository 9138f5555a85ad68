"""Turn a request target into a place inside the document root, or refuse.

This is the one place that decides what a URL may reach on disk, so every
rule that keeps a classroom server from leaking files outside its root lives
here and is tested here, with no socket involved:

- the target is percent-decoded to *bytes* (RFC 3986 2.1), so file names that
  are not valid UTF-8 can still be asked for, and ``%2e%2e``, ``..%2f`` and
  ``%2F`` are judged after decoding, exactly like their plain spellings;
- dot segments are removed (RFC 3986 5.2.4); a path that would climb above the
  root is refused (400), as nginx does;
- a NUL byte or a backslash (``%00``, ``%5c``) is refused (400): neither can
  name a file here, and a backslash is a separator on other systems;
- names beginning with a dot are hidden (404): a root that is a checkout must
  not hand out ``.git/``;
- the final path is resolved with ``realpath`` and must still lie inside the
  (resolved) root, so a symlink pointing outside is "not found" (404), while
  symlinks that stay inside work.

The redirect target for a directory asked for without its trailing slash is
rebuilt here from the decoded, normalised segments, re-quoted one by one, so
it always begins with exactly one ``/``: ``//evil/..%2f..`` can never turn
into the network-path reference ``//evil`` (an open redirect).
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from typing import Final, Literal, NamedTuple
from urllib.parse import quote, unquote_to_bytes

Kind = Literal["file", "dir", "missing"]

# RFC 9112 3.2.2 absolute-form: "http://host:port/path?query".  A server must
# accept it even though only proxies are sent it.
_ABSOLUTE_FORM: Final = re.compile(r"\A[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*")


class PathRefused(Exception):
    """The target cannot name anything we would serve; ``status`` says how to answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class UrlPath:
    """A request target's path, decoded and normalised.

    ``segments`` are the path's decoded byte segments (no empty, ``.`` or
    ``..`` ones); ``trailing_slash`` says whether the target ended in ``/``;
    ``canonical`` is false when the target had empty, ``.`` or ``..``
    segments (a directory is then redirected to its canonical form, so the
    relative links in its listing resolve as they should).
    """

    segments: tuple[bytes, ...]
    trailing_slash: bool
    canonical: bool = True

    def quoted(self, *, slash: bool | None = None) -> str:
        """The canonical target for these segments: always one leading ``/``,
        every segment percent-encoded (bytes that are not UTF-8 included)."""
        slash = self.trailing_slash if slash is None else slash
        body = "/".join(quote(s, safe="") for s in self.segments)
        if not body:
            return "/"
        return "/" + body + ("/" if slash else "")

    def display(self) -> str:
        """For people: decoded as UTF-8, bytes that are not shown as U+FFFD."""
        text = "/".join(s.decode("utf-8", "replace") for s in self.segments)
        return "/" + text + ("/" if text else "")


def split_target(target: str) -> tuple[str, str]:
    """``(path, query)`` of an origin-form or absolute-form target.

    Raises PathRefused(400) for anything else (``*``, ``example.com:443``, a
    relative path), since none of those names a file.
    """
    if not target.startswith("/"):
        m = _ABSOLUTE_FORM.match(target)
        if m is None:
            raise PathRefused(400, "the request target must be a path starting with /")
        target = target[m.end() :] or "/"
        if not target.startswith("/"):
            target = "/" + target
    path, _, query = target.partition("?")
    path = path.partition("#")[0]  # a fragment is never sent, but never served either
    return path, query


def parse_url_path(target: str) -> UrlPath:
    """Decode and normalise a request target's path; see the module doc.

    Raises PathRefused with 400 (malformed, NUL, backslash, above the root) or
    404 (a hidden dot-name).
    """
    path, _query = split_target(target)
    raw = unquote_to_bytes(path)
    if b"\x00" in raw:
        raise PathRefused(400, "a NUL byte in the path")
    if b"\\" in raw:
        raise PathRefused(400, "a backslash in the path")
    stack: list[bytes] = []
    parts = raw.split(b"/")
    for seg in parts:
        if seg in (b"", b"."):
            continue
        if seg == b"..":  # RFC 3986 5.2.4: remove_dot_segments
            if not stack:
                raise PathRefused(400, "the path climbs above the document root")
            stack.pop()
            continue
        stack.append(seg)
    for seg in stack:
        if seg.startswith(b"."):
            raise PathRefused(404, "hidden names (starting with a dot) are not served")
    trailing = parts[-1] in (b"", b".", b"..")
    canonical = parts == [b"", *stack, b""] if parts[-1] == b"" else parts == [b"", *stack]
    return UrlPath(tuple(stack), trailing, canonical)


class Resolved(NamedTuple):
    """Where a URL path leads inside the root.

    ``fs_path`` is the resolved (symlink-free) path in bytes; ``st`` its
    ``os.stat`` result when it exists.  (A named tuple: one is made for every
    request, and it costs a third of a frozen dataclass.)
    """

    url: UrlPath
    kind: Kind
    fs_path: bytes
    st: os.stat_result | None


class DocumentRoot:
    """A directory whose content may be served, and the rule that keeps
    everything else out (``contains``)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.path = os.fsencode(os.path.abspath(root))
        self.real = os.path.realpath(self.path)
        if not os.path.isdir(self.real):
            raise NotADirectoryError(f"not a directory: {os.fsdecode(self.path)}")
        self._prefix = self.real if self.real.endswith(b"/") else self.real + b"/"

    def contains(self, real_path: bytes) -> bool:
        """True when an already-resolved path is the root or lies under it."""
        return real_path == self.real or real_path.startswith(self._prefix)

    def resolve(self, url: UrlPath) -> Resolved:
        """Follow ``url`` on disk, one segment at a time from the resolved
        root: each step is an ``lstat``; a symlink is resolved in full and
        must still lie inside the root before the walk goes on from where it
        points.  Anything that is not inside the root, not a regular file or
        directory (a FIFO would block the server, a device must never be
        read), or gone, is ``missing``.

        (One ``lstat`` per segment costs less than ``os.path.realpath``,
        which also re-checks every component of the root itself.)
        """
        path = self.real
        try:
            if not url.segments:
                st = os.stat(path)
            for seg in url.segments:
                path = (self._prefix + seg) if path is self.real else (path + b"/" + seg)
                st = os.lstat(path)
                if stat.S_ISLNK(st.st_mode):
                    path = os.path.realpath(path)
                    if not self.contains(path):
                        return Resolved(url, "missing", path, None)
                    st = os.stat(path)
        except (OSError, ValueError):
            return Resolved(url, "missing", path, None)
        if stat.S_ISDIR(st.st_mode):
            return Resolved(url, "dir", path, st)
        if stat.S_ISREG(st.st_mode) and not url.trailing_slash:
            return Resolved(url, "file", path, st)
        return Resolved(url, "missing", path, None)
