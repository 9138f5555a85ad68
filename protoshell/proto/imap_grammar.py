"""IMAP4rev1 command grammars, sans-IO: tokens in, typed arguments out.

The grammar of each command's arguments (RFC 3501 6; RFC 4315 UID EXPUNGE,
RFC 4959 SASL-IR), the search keys of SEARCH (6.4.4), the fetch items of
FETCH (6.4.5), the flags of STORE and APPEND (2.3.2), and the command table:
which state allows which command (RFC 3501 3) and which grammar reads its
arguments.  The grammars read the tokens of ``imap_syntax`` and build the
dataclasses of ``imap_args``; the connection (``imap_server``) looks commands
up in the table.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Final, Literal

from .imap_args import (
    AppendArgs,
    AuthenticateArgs,
    CommandArgs,
    CopyArgs,
    FetchArgs,
    FetchItem,
    ListArgs,
    LoginArgs,
    MailboxArgs,
    RenameArgs,
    SearchArgs,
    SearchKey,
    StatusArgs,
    StoreArgs,
)
from .imap_syntax import (
    _MAX_NUMBER,
    Atom,
    ImapSyntaxError,
    PList,
    SequenceSet,
    StreamedLiteral,
    String,
    Token,
    _parse_date,
    parse_date_time,
    parse_sequence_set,
)

__all__ = ["SYSTEM_FLAGS", "ServerState", "parse_search"]

ServerState = Literal["not-authenticated", "authenticated", "selected", "logout"]

# RFC 3501 2.3.2: the system flags, and their Maildir letters.
SYSTEM_FLAGS: Final = ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")
_FLAG_BY_LOWER: Final = {f.lower(): f for f in SYSTEM_FLAGS}


# ---------------------------------------------------------------------------
# The token cursor, mailbox names and flags (RFC 3501 9, 5.1, 2.3.2)
# ---------------------------------------------------------------------------


class _Args:
    """A cursor over a command's tokens with the RFC 3501 9 rules."""

    def __init__(self, tokens: Sequence[Token]) -> None:
        self.tokens = tokens
        self.i = 0

    def more(self) -> bool:
        return self.i < len(self.tokens)

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, what: str) -> Token:
        if self.i >= len(self.tokens):
            raise ImapSyntaxError(f"missing {what}")
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def end(self) -> None:
        if self.i < len(self.tokens):
            raise ImapSyntaxError("unexpected extra arguments")

    def astring(self, what: str) -> bytes:
        tok = self.take(what)
        if isinstance(tok, String):
            return tok.data
        if isinstance(tok, Atom) and tok.text and not _has_specials(tok.text, "%*"):
            return tok.text.encode("utf-8")
        raise ImapSyntaxError(f"{what}: expected an atom or a string")

    def atom(self, what: str) -> str:
        tok = self.take(what)
        if isinstance(tok, Atom):
            return tok.text
        raise ImapSyntaxError(f"{what}: expected an atom")

    def number(self, what: str) -> int:
        text = self.atom(what)
        if not text.isdigit() or not text.isascii() or int(text) > _MAX_NUMBER:
            raise ImapSyntaxError(f"{what}: expected a number")
        return int(text)

    def mailbox(self, what: str = "mailbox name") -> str:
        return _mailbox(self.astring(what))


def _has_specials(text: str, allowed: str = "") -> bool:
    """Characters an atom cannot hold (RFC 3501 9 atom-specials); ``allowed``
    lets the list wildcards through for LIST patterns."""
    return any(c in '()"\\{ ' or (c in "%*" and c not in allowed) for c in text)


def _mailbox(raw: bytes) -> str:
    """RFC 3501 5.1: a mailbox name; INBOX is case-insensitive."""
    try:
        name = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ImapSyntaxError("mailbox name is not valid UTF-8") from None
    if name.upper() == "INBOX":
        return "INBOX"
    return name


def _flag(text: str) -> str:
    """A flag of STORE/APPEND: system flags normalised, \\Recent refused
    (RFC 3501 2.3.2: the server sets it), other ``\\x`` unknown."""
    if text.startswith("\\"):
        norm = _FLAG_BY_LOWER.get(text.lower())
        if norm is not None:
            return norm
        if text.lower() == "\\recent":
            raise ImapSyntaxError("\\Recent is set by the server and cannot be stored")
        raise ImapSyntaxError(f"unknown system flag {text}")
    if not text or _has_specials(text):
        raise ImapSyntaxError(f"invalid flag {text!r}")
    return text


