"""Keep secrets out of recorded transcripts.

``Redactor(protocol)`` watches one session line by line, both directions,
and returns each line with its secrets replaced by ``<redacted>``.  It has
to see the server's lines too: whether a client line is a password can
depend on the exchange around it (a SASL exchange is over when the server
gives its final answer).  Usernames stay visible; a class can still see
who logged in.

What is redacted:

- POP3 (RFC 1939 7, RFC 5034): ``PASS <redacted>`` (the whole rest of the
  line: a POP3 password may contain spaces), ``APOP user <redacted>``,
  ``AUTH mech <redacted>`` and every SASL response line after it.
- IMAP (RFC 3501 6.2.2, 6.2.3; RFC 4959): the password of ``tag LOGIN user
  password`` whether atom, quoted string (``"<redacted>"``) or literal (the
  literal's bytes, on the following line; its ``{n}`` size stays);
  ``AUTHENTICATE mech`` initial response and every SASL response line until
  the tagged reply.  The lecture's ``A0001 USER "frobozz" "xyzzy"`` is
  treated like LOGIN.
- SMTP (RFC 4954 4): ``AUTH mech <redacted>`` and the response lines that
  follow ``334``.
- HTTP (RFC 9110 11.6.2, 11.7.2; RFC 6265 4): the credentials of
  ``Authorization`` and ``Proxy-Authorization`` (the scheme stays:
  ``Authorization: Basic <redacted>``), every cookie value in ``Cookie``
  (names stay), and, on the server side, the value of ``Set-Cookie`` (its
  attributes stay).  Only in the header section.

SASL: the mechanism stays visible; for ``LOGIN`` the first response is the
username and stays (base64 still); ``*`` (cancel) and empty responses stay.
Everything else the client sends during the exchange is redacted, even if
the server has not prompted yet: over-redacting is the safe mistake.

A redacted line cannot be replayed as is: the replayer refuses to send a
line holding ``<redacted>`` (``variables.RedactedLineError``).  Edit
``C: PASS <redacted>`` into ``C: PASS $password`` and replay with ``--set
password=...``.  Bodies, POST forms and message text are not searched for
secrets.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from .escape import REDACTED_BYTES, REDACTION, Segment

__all__ = ["PROTOCOLS", "Redactor", "join_segments"]

# URL schemes and protocol names, to the four dialects the redactor knows.
PROTOCOLS: Final = {
    "smtp": "smtp",
    "smtps": "smtp",
    "submission": "smtp",
    "submissions": "smtp",
    "esmtp": "smtp",
    "pop3": "pop3",
    "pop3s": "pop3",
    "pop": "pop3",
    "imap": "imap",
    "imaps": "imap",
    "http": "http",
    "https": "http",
}


def join_segments(segments: Sequence[Segment]) -> bytes:
    """Segments as bytes, each marker spelled ``<redacted>``."""
    return b"".join(REDACTED_BYTES if not isinstance(s, bytes) else s for s in segments)


def _split_eol(raw: bytes) -> tuple[bytes, bytes]:
    if raw.endswith(b"\r\n"):
        return raw[:-2], b"\r\n"
    if raw.endswith(b"\n"):
        return raw[:-1], b"\n"
    return raw, b""


class _Sasl:
    """One SASL exchange seen from the client side (RFC 4422 3)."""

    __slots__ = ("mechanism", "username_seen")

    def __init__(self, mechanism: bytes) -> None:
        self.mechanism = mechanism.upper()
        self.username_seen = False

    def response(self, content: bytes) -> list[Segment]:
        stripped = content.strip()
        if stripped in (b"", b"*", b"="):
            # Empty response, cancel (RFC 4954 4, RFC 3501 6.2.2), or
            # empty initial response (RFC 4959 3): nothing secret.
            return [content]
        if self.mechanism == b"LOGIN" and not self.username_seen:
            # The non-standard LOGIN mechanism asks for the username first.
            self.username_seen = True
            return [content]
        return [REDACTION]


_AUTH: Final = re.compile(rb"(AUTH[ ]+)([A-Za-z0-9_-]+)(?:([ ]+)(.*))?", re.IGNORECASE | re.DOTALL)


def _auth_line(m: re.Match[bytes], sasl: _Sasl) -> list[Segment]:
    out: list[Segment] = [m.group(1) + m.group(2)]
    if m.group(3) is not None:
        out.append(m.group(3))
        out.extend(sasl.response(m.group(4)))
    return out


class _Smtp:
    __slots__ = ("in_data", "sasl")

    def __init__(self) -> None:
        self.sasl: _Sasl | None = None
        self.in_data = False  # message text: its lines are not commands

    def client(self, content: bytes) -> list[Segment]:
        if self.in_data:
            if content == b".":  # RFC 5321 4.1.1.4: end of mail data
                self.in_data = False
            return [content]
        if self.sasl is not None:
            return self.sasl.response(content)
        if content.upper() == b"DATA":
            self.in_data = True
            return [content]
        m = _AUTH.fullmatch(content)
        if m is None:
            return [content]
        self.sasl = _Sasl(m.group(2))
        return _auth_line(m, self.sasl)

    def server(self, content: bytes) -> list[Segment]:
        if not (content[:3].isdigit() and content[3:4] != b"-"):
            return [content]
        code = content[:3]
        if self.sasl is not None and code != b"334":
            # RFC 4954 4: 334 asks for the next response; any other final
            # reply ends the exchange.
            self.sasl = None
        if self.in_data and code[:1] in (b"4", b"5"):
            # DATA refused (or a pipelined command failed): what follows
            # may be commands again, and must be searched for secrets.
            self.in_data = False
        return [content]


_PASS: Final = re.compile(rb"(PASS )(.+)", re.IGNORECASE | re.DOTALL)
_APOP: Final = re.compile(rb"(APOP +\S+ +)(.+)", re.IGNORECASE | re.DOTALL)


class _Pop3:
    __slots__ = ("sasl",)

    def __init__(self) -> None:
        self.sasl: _Sasl | None = None

    def client(self, content: bytes) -> list[Segment]:
        if self.sasl is not None:
            return self.sasl.response(content)
        m = _PASS.fullmatch(content)
        if m is not None:  # RFC 1939 7: PASS string
            return [m.group(1), REDACTION]
        m = _APOP.fullmatch(content)
        if m is not None:  # RFC 1939 7: APOP name digest
            return [m.group(1), REDACTION]
        m = _AUTH.fullmatch(content)
        if m is not None:  # RFC 5034 4
            self.sasl = _Sasl(m.group(2))
            return _auth_line(m, self.sasl)
        return [content]

    def server(self, content: bytes) -> list[Segment]:
        # RFC 5034 4: "+ " is a challenge; +OK or -ERR ends the exchange.
        if self.sasl is not None and not (content == b"+" or content.startswith(b"+ ")):
            self.sasl = None
        return [content]


_LITERAL: Final = re.compile(rb"~?\{(\d{1,18})\+?\}")


class _ImapCommand:
    """An IMAP command whose lines are still being sent (it has literals)."""

    __slots__ = ("index", "literal_left", "literal_secret", "name", "sasl", "tag")

    def __init__(self) -> None:
        self.index = 0  # token number: 0 tag, 1 command name, 2.. arguments
        self.tag = b""
        self.name = b""
        self.literal_left = 0
        self.literal_secret = False
        self.sasl: _Sasl | None = None

    def secret(self) -> bool:
        # RFC 3501 6.2.3 LOGIN userid password; the lecture's USER the same.
        return self.index == 3 and self.name in (b"LOGIN", b"USER")


class _Imap:
    __slots__ = ("cmd", "sasl", "sasl_tag")

    def __init__(self) -> None:
        self.cmd: _ImapCommand | None = None
        self.sasl: _Sasl | None = None
        self.sasl_tag = b""

    def client_raw(self, raw: bytes) -> list[Segment]:
        content, eol = _split_eol(raw)
        if self.sasl is not None and self.cmd is None:
            return [*self.sasl.response(content), eol]
        cmd = self.cmd if self.cmd is not None else _ImapCommand()
        self.cmd = cmd
        out: list[Segment] = []
        pos = 0
        if cmd.literal_left:
            # RFC 3501 4.3: the literal's octets, which may hold CRLFs.
            take = min(cmd.literal_left, len(raw))
            cmd.literal_left -= take
            chunk = raw[:take]
            pos = take
            if cmd.literal_secret:
                if take == len(raw) and eol:
                    out += [REDACTION, eol]
                    pos = len(raw)
                else:
                    out.append(REDACTION)
            else:
                out.append(chunk)
            if cmd.literal_left or pos == len(raw):
                # RFC 3501 4.3: the command goes on after a literal (at least
                # its CRLF), in the next piece when the octets came alone (a
                # proxied client, pipe mode): LOGIN {3+} bob {8+} password.
                return out
        end = max(len(raw) - len(eol), pos)
        while pos < end:
            c = raw[pos]
            if c == 0x20:
                stop = pos
                while stop < end and raw[stop] == 0x20:
                    stop += 1
                out.append(raw[pos:stop])
                pos = stop
                continue
            m = _LITERAL.match(raw, pos)
            if m is not None and m.end() == end:
                out.append(m.group(0))
                cmd.literal_secret = cmd.secret()
                cmd.literal_left = int(m.group(1))
                cmd.index += 1
                out.append(raw[end:])
                return out  # the command goes on after the literal's octets
            if c == 0x22:  # quoted string, RFC 3501 4.3
                stop = pos + 1
                while stop < end and raw[stop] != 0x22:
                    stop += 2 if raw[stop] == 0x5C else 1
                closed = stop < end
                stop = min(stop + 1, end)
                token = raw[pos:stop]
                if cmd.secret():
                    out += [b'"', REDACTION, b'"'] if closed else [REDACTION]
                else:
                    out.extend(self._token(cmd, token))
            else:
                stop = raw.find(b" ", pos, end)
                stop = end if stop < 0 else stop
                token = raw[pos:stop]
                if cmd.secret():
                    out.append(REDACTION)
                else:
                    out.extend(self._token(cmd, token))
            cmd.index += 1
            pos = stop
        out.append(raw[max(pos, end) :])
        self.cmd = None
        if cmd.sasl is not None:
            self.sasl = cmd.sasl
            self.sasl_tag = cmd.tag
        return out

    @staticmethod
    def _token(cmd: _ImapCommand, token: bytes) -> list[Segment]:
        if cmd.index == 0:
            cmd.tag = token
        elif cmd.index == 1:
            cmd.name = token.upper()
        elif cmd.name == b"AUTHENTICATE":
            if cmd.index == 2:
                cmd.sasl = _Sasl(token)
            elif cmd.index == 3 and cmd.sasl is not None:
                return cmd.sasl.response(token)  # RFC 4959 initial response
        return [token]

    def server(self, content: bytes) -> list[Segment]:
        if self.cmd is not None and self.cmd.tag and content.startswith(self.cmd.tag + b" "):
            # A tagged reply before the command was complete: the server
            # refused a synchronizing literal (RFC 3501 7.5), none follows.
            self.cmd = None
        # The exchange ends with the tagged reply (or the server leaving).
        if self.sasl is not None and (
            content.startswith(self.sasl_tag + b" ") or content.upper().startswith(b"* BYE")
        ):
            self.sasl = None
        return [content]


_HEADER: Final = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+)(:[ \t]*)(.*)", re.DOTALL)
_REQUEST_LINE: Final = re.compile(rb"[A-Za-z]+ \S+ HTTP/\d")
_STATUS_LINE: Final = re.compile(rb"HTTP/\d(?:\.\d)? \d{3}")
_CREDENTIALS: Final = re.compile(rb"(\S+)([ \t]+)(\S.*)", re.DOTALL)


def _cookie_values(value: bytes, first_only: bool) -> list[Segment]:
    """``a=1; b=2`` -> ``a=<redacted>; b=<redacted>`` (RFC 6265 4.2.1);
    with ``first_only`` (Set-Cookie, RFC 6265 4.1.1) the attributes after
    the first pair stay."""
    out: list[Segment] = []
    for i, part in enumerate(value.split(b";")):
        if i:
            out.append(b";")
        if first_only and i:
            out.append(part)
            continue
        name, eq, val = part.partition(b"=")
        if eq and val.strip():
            lead = val[: len(val) - len(val.lstrip())]
            out += [name + eq + lead, REDACTION]
        elif not eq and part.strip():
            out.append(REDACTION)
        else:
            out.append(part)
    return out


class _Http:
    __slots__ = ("client_fold", "client_headers", "server_fold", "server_headers")

    def __init__(self) -> None:
        self.client_headers = True
        self.server_headers = False
        self.client_fold = False
        self.server_fold = False

    def client(self, content: bytes) -> list[Segment]:
        if _REQUEST_LINE.match(content):
            self.client_headers, self.client_fold = True, False
            return [content]
        if not self.client_headers:
            return [content]
        if not content:
            self.client_headers = False
            return [content]
        if content[:1] in (b" ", b"\t"):
            # RFC 9112 5.2: obs-fold continues the previous field.
            if self.client_fold:
                stripped = content.lstrip(b" \t")
                return [content[: len(content) - len(stripped)], REDACTION]
            return [content]
        self.client_fold = False
        m = _HEADER.fullmatch(content)
        if m is None or not m.group(3):
            return [content]
        name = m.group(1).lower()
        prefix = m.group(1) + m.group(2)
        if name in (b"authorization", b"proxy-authorization"):
            self.client_fold = True
            cred = _CREDENTIALS.fullmatch(m.group(3))
            if cred is not None:  # keep the scheme: "Basic", "Bearer"
                return [prefix + cred.group(1) + cred.group(2), REDACTION]
            return [prefix, REDACTION]
        if name == b"cookie":
            self.client_fold = True
            return [prefix, *_cookie_values(m.group(3), first_only=False)]
        return [content]

    def server(self, content: bytes) -> list[Segment]:
        if _STATUS_LINE.match(content):
            self.server_headers, self.server_fold = True, False
            return [content]
        if not self.server_headers:
            return [content]
        if not content:
            self.server_headers = False
            return [content]
        if content[:1] in (b" ", b"\t"):
            if self.server_fold:
                stripped = content.lstrip(b" \t")
                return [content[: len(content) - len(stripped)], REDACTION]
            return [content]
        self.server_fold = False
        m = _HEADER.fullmatch(content)
        if m is not None and m.group(1).lower() == b"set-cookie" and m.group(3):
            self.server_fold = True
            return [m.group(1) + m.group(2), *_cookie_values(m.group(3), first_only=True)]
        return [content]


class Redactor:
    """Per-session redaction state machine; see the module docstring.

    ``protocol`` is a protocol or URL scheme name (``smtp``, ``submission``,
    ``pop3s``, ``imap``, ``https``...); ValueError for others.  Feed every
    line in wire order, each with or without its terminator (kept as is).
    """

    __slots__ = ("_http", "_imap", "_pop3", "_smtp", "protocol")

    def __init__(self, protocol: str) -> None:
        try:
            self.protocol: str = PROTOCOLS[protocol.lower()]
        except KeyError:
            known = ", ".join(sorted(PROTOCOLS))
            raise ValueError(f"cannot redact protocol {protocol!r} (known: {known})") from None
        self._smtp = _Smtp() if self.protocol == "smtp" else None
        self._pop3 = _Pop3() if self.protocol == "pop3" else None
        self._imap = _Imap() if self.protocol == "imap" else None
        self._http = _Http() if self.protocol == "http" else None

    def client_segments(self, raw: bytes) -> list[Segment]:
        """One client line as bytes segments and ``REDACTION`` markers (the
        writer prints markers as ``<redacted>``)."""
        if self._imap is not None:
            return self._imap.client_raw(raw)
        content, eol = _split_eol(raw)
        if self._smtp is not None:
            out = self._smtp.client(content)
        elif self._pop3 is not None:
            out = self._pop3.client(content)
        else:
            assert self._http is not None
            out = self._http.client(content)
        return [*out, eol]

    def server_segments(self, raw: bytes) -> list[Segment]:
        """One server line, ditto (only HTTP ``Set-Cookie`` is ever redacted
        here; the other protocols just learn where SASL exchanges end)."""
        content, eol = _split_eol(raw)
        if self._smtp is not None:
            out = self._smtp.server(content)
        elif self._pop3 is not None:
            out = self._pop3.server(content)
        elif self._imap is not None:
            out = self._imap.server(content)
        else:
            assert self._http is not None
            out = self._http.server(content)
        return [*out, eol]

    def client_line(self, raw: bytes) -> bytes:
        """The client line with its secrets replaced by ``<redacted>``."""
        return join_segments(self.client_segments(raw))

    def server_line(self, raw: bytes) -> bytes:
        """The server line with its secrets (``Set-Cookie``) replaced."""
        return join_segments(self.server_segments(raw))
