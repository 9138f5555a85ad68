"""IMAP's vocabulary: commands, status words and response codes (RFC 3501).

One table per protocol (STYLE.md, after aiosmtpd): completion, highlighting,
``:help``, ``:explain``, the replay checker and the framer (which words are
commands, so a typed line gets its tag) all read the rows below.  Split out of
``imap.py`` (the framer) so that each module holds one job.
"""

from __future__ import annotations

from typing import Final

from .vocab import Command, ReplyCode, Vocabulary, replies, table

__all__ = ["VOCABULARY", "typed_tag"]

_R = "RFC 3501 section "

# A table of data, aligned for reading: keep the formatter off it.
# fmt: off
VOCABULARY: Final = Vocabulary(
    protocol="imap",
    commands=table(
        # RFC 3501 6.1: any state.
        Command("CAPABILITY", "CAPABILITY", _R + "6.1.1",
                "list what the server supports (extensions, AUTH= mechanisms)", "identify"),
        Command("NOOP", "NOOP", _R + "6.1.2",
                "do nothing; gives the server a chance to report news (EXISTS)", "ask"),
        Command("LOGOUT", "LOGOUT", _R + "6.1.3",
                "say goodbye: the server answers * BYE, then OK, then closes", "goodbye"),
        # RFC 3501 6.2: not authenticated.
        Command("STARTTLS", "STARTTLS", _R + "6.2.1 (RFC 2595)",
                "switch this connection to TLS before logging in", "identify"),
        Command("AUTHENTICATE", "AUTHENTICATE mechanism [initial-response]", _R + "6.2.2",
                "log in with a SASL mechanism; the server asks with + lines", "identify",
                args=("auth-mechanism",)),
        Command("LOGIN", "LOGIN user password", _R + "6.2.3",
                "log in with a user name and a password (in clear text)", "identify",
                args=("user", "password")),
        # RFC 3501 6.3: authenticated.
        Command("SELECT", "SELECT mailbox", _R + "6.3.1",
                "open a mailbox to read and change its messages", "ask", args=("mailbox",)),
        Command("EXAMINE", "EXAMINE mailbox", _R + "6.3.2",
                "open a mailbox read-only", "ask", args=("mailbox",)),
        Command("CREATE", "CREATE mailbox", _R + "6.3.3",
                "create a mailbox", "answer", args=("mailbox",)),
        Command("DELETE", "DELETE mailbox", _R + "6.3.4",
                "delete a mailbox", "answer", args=("mailbox",)),
        Command("RENAME", "RENAME mailbox new-name", _R + "6.3.5",
                "rename a mailbox", "answer", args=("mailbox", "mailbox")),
        Command("SUBSCRIBE", "SUBSCRIBE mailbox", _R + "6.3.6",
                "add a mailbox to the subscribed list (LSUB)", "answer", args=("mailbox",)),
        Command("UNSUBSCRIBE", "UNSUBSCRIBE mailbox", _R + "6.3.7",
                "remove a mailbox from the subscribed list", "answer", args=("mailbox",)),
        Command("LIST", 'LIST reference pattern   (e.g. LIST "" *)', _R + "6.3.8",
                "list mailboxes matching a pattern (* and % are wildcards)", "ask",
                args=("reference", "mailbox")),
        Command("LSUB", "LSUB reference pattern", _R + "6.3.9",
                "list subscribed mailboxes matching a pattern", "ask",
                args=("reference", "mailbox")),
        Command("STATUS", "STATUS mailbox (item ...)", _R + "6.3.10",
                "counts of a mailbox without selecting it (MESSAGES UNSEEN ...)", "ask",
                args=("mailbox", "status-item")),
        Command("APPEND", "APPEND mailbox [(flags)] [date-time] {size}", _R + "6.3.11",
                "upload a message into a mailbox (as a literal)", "answer",
                args=("mailbox", "flag")),
        # RFC 3501 6.4: selected.
        Command("CHECK", "CHECK", _R + "6.4.1",
                "ask for a checkpoint of the selected mailbox", "ask"),
        Command("CLOSE", "CLOSE", _R + "6.4.2",
                "expunge \\Deleted messages silently and leave the mailbox", "goodbye"),
        Command("EXPUNGE", "EXPUNGE", _R + "6.4.3",
                "remove the messages flagged \\Deleted", "answer"),
        Command("SEARCH", "SEARCH [CHARSET charset] key ...", _R + "6.4.4",
                "message numbers matching search keys (e.g. SEARCH UNSEEN)", "ask",
                args=("search-key",)),
        Command("FETCH", "FETCH sequence-set item | (item ...)", _R + "6.4.5",
                "get parts of messages (e.g. FETCH 1 BODY[HEADER])", "ask",
                args=("message", "fetch-item")),
        Command("STORE", "STORE sequence-set [+|-]FLAGS[.SILENT] (flag ...)", _R + "6.4.6",
                "change the flags of messages", "answer",
                args=("message", "store-item", "flag")),
        Command("COPY", "COPY sequence-set mailbox", _R + "6.4.7",
                "copy messages to another mailbox", "answer", args=("message", "mailbox")),
        Command("UID", "UID COPY|FETCH|MOVE|SEARCH|STORE|EXPUNGE args", _R + "6.4.8",
                "the same commands with UIDs instead of message numbers", "ask",
                args=("uid-command",)),
        # Extensions.
        Command("IDLE", "IDLE   (then DONE)", "RFC 2177 section 3",
                "wait for the server to push news; end with DONE", "ask"),
        Command("NAMESPACE", "NAMESPACE", "RFC 2342 section 5",
                "the prefixes and separators of personal, other and shared mailboxes", "ask"),
        Command("ENABLE", "ENABLE capability ...", "RFC 5161 section 3.1",
                "turn on extensions that change the server's responses", "identify",
                args=("capability",)),
        Command("MOVE", "MOVE sequence-set mailbox", "RFC 6851 section 3.1",
                "move messages to another mailbox", "answer", args=("message", "mailbox")),
        Command("UNSELECT", "UNSELECT", "RFC 3691 section 2",
                "leave the mailbox without expunging", "goodbye"),
        Command("ID", 'ID ("name" "value" ...) | ID NIL', "RFC 2971 section 3.1",
                "tell the server who the client is; it answers who it is", "identify"),
    ),
    replies=replies(
        # RFC 3501 7.1: status responses.
        ReplyCode("OK", "success (tagged: the command is done; untagged: information)",
                  "ok", _R + "7.1.1"),
        ReplyCode("NO", "failure: the server understood the command but could not do it "
                  "(untagged: a warning)", "temporary", _R + "7.1.2"),
        ReplyCode("BAD", "the server did not understand the command (syntax, unknown "
                  "command, wrong state)", "error", _R + "7.1.3"),
        ReplyCode("PREAUTH", "greeting: the connection is already authenticated",
                  "ok", _R + "7.1.4"),
        ReplyCode("BYE", "the server is closing the connection (normal after LOGOUT)",
                  "info", _R + "7.1.5"),
        ReplyCode("+", "continuation request: the server waits for more from the client "
                  "(a literal, a SASL response, DONE for IDLE)", "continue", _R + "7.5"),
        # RFC 3501 7.1: response codes, in [brackets].
        ReplyCode("ALERT", "a message the user must see", "info", _R + "7.1"),
        ReplyCode("BADCHARSET", "SEARCH charset not supported; lists those that are",
                  "error", _R + "7.1"),
        ReplyCode("CAPABILITY", "what the server supports (as a response code, or the "
                  "untagged answer to CAPABILITY)", "info", _R + "7.1, 7.2.1"),
        ReplyCode("PARSE", "a message's headers could not be parsed", "temporary", _R + "7.1"),
        ReplyCode("PERMANENTFLAGS", "the flags the client may change for good", "info",
                  _R + "7.1"),
        ReplyCode("READ-ONLY", "the mailbox is selected read-only", "info", _R + "7.1"),
        ReplyCode("READ-WRITE", "the mailbox is selected read-write", "ok", _R + "7.1"),
        ReplyCode("TRYCREATE", "the target mailbox does not exist; CREATE it first",
                  "temporary", _R + "7.1"),
        ReplyCode("UIDNEXT", "the UID the next new message will get", "info", _R + "7.1"),
        ReplyCode("UIDVALIDITY", "UIDs are valid as long as this number stays the same",
                  "info", _R + "7.1"),
        ReplyCode("UNSEEN", "number of the first unseen message", "info", _R + "7.1"),
        ReplyCode("APPENDUID", "UIDVALIDITY and UID of the appended message", "ok",
                  "RFC 4315 section 3"),
        ReplyCode("COPYUID", "UIDVALIDITY, source and destination UIDs of copied messages",
                  "ok", "RFC 4315 section 3"),
        ReplyCode("AUTHENTICATIONFAILED", "wrong user name or password", "temporary",
                  "RFC 5530 section 3"),
        ReplyCode("UNAVAILABLE", "a back-end the server needs is down; try later",
                  "temporary", "RFC 5530 section 3"),
        ReplyCode("PRIVACYREQUIRED", "refused without TLS (use STARTTLS first)", "temporary",
                  "RFC 5530 section 3"),
        ReplyCode("ALREADYEXISTS", "a mailbox with that name exists", "temporary",
                  "RFC 5530 section 3"),
        ReplyCode("NONEXISTENT", "no such mailbox", "temporary", "RFC 5530 section 3"),
        ReplyCode("NOPERM", "no permission for that", "temporary", "RFC 5530 section 3"),
        ReplyCode("SERVERBUG", "the server failed internally", "error", "RFC 5530 section 3"),
        ReplyCode("CLIENTBUG", "the server thinks the client made a mistake", "error",
                  "RFC 5530 section 3"),
        # RFC 3501 7.2-7.4: untagged data, by keyword.
        ReplyCode("EXISTS", "* n EXISTS: the mailbox now holds n messages", "info",
                  _R + "7.3.1"),
        ReplyCode("RECENT", "* n RECENT: n messages arrived since the last look", "info",
                  _R + "7.3.2"),
        ReplyCode("EXPUNGE", "* n EXPUNGE: message n is gone; higher numbers move down",
                  "info", _R + "7.4.1"),
        ReplyCode("FETCH", "* n FETCH (...): data of message n", "info", _R + "7.4.2"),
        ReplyCode("FLAGS", "the flags defined in the mailbox", "info", _R + "7.2.6"),
        ReplyCode("LIST", "* LIST (attributes) delimiter name: one mailbox", "info",
                  _R + "7.2.2"),
        ReplyCode("LSUB", "* LSUB (attributes) delimiter name: one subscribed mailbox",
                  "info", _R + "7.2.3"),
        ReplyCode("SEARCH", "* SEARCH n ...: the matching message numbers", "info",
                  _R + "7.2.5"),
        ReplyCode("STATUS", "* STATUS mailbox (item value ...): the requested counts",
                  "info", _R + "7.2.4"),
        ReplyCode("ENABLED", "the extensions ENABLE turned on", "info", "RFC 5161 section 3.2"),
        ReplyCode("NAMESPACE", "personal, other users' and shared namespaces", "info",
                  "RFC 2342 section 5"),
        ReplyCode("ID", "who the server is (name, version...)", "info", "RFC 2971 section 3.2"),
    ),
    words={
        "fetch-item": (
            "FLAGS", "UID", "INTERNALDATE", "RFC822", "RFC822.SIZE", "RFC822.HEADER",
            "RFC822.TEXT", "BODY", "BODY[]", "BODY[HEADER]", "BODY[TEXT]",
            "BODY[HEADER.FIELDS (FROM TO SUBJECT DATE)]", "BODY.PEEK[]",
            "BODY.PEEK[HEADER]", "ENVELOPE", "BODYSTRUCTURE", "ALL", "FAST", "FULL",
        ),
        "status-item": ("MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN"),
        "search-key": (
            "ALL", "ANSWERED", "BCC", "BEFORE", "BODY", "CC", "DELETED", "DRAFT", "FLAGGED",
            "FROM", "HEADER", "KEYWORD", "LARGER", "NEW", "NOT", "OLD", "ON", "OR", "RECENT",
            "SEEN", "SENTBEFORE", "SENTON", "SENTSINCE", "SINCE", "SMALLER", "SUBJECT",
            "TEXT", "TO", "UID", "UNANSWERED", "UNDELETED", "UNDRAFT", "UNFLAGGED",
            "UNKEYWORD", "UNSEEN",
        ),
        "flag": ("\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft", "\\Recent"),
        "store-item": (
            "FLAGS", "FLAGS.SILENT", "+FLAGS", "+FLAGS.SILENT", "-FLAGS", "-FLAGS.SILENT",
        ),
        "uid-command": ("COPY", "FETCH", "MOVE", "SEARCH", "STORE", "EXPUNGE"),
        "auth-mechanism": (
            "PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER", "CRAM-MD5", "SCRAM-SHA-1",
            "SCRAM-SHA-256", "EXTERNAL", "ANONYMOUS",
        ),
        "capability": ("IMAP4rev1", "IMAP4rev2", "CONDSTORE", "QRESYNC", "UTF8=ACCEPT"),
        "mailbox": ("INBOX",),
    },
)
# fmt: on


def typed_tag(first: str, second: str | None) -> bool:
    """Whether a line the user typed begins with a tag of their own, so that
    none is added (RFC 3501 2.2.1: every command begins with a tag).

    ``first`` and ``second`` are the line's first two words (``second`` None
    when there is none).  A first word that is a command (``LOGIN bob x``):
    no tag yet, one is added.  A second word that is a command (``a1 LOGIN``,
    ``A0001 UID FETCH``): the first is the user's tag.  Neither, as in the
    lecture's ``USER "frobozz" "xyzzy"``: a first word of letters only is an
    unknown command and gets a tag too, so that the server's tagged BAD
    answers it as in the lecture; anything else (``A0001``, ``t.1``, ``*``, an
    empty line) is taken as the user's tag, valid or not."""
    if first.upper() in VOCABULARY.commands:
        return False
    if second is not None and second.upper() in VOCABULARY.commands:
        return True
    return not (first.isascii() and first.isalpha())