def _flag_tokens(tokens: Iterable[Token]) -> tuple[str, ...]:
    out: list[str] = []
    for tok in tokens:
        if not isinstance(tok, Atom):
            raise ImapSyntaxError("flags are atoms such as \\Seen")
        flag = _flag(tok.text)
        if flag not in out:
            out.append(flag)
    return tuple(out)


# -- per-command grammars -----------------------------------------------------


def _no_args(a: _Args) -> None:
    a.end()


def _login(a: _Args) -> LoginArgs:
    user = a.astring("user name")
    password = a.astring("password")
    a.end()
    return LoginArgs(user, password)


def _authenticate(a: _Args) -> AuthenticateArgs:
    mech = a.atom("SASL mechanism").upper()
    initial: bytes | None = None
    if a.more():
        initial = a.atom("initial response").encode("ascii", "replace")
    a.end()
    return AuthenticateArgs(mech, initial)


def _mailbox_only(a: _Args) -> MailboxArgs:
    name = a.mailbox()
    a.end()
    return MailboxArgs(name)


def _rename(a: _Args) -> RenameArgs:
    old = a.mailbox("existing mailbox name")
    new = a.mailbox("new mailbox name")
    a.end()
    return RenameArgs(old, new)


def _list(a: _Args) -> ListArgs:
    reference = _mailbox(a.astring("reference name"))
    tok = a.take("mailbox pattern")
    if isinstance(tok, String):
        pattern = tok.data.decode("utf-8", "replace")
    elif isinstance(tok, Atom) and tok.text and not _has_specials(tok.text, "%*"):
        pattern = tok.text
    else:
        raise ImapSyntaxError("mailbox pattern: expected an atom (with * or %) or a string")
    a.end()
    return ListArgs(reference, pattern)


_STATUS_ITEMS: Final = ("MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN")


def _status(a: _Args) -> StatusArgs:
    name = a.mailbox()
    tok = a.take("status items")
    if not isinstance(tok, PList) or not tok.items:
        raise ImapSyntaxError("status items must be a list such as (MESSAGES UNSEEN)")
    items: list[str] = []
    for item in tok.items:
        word = item.text.upper() if isinstance(item, Atom) else ""
        if word not in _STATUS_ITEMS:
            raise ImapSyntaxError(f"unknown status item; use {' '.join(_STATUS_ITEMS)}")
        items.append(word)
    a.end()
    return StatusArgs(name, tuple(items))


def _append_prefix(a: _Args) -> tuple[str, tuple[str, ...], float | None]:
    """``mailbox [flag-list] [date-time]``: what comes before the message."""
    name = a.mailbox()
    flags: tuple[str, ...] = ()
    tok = a.peek()
    if isinstance(tok, PList):
        a.i += 1
        flags = _flag_tokens(tok.items)
        tok = a.peek()
    date: float | None = None
    if isinstance(tok, String) and not tok.literal:
        a.i += 1
        date = parse_date_time(tok.data.decode("ascii", "replace"))
    return name, flags, date


def _append(a: _Args) -> AppendArgs:
    name, flags, date = _append_prefix(a)
    tok = a.take("message literal")
    a.end()
    if isinstance(tok, StreamedLiteral):
        return AppendArgs(name, flags, date, None, tok.size)
    if isinstance(tok, String) and tok.literal:
        return AppendArgs(name, flags, date, tok.data, len(tok.data))
    raise ImapSyntaxError("APPEND takes the message as a literal {size}")


def _search(a: _Args) -> SearchArgs:
    charset: str | None = None
    tok = a.peek()
    if isinstance(tok, Atom) and tok.text.upper() == "CHARSET":
        a.i += 1
        charset = a.astring("charset").decode("ascii", "replace").upper()
    key = parse_search(a)
    return SearchArgs(charset, key)


def parse_search(a: _Args | Sequence[Token]) -> SearchKey:
    """The search keys of SEARCH (RFC 3501 6.4.4), all ANDed together."""
    cursor = a if isinstance(a, _Args) else _Args(a)
    keys: list[SearchKey] = []
    while cursor.more():
        keys.append(_search_key(cursor, 0))
    if not keys:
        raise ImapSyntaxError('missing search key (e.g. ALL, UNSEEN, FROM "x")')
    return keys[0] if len(keys) == 1 else SearchKey("and", children=tuple(keys))


_FLAG_KEYS: Final = {
    "ANSWERED": ("\\Answered", False),
    "DELETED": ("\\Deleted", False),
    "DRAFT": ("\\Draft", False),
    "FLAGGED": ("\\Flagged", False),
    "RECENT": ("\\Recent", False),
    "SEEN": ("\\Seen", False),
    "UNANSWERED": ("\\Answered", True),
    "UNDELETED": ("\\Deleted", True),
    "UNDRAFT": ("\\Draft", True),
    "UNFLAGGED": ("\\Flagged", True),
    "UNSEEN": ("\\Seen", True),
}
_HEADER_KEYS: Final = ("FROM", "TO", "CC", "BCC", "SUBJECT")
_DATE_KEYS: Final = ("BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE")


def _search_key(a: _Args, depth: int) -> SearchKey:
    if depth > 32:
        raise ImapSyntaxError("search keys nested too deeply")
    tok = a.take("search key")
    if isinstance(tok, PList):
        inner = _Args(tok.items)
        keys = []
        while inner.more():
            keys.append(_search_key(inner, depth + 1))
        if not keys:
            raise ImapSyntaxError("empty search key list ()")
        return keys[0] if len(keys) == 1 else SearchKey("and", children=tuple(keys))
    if not isinstance(tok, Atom):
        raise ImapSyntaxError("a search key is a word such as ALL, FROM, UNSEEN")
    word = tok.text.upper()
    if word == "ALL":
        return SearchKey("all")
    if word in ("NEW", "OLD"):
        return SearchKey(word.lower())
    if word in _FLAG_KEYS:
        flag, negate = _FLAG_KEYS[word]
        return SearchKey("flag", text=flag, negate=negate)
    if word in ("KEYWORD", "UNKEYWORD"):
        flag = a.atom("keyword")
        return SearchKey("keyword", text=flag, negate=word == "UNKEYWORD")
    if word in _HEADER_KEYS:
        return SearchKey("header", text=word.lower(), needle=a.astring(f"{word} string"))
    if word == "HEADER":
        name = a.astring("header field name").decode("ascii", "replace").lower()
        return SearchKey("header", text=name, needle=a.astring("header string"))
    if word in ("BODY", "TEXT"):
        return SearchKey(word.lower(), needle=a.astring(f"{word} string"))
    if word in ("LARGER", "SMALLER"):
        return SearchKey(word.lower(), number=a.number(f"{word} size"))
    if word in _DATE_KEYS:
        date = _parse_date(a.astring(f"{word} date").decode("ascii", "replace"))
        return SearchKey(word.lower(), date=date)
    if word == "UID":
        return SearchKey("uid", seqset=parse_sequence_set(a.atom("UID set")))
    if word == "NOT":
        return SearchKey("not", children=(_search_key(a, depth + 1),))
    if word == "OR":
        left = _search_key(a, depth + 1)
        right = _search_key(a, depth + 1)
        return SearchKey("or", children=(left, right))
    if word[:1].isdigit() or word[:1] == "*":
        return SearchKey("seq", seqset=parse_sequence_set(tok.text))
    raise ImapSyntaxError(f"unknown search key {tok.text}")


_FETCH_SIMPLE: Final = frozenset(
    {
        "ENVELOPE",
        "FLAGS",
        "INTERNALDATE",
        "RFC822",
        "RFC822.HEADER",
        "RFC822.SIZE",
        "RFC822.TEXT",
        "UID",
    }
)
_FETCH_MACROS: Final = {
    "ALL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"),
    "FAST": ("FLAGS", "INTERNALDATE", "RFC822.SIZE"),
}
_BODY_RE: Final = re.compile(
    r"(BODY|BODY\.PEEK)\[([^\]]*)\](?:<(\d{1,10})\.(\d{1,10})>)?\Z", re.IGNORECASE
)
_FIELDS_RE: Final = re.compile(r"(HEADER\.FIELDS(?:\.NOT)?) \((.*)\)\Z", re.IGNORECASE | re.DOTALL)
_FIELD_NAME_RE: Final = re.compile(r"[!-9;-~]+\Z")  # RFC 5322 2.2 ftext


def _fetch_item(text: str) -> FetchItem:
    word = text.upper()
    if word in _FETCH_SIMPLE:
        return FetchItem(word)
    if word in ("BODY", "BODYSTRUCTURE"):
        raise ImapSyntaxError(f"{word} (MIME structure) is not supported by this server")
    m = _BODY_RE.match(text)
    if m is None:
        raise ImapSyntaxError(f"unknown fetch item {text}")
    peek = m.group(1).upper() == "BODY.PEEK"
    section = m.group(2)
    fields: tuple[str, ...] = ()
    sec = section.upper()
    fm = _FIELDS_RE.match(section)
    if fm is not None:
        sec = fm.group(1).upper()
        names = []
        for raw in fm.group(2).split():
            name = raw[1:-1] if len(raw) > 1 and raw[0] == raw[-1] == '"' else raw
            if not _FIELD_NAME_RE.match(name):
                raise ImapSyntaxError(f"invalid header field name {raw!r}")
            names.append(name.upper())
        if not names:
            raise ImapSyntaxError(f"{sec} needs at least one field name")
        fields = tuple(names)
    elif sec not in ("", "HEADER", "TEXT"):
        if sec[:1].isdigit():
            raise ImapSyntaxError(
                "MIME part sections (BODY[1]...) are not supported by this server"
            )
        raise ImapSyntaxError(f"unknown section [{section}] (use [], [HEADER], [TEXT])")
    partial: tuple[int, int] | None = None
    if m.group(3) is not None:
        start, length = int(m.group(3)), int(m.group(4))
        if length == 0 or start > _MAX_NUMBER or length > _MAX_NUMBER:
            raise ImapSyntaxError("partial <start.length> needs a length from 1 to 4294967295")
        partial = (start, length)
    return FetchItem("BODY", sec, fields, peek, partial)


def _fetch(a: _Args) -> FetchArgs:
    seqset = parse_sequence_set(a.atom("sequence set"))
    tok = a.take("fetch items")
    a.end()
    if isinstance(tok, Atom):
        macro = _FETCH_MACROS.get(tok.text.upper())
        if macro is not None:
            return FetchArgs(seqset, tuple(FetchItem(n) for n in macro))
        if tok.text.upper() == "FULL":
            raise ImapSyntaxError("FULL includes BODY (MIME structure), not supported; use ALL")
        return FetchArgs(seqset, (_fetch_item(tok.text),))
    if isinstance(tok, PList) and tok.items:
        items = []
        for item in tok.items:
            if not isinstance(item, Atom):
                raise ImapSyntaxError("fetch items are words such as FLAGS, BODY[HEADER]")
            items.append(_fetch_item(item.text))
        return FetchArgs(seqset, tuple(items))
    raise ImapSyntaxError("fetch items: expected an item or a list such as (FLAGS UID)")


_STORE_RE: Final = re.compile(r"([+-]?)FLAGS(\.SILENT)?\Z", re.IGNORECASE)


def _store(a: _Args) -> StoreArgs:
    seqset = parse_sequence_set(a.atom("sequence set"))
    item = a.atom("store item (FLAGS, +FLAGS, -FLAGS)")
    m = _STORE_RE.match(item)
    if m is None:
        raise ImapSyntaxError(f"unknown store item {item} (use FLAGS, +FLAGS or -FLAGS)")
    sign = m.group(1)
    mode: Literal["set", "add", "remove"] = "add" if sign == "+" else "remove" if sign else "set"
    rest = a.tokens[a.i :]
    a.i = len(a.tokens)
    if len(rest) == 1 and isinstance(rest[0], PList):
        flags = _flag_tokens(rest[0].items)
    elif rest:
        flags = _flag_tokens(rest)
    else:
        raise ImapSyntaxError("missing flags (e.g. (\\Seen))")
    return StoreArgs(seqset, mode, bool(m.group(2)), flags)


def _copy(a: _Args) -> CopyArgs:
    seqset = parse_sequence_set(a.atom("sequence set"))
    name = a.mailbox()
    a.end()
    return CopyArgs(seqset, name)


def _uid_expunge(a: _Args) -> SequenceSet:
    seqset = parse_sequence_set(a.atom("UID set"))
    a.end()
    return seqset


# ---------------------------------------------------------------------------
# The command table: which state allows what, and how arguments parse.
# ---------------------------------------------------------------------------

_ANY: Final[frozenset[ServerState]] = frozenset({"not-authenticated", "authenticated", "selected"})
_NOT_AUTH: Final[frozenset[ServerState]] = frozenset({"not-authenticated"})
_AUTH: Final[frozenset[ServerState]] = frozenset({"authenticated", "selected"})
_SELECTED: Final[frozenset[ServerState]] = frozenset({"selected"})

_Grammar = Callable[[_Args], CommandArgs]

# fmt: off
_COMMANDS: Final[dict[str, tuple[frozenset[ServerState], _Grammar]]] = {
    # RFC 3501 6.1: any state
    "CAPABILITY": (_ANY, _no_args), "NOOP": (_ANY, _no_args), "LOGOUT": (_ANY, _no_args),
    # 6.2: not authenticated
    "STARTTLS": (_NOT_AUTH, _no_args), "AUTHENTICATE": (_NOT_AUTH, _authenticate),
    "LOGIN": (_NOT_AUTH, _login),
    # 6.3: authenticated (and selected)
    "SELECT": (_AUTH, _mailbox_only), "EXAMINE": (_AUTH, _mailbox_only),
    "CREATE": (_AUTH, _mailbox_only), "DELETE": (_AUTH, _mailbox_only),
    "RENAME": (_AUTH, _rename), "SUBSCRIBE": (_AUTH, _mailbox_only),
    "UNSUBSCRIBE": (_AUTH, _mailbox_only), "LIST": (_AUTH, _list), "LSUB": (_AUTH, _list),
    "STATUS": (_AUTH, _status), "APPEND": (_AUTH, _append),
    "IDLE": (_AUTH, _no_args),  # RFC 2177 3
    "NAMESPACE": (_AUTH, _no_args),  # RFC 2342 5
    # 6.4: selected
    "CHECK": (_SELECTED, _no_args), "CLOSE": (_SELECTED, _no_args),
    "UNSELECT": (_SELECTED, _no_args),  # RFC 3691
    "EXPUNGE": (_SELECTED, _no_args), "SEARCH": (_SELECTED, _search),
    "FETCH": (_SELECTED, _fetch), "STORE": (_SELECTED, _store), "COPY": (_SELECTED, _copy),
    "UID": (_SELECTED, _no_args),  # parsed by the subcommand below
}
_UID_COMMANDS: Final[dict[str, _Grammar]] = {
    "FETCH": _fetch, "SEARCH": _search, "STORE": _store, "COPY": _copy,
    "EXPUNGE": _uid_expunge,  # RFC 4315 2.1
}
# fmt: on

# Words people type at an IMAP server that belong to other protocols.
_FOREIGN_HINTS: Final = {
    "USER": "USER is not an IMAP command (it is POP3's); IMAP logs in with LOGIN user password",
    "PASS": "PASS is not an IMAP command (it is POP3's); IMAP logs in with LOGIN user password",
    "HELO": "HELO is SMTP; this is an IMAP server (try CAPABILITY)",
    "EHLO": "EHLO is SMTP; this is an IMAP server (try CAPABILITY)",
    "QUIT": "QUIT is SMTP/POP3; IMAP says goodbye with LOGOUT",
    "RETR": "RETR is POP3; IMAP reads messages with FETCH n BODY[]",
    "GET": "GET is HTTP; this is an IMAP server (try A1 CAPABILITY)",
}


def _state_hint(state: ServerState, allowed: frozenset[ServerState]) -> str:
    """Why a command is refused in this state, and what to do instead."""
    if state == "not-authenticated":
        return "log in first (LOGIN user password)"
    if allowed <= _NOT_AUTH:
        return "already logged in"
    if allowed <= _SELECTED:
        return "select a mailbox first (SELECT INBOX)"
    return "the connection is closing"  # pragma: no cover - logout accepts nothing
