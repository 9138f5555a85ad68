"""Tests for protoshell/server/mail/imap_session.py: IMAP commands over a real
Maildir, without sockets (bytes in, bytes out)."""

from __future__ import annotations

import base64
import mailbox
import os
import re
from pathlib import Path

import pytest

from protoshell.proto.imap_server import ImapServerLimits
from protoshell.server.mail.imap_session import FileSpan, ImapSession
from protoshell.server.mail.imap_store import ImapStore

MESSAGE = (
    b"From: Smith@bar.com\r\nTo: Jones@foo.com\r\nSubject: lecture\r\n\r\nBlah blah blah...\r\n"
)
OTHER = b"From: Doe <doe@example.org>\r\nSubject: other\r\n\r\nsomething else\r\n"


class Client:
    """Drives an ImapSession the way the asyncio driver does."""

    def __init__(self, root: Path, **options: object) -> None:
        self.store = ImapStore(root)
        kwargs: dict[str, object] = {
            "user": "bob",
            "password": "redqueen",
            "plaintext_login": True,
            "starttls_available": False,
        }
        kwargs.update(options)
        self.session = ImapSession(self.store, **kwargs)  # type: ignore[arg-type]
        self.greeting = self.session.greeting()

    def feed(self, data: bytes) -> bytes:
        self.session.receive_data(data)
        out = bytearray()
        for _ in range(10_000):
            pieces = self.session.step()
            if pieces is None:
                return bytes(out)
            for piece in pieces:
                if isinstance(piece, FileSpan):
                    piece.file.seek(piece.offset)
                    out += piece.file.read(piece.size)
                    piece.file.close()
                else:
                    out += piece
        raise AssertionError("the session never asked for more data")

    def cmd(self, line: str | bytes) -> list[bytes]:
        data = line.encode() if isinstance(line, str) else line
        return self.feed(data + b"\r\n").split(b"\r\n")[:-1]

    def login(self) -> None:
        assert self.cmd("L LOGIN bob redqueen")[-1].startswith(b"L OK")

    def select(self, name: str = "INBOX") -> list[bytes]:
        self.login()
        return self.cmd(f"S SELECT {name}")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "Maildir"
    box = mailbox.Maildir(str(path), create=True)
    box.add(MESSAGE)
    box.add(OTHER)
    return path


def deliver(root: Path, data: bytes = MESSAGE) -> None:
    mailbox.Maildir(str(root), create=True).add(data)


def test_greeting_says_plain_login_is_for_teaching(root: Path) -> None:
    c = Client(root)
    assert c.greeting.startswith(b"* OK [CAPABILITY IMAP4rev1 LITERAL+ SASL-IR IDLE UIDPLUS")
    assert b"AUTH=PLAIN" in c.greeting and b"LOGINDISABLED" not in c.greeting
    assert b"plain LOGIN is allowed on loopback without TLS, for teaching" in c.greeting


def test_no_plaintext_login_off_loopback(root: Path) -> None:
    c = Client(root, plaintext_login=False, starttls_available=True)
    assert b"LOGINDISABLED" in c.greeting and b"STARTTLS" in c.greeting
    assert b"AUTH=PLAIN" not in c.greeting
    assert c.cmd("A LOGIN bob redqueen") == [
        b"A NO [PRIVACYREQUIRED] plain-text login needs TLS here: STARTTLS first"
    ]
    assert c.cmd("B STARTTLS") == [b"B OK Begin TLS negotiation now"]
    assert c.session.tls_pending
    c.session.tls_started()
    assert c.cmd("C LOGIN bob redqueen")[-1].startswith(b"C OK")


def test_login_failures(root: Path) -> None:
    c = Client(root)
    for i in range(4):
        assert c.cmd(f"A{i} LOGIN bob nope") == [
            f"A{i} NO [AUTHENTICATIONFAILED] Authentication failed.".encode()
        ]
    assert c.cmd("A5 LOGIN bob nope")[-1] == b"* BYE Too many failed logins"
    assert c.session.closed


def test_authenticate_plain(root: Path) -> None:
    c = Client(root)
    token = base64.b64encode(b"\0bob\0redqueen")
    assert c.cmd("A AUTHENTICATE PLAIN") == [b"+ "]
    assert c.cmd(token)[-1].startswith(b"A OK")
    c = Client(root)
    assert c.cmd(b"B AUTHENTICATE PLAIN " + token)[-1].startswith(b"B OK")  # SASL-IR
    c = Client(root)
    assert c.cmd("C AUTHENTICATE PLAIN") == [b"+ "]
    assert c.cmd("*") == [b"C BAD AUTHENTICATE cancelled"]
    assert c.cmd("D AUTHENTICATE CRAM-MD5")[0].startswith(b"D NO [CANNOT]")
    assert c.cmd(b"E AUTHENTICATE PLAIN " + base64.b64encode(b"\0bob\0no")) == [
        b"E NO [AUTHENTICATIONFAILED] Authentication failed."
    ]
    assert c.cmd("F AUTHENTICATE PLAIN !!!") == [b"F BAD the SASL response is not valid base64"]


def test_select_like_the_lecture(root: Path) -> None:
    c = Client(root)
    lines = c.select()
    validity = int(re.search(rb"UIDVALIDITY (\d+)", b"\n".join(lines)).group(1))  # type: ignore[union-attr]
    assert lines == [
        b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
        b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)] Flags permitted.",
        b"* 2 EXISTS",
        b"* 2 RECENT",
        b"* OK [UNSEEN 1] First unseen.",
        b"* OK [UIDVALIDITY %d] UIDs valid" % validity,
        b"* OK [UIDNEXT 3] Predicted next UID",
        b"S OK [READ-WRITE] SELECT completed",
    ]
    assert os.listdir(root / "new") == []  # seen by a session: no longer \Recent for others
    c2 = Client(root)
    assert b"* 0 RECENT" in c2.select()


def test_examine_is_read_only(root: Path) -> None:
    c = Client(root)
    c.login()
    lines = c.cmd("E EXAMINE INBOX")
    assert b"* 2 RECENT" in lines and lines[-1] == b"E OK [READ-ONLY] EXAMINE completed"
    assert len(os.listdir(root / "new")) == 2  # EXAMINE changes nothing
    c.cmd("F FETCH 1 BODY[TEXT]")
    assert c.cmd("G FETCH 1 FLAGS") == [b"* 1 FETCH (FLAGS (\\Recent))", b"G OK FETCH completed"]
    assert c.cmd("H STORE 1 +FLAGS \\Seen")[0].startswith(b"H NO [READ-ONLY]")
    assert c.cmd("I EXPUNGE")[0].startswith(b"I NO [READ-ONLY]")


def test_fetch_the_lecture_items(root: Path) -> None:
    c = Client(root)
    c.select()
    header = MESSAGE[: MESSAGE.index(b"\r\n\r\n") + 4]
    text = MESSAGE[len(header) :]
    assert c.cmd("A0003 FETCH 1 RFC822.SIZE") == [
        b"* 1 FETCH (RFC822.SIZE %d)" % len(MESSAGE),
        b"A0003 OK FETCH completed",
    ]
    out = c.feed(b"A0004 FETCH 1 BODY[HEADER]\r\n")
    # the \Seen this sets is reported in the same response, first (as Dovecot does)
    assert out == (
        b"* 1 FETCH (FLAGS (\\Recent \\Seen) BODY[HEADER] {%d}\r\n" % len(header)
        + header
        + b")\r\nA0004 OK FETCH completed\r\n"
    )
    out = c.feed(b"A0005 FETCH 1 BODY[TEXT]\r\n")
    assert (
        out
        == b"* 1 FETCH (BODY[TEXT] {%d}\r\n" % len(text)
        + text
        + b")\r\nA0005 OK FETCH completed\r\n"
    )


def test_fetch_peek_and_partial(root: Path) -> None:
    c = Client(root)
    c.select()
    out = c.feed(b"A FETCH 2 (BODY.PEEK[]<0.4> FLAGS)\r\n")
    assert out == b"* 2 FETCH (BODY[]<0> {4}\r\nFrom FLAGS (\\Recent))\r\nA OK FETCH completed\r\n"
    out = c.feed(b"B FETCH 2 (FLAGS BODY[TEXT]<100.5>)\r\n")
    # FLAGS asked for: it carries the new \Seen, no second FETCH response
    assert (
        out
        == b"* 2 FETCH (FLAGS (\\Recent \\Seen) BODY[TEXT]<100> {0}\r\n)\r\nB OK FETCH completed\r\n"
    )


def test_uid_fetch_always_has_uid(root: Path) -> None:
    c = Client(root)
    c.select()
    assert c.cmd("A UID FETCH 2:* RFC822.SIZE") == [
        b"* 2 FETCH (UID 2 RFC822.SIZE %d)" % len(OTHER),
        b"A OK FETCH completed",
    ]
    assert c.cmd("B UID FETCH 7 FLAGS") == [b"B OK FETCH completed"]  # missing UIDs: nothing


def test_fetch_envelope_and_internaldate(root: Path) -> None:
    c = Client(root)
    c.select()
    lines = c.cmd("A FETCH 2 (ENVELOPE INTERNALDATE)")
    assert lines[0].startswith(
        b'* 2 FETCH (ENVELOPE (NIL "other" (("Doe" NIL "doe" "example.org")) (("Doe" NIL "doe" '
        b'"example.org")) (("Doe" NIL "doe" "example.org")) NIL NIL NIL NIL NIL) INTERNALDATE "'
    )


def test_bad_message_numbers(root: Path) -> None:
    c = Client(root)
    c.select()
    assert c.cmd("A FETCH 3 FLAGS") == [
        b"A BAD invalid message number in 3 (the mailbox has 2 messages)"
    ]
    assert c.cmd("B STORE 5:6 +FLAGS \\Seen")[0].startswith(b"B BAD invalid message number")
    assert c.cmd("C FETCH 1:* FLAGS")[-1] == b"C OK FETCH completed"


def test_big_sections_become_file_spans(root: Path) -> None:
    big = MESSAGE + b"0123456789" * 20_000 + b"\r\n"
    deliver(root, big)
    c = Client(root)
    c.select()
    c.session.receive_data(b"A FETCH 3 BODY.PEEK[]\r\n")
    pieces = list(c.session.step() or [])
    spans = [p for p in pieces if isinstance(p, FileSpan)]
    assert [s.size for s in spans] == [len(big)]
    for s in spans:
        s.file.close()
    assert pieces[-1] == b"A OK FETCH completed\r\n"


def test_store_and_expunge(root: Path) -> None:
    deliver(root)
    c = Client(root)
    c.select()
    assert c.cmd("A STORE 1:2 +FLAGS (\\Deleted)") == [
        b"* 1 FETCH (FLAGS (\\Recent \\Deleted))",
        b"* 2 FETCH (FLAGS (\\Recent \\Deleted))",
        b"A OK STORE completed",
    ]
    assert c.cmd("B STORE 2 -FLAGS.SILENT (\\Deleted)") == [b"B OK STORE completed"]
    assert c.cmd("C UID STORE 3 FLAGS (\\Seen \\Flagged)") == [
        b"* 3 FETCH (UID 3 FLAGS (\\Recent \\Flagged \\Seen))",
        b"C OK STORE completed",
    ]
    assert c.cmd("D STORE 1 +FLAGS ($Junk)")[0].startswith(
        b"D NO [CANNOT] keywords are not supported"
    )
    assert c.cmd("E EXPUNGE")[:2] == [b"* 1 EXPUNGE", b"* 2 RECENT"]
    assert c.cmd("F SEARCH ALL") == [b"* SEARCH 1 2", b"F OK SEARCH completed"]
    assert len(os.listdir(root / "cur")) == 2


def test_expunge_numbers_shift_as_they_go(root: Path) -> None:
    for _ in range(3):
        deliver(root)
    c = Client(root)
    c.select()
    c.cmd("A STORE 2,3,5 +FLAGS.SILENT \\Deleted")
    assert c.cmd("B EXPUNGE")[:3] == [b"* 2 EXPUNGE", b"* 2 EXPUNGE", b"* 3 EXPUNGE"]


def test_uid_expunge_only_the_given_uids(root: Path) -> None:
    c = Client(root)
    c.select()
    c.cmd("A STORE 1:2 +FLAGS.SILENT \\Deleted")
    assert c.cmd("B UID EXPUNGE 2")[0] == b"* 2 EXPUNGE"
    assert c.cmd("C SEARCH DELETED") == [b"* SEARCH 1", b"C OK SEARCH completed"]


def test_close_expunges_silently(root: Path) -> None:
    c = Client(root)
    c.select()
    c.cmd("A STORE 1 +FLAGS.SILENT \\Deleted")
    assert c.cmd("B CLOSE") == [b"B OK CLOSE completed"]
    assert c.session.state == "authenticated"
    assert c.cmd("C STATUS INBOX (MESSAGES)") == [
        b'* STATUS "INBOX" (MESSAGES 1)',
        b"C OK STATUS completed",
    ]


def test_unselect_keeps_deleted(root: Path) -> None:
    c = Client(root)
    c.select()
    c.cmd("A STORE 1 +FLAGS.SILENT \\Deleted")
    assert c.cmd("B UNSELECT") == [b"B OK UNSELECT completed"]
    assert c.cmd("C STATUS INBOX (MESSAGES)")[0] == b'* STATUS "INBOX" (MESSAGES 2)'


def test_search(root: Path) -> None:
    c = Client(root)
    c.select()
    c.cmd("A STORE 2 +FLAGS.SILENT \\Seen")
    cases = {
        "ALL": b"1 2",
        "SEEN": b"2",
        "UNSEEN": b"1",
        '(FROM "smith")': b"1",
        "FROM doe SUBJECT other": b"2",
        "OR FROM smith FROM doe": b"1 2",
        "NOT FROM smith": b"2",
        "BODY blah": b"1",
        "BODY lecture": b"",
        "TEXT lecture": b"1",
        "TO jones": b"1",
        "UID 2": b"2",
        "2:*": b"2",
        "LARGER 60": b"1 2",
        "SMALLER 10": b"",
        "RECENT": b"1 2",
        "NEW": b"1",
        "CHARSET UTF-8 ALL": b"1 2",
    }
    for query, hits in cases.items():
        assert c.cmd(f"S SEARCH {query}") == [
            b"* SEARCH " + hits if hits else b"* SEARCH",
            b"S OK SEARCH completed",
        ], query
    assert c.cmd("U UID SEARCH FROM doe") == [b"* SEARCH 2", b"U OK SEARCH completed"]
    assert c.cmd("X SEARCH CHARSET KOI8-R ALL") == [
        b"X NO [BADCHARSET (US-ASCII UTF-8)] unsupported charset KOI8-R"
    ]


def test_new_mail_is_announced(root: Path) -> None:
    c = Client(root)
    c.select()
    deliver(root)
    assert c.cmd("A NOOP") == [b"* 3 EXISTS", b"* 3 RECENT", b"A OK NOOP completed"]
    assert os.listdir(root / "new") == []


def test_idle_pushes_exists(root: Path) -> None:
    c = Client(root)
    c.select()
    assert c.cmd("I IDLE") == [b"+ idling"]
    assert c.session.poll() == []
    deliver(root)
    assert c.session.poll() == [b"* 3 EXISTS\r\n", b"* 3 RECENT\r\n"]
    assert c.cmd("DONE") == [b"I OK IDLE terminated"]
    assert c.cmd("J IDLE") == [b"+ idling"]
    assert c.cmd("nope") == [b"J BAD expected DONE to end IDLE"]


def test_expunge_by_another_session_waits_during_fetch(root: Path) -> None:
    """RFC 3501 7.4.1: no EXPUNGE responses during FETCH (numbers must
    not shift under the client); the message is a ghost until NOOP."""
    c = Client(root)
    c.select()
    for name in os.listdir(root / "cur"):
        if b"lecture" in (root / "cur" / name).read_bytes():
            (root / "cur" / name).unlink()  # e.g. POP3 DELE
    assert c.cmd("A FETCH 1:2 RFC822.SIZE") == [
        b"* 2 FETCH (RFC822.SIZE %d)" % len(OTHER),
        b"A NO [EXPUNGEISSUED] some messages were expunged meanwhile",
    ]
    assert c.cmd("B NOOP") == [b"* 1 EXPUNGE", b"* 1 RECENT", b"B OK NOOP completed"]
    assert c.cmd("C FETCH 1 UID") == [b"* 1 FETCH (UID 2)", b"C OK FETCH completed"]


def test_flags_changed_by_another_session(root: Path) -> None:
    a, b = Client(root), Client(root)
    a.select()
    b.select()
    b.cmd("X STORE 1 +FLAGS.SILENT \\Flagged")
    assert a.cmd("N NOOP") == [b"* 1 FETCH (FLAGS (\\Recent \\Flagged))", b"N OK NOOP completed"]


def test_append(root: Path) -> None:
    c = Client(root)
    c.login()
    out = c.feed(b'A APPEND INBOX (\\Seen) "01-Jan-2020 10:00:00 +0000" {%d}\r\n' % len(OTHER))
    assert out == b"+ Ready for literal data\r\n"
    out = c.feed(OTHER + b"\r\n")
    validity = ImapStore(root).folder("INBOX").scan().uidvalidity
    assert out == b"A OK [APPENDUID %d 3] APPEND completed\r\n" % validity
    assert c.cmd("B STATUS INBOX (MESSAGES UNSEEN UIDNEXT)") == [
        b'* STATUS "INBOX" (MESSAGES 3 UNSEEN 2 UIDNEXT 4)',
        b"B OK STATUS completed",
    ]
    lines = c.cmd("S SELECT INBOX")
    assert b"* 3 EXISTS" in lines
    assert c.cmd("F FETCH 3 INTERNALDATE") == [
        b'* 3 FETCH (INTERNALDATE " 1-Jan-2020 10:00:00 +0000")',
        b"F OK FETCH completed",
    ]


def test_append_to_selected_mailbox_announces_it(root: Path) -> None:
    c = Client(root)
    c.select()
    out = c.feed(b"A APPEND INBOX {%d+}\r\n" % len(OTHER) + OTHER + b"\r\n")
    assert out.startswith(b"* 3 EXISTS\r\n* 3 RECENT\r\nA OK [APPENDUID ")


def test_append_refusals(root: Path) -> None:
    c = Client(root)
    c.login()
    assert c.cmd("A APPEND Nope {5}") == [b"A NO [TRYCREATE] mailbox Nope does not exist"]
    assert c.cmd("B APPEND INBOX ($Label) {5}")[0].startswith(b"B NO [CANNOT]")
    # LITERAL+ refused: the octets are read and dropped, the connection goes on
    assert c.feed(b"C APPEND Nope {5+}\r\nhello\r\nD NOOP\r\n") == (
        b"C NO [TRYCREATE] mailbox Nope does not exist\r\nD OK NOOP completed\r\n"
    )
    assert os.listdir(root / "tmp") == []


def test_append_cut_short_leaves_nothing(root: Path) -> None:
    c = Client(root)
    c.login()
    c.feed(b"A APPEND INBOX {100}\r\n" + OTHER[:30])
    assert len(os.listdir(root / "tmp")) == 1  # on its way, not in the mailbox
    c.feed(b"")  # the client vanished
    assert os.listdir(root / "tmp") == []
    assert ImapStore(root).folder("INBOX").scan().uidnext == 3


def test_append_limit(root: Path) -> None:
    c = Client(root, limits=ImapServerLimits(max_literal=10))
    c.login()
    assert c.cmd("A APPEND INBOX {11}") == [
        b"A BAD [TOOBIG] message of 11 octets is over the limit of 10"
    ]


def test_copy(root: Path) -> None:
    c = Client(root)
    c.select()
    assert c.cmd("A COPY 1 Archive") == [b"A NO [TRYCREATE] mailbox Archive does not exist"]
    assert c.cmd("B CREATE Archive") == [b"B OK CREATE completed"]
    validity = 0
    lines = c.cmd("C COPY 1:2 Archive")
    m = re.match(rb"C OK \[COPYUID (\d+) 1:2 1:2\] COPY completed", lines[-1])
    assert m is not None
    validity = int(m.group(1))
    assert (
        c.cmd("D UID COPY 2 Archive")[-1]
        == b"C OK [COPYUID %d 2 3] COPY completed".replace(b"C OK", b"D OK") % validity
    )
    assert (
        c.cmd("E STATUS Archive (MESSAGES RECENT)")[0]
        == b'* STATUS "Archive" (MESSAGES 3 RECENT 0)'
    )


def test_list_lsub_and_mailbox_commands(root: Path) -> None:
    c = Client(root)
    c.login()
    for name in ("Sent", "Work.2024", '"My Folder"'):
        assert c.cmd(f"C CREATE {name}") == [b"C OK CREATE completed"]
    assert c.cmd('L LIST "" *') == [
        b'* LIST (\\HasNoChildren) "." "INBOX"',
        b'* LIST (\\HasNoChildren) "." "My Folder"',
        b'* LIST (\\HasNoChildren) "." "Sent"',
        b'* LIST (\\HasChildren) "." "Work"',
        b'* LIST (\\HasNoChildren) "." "Work.2024"',
        b"L OK LIST completed",
    ]
    assert c.cmd('L LIST "" %') == [
        b'* LIST (\\HasNoChildren) "." "INBOX"',
        b'* LIST (\\HasNoChildren) "." "My Folder"',
        b'* LIST (\\HasNoChildren) "." "Sent"',
        b'* LIST (\\HasChildren) "." "Work"',
        b"L OK LIST completed",
    ]
    assert c.cmd('L LIST "Work." %') == [
        b'* LIST (\\HasNoChildren) "." "Work.2024"',
        b"L OK LIST completed",
    ]
    assert c.cmd('L LIST "" inbox') == [
        b'* LIST (\\HasNoChildren) "." "INBOX"',
        b"L OK LIST completed",
    ]
    assert c.cmd('L LIST "" ""') == [b'* LIST (\\Noselect) "." ""', b"L OK LIST completed"]
    assert c.cmd("D DELETE Work") == [b"D OK DELETE completed"]
    assert c.cmd('L LIST "" W*')[0] == b'* LIST (\\Noselect \\HasChildren) "." "Work"'
    assert c.cmd("U UNSUBSCRIBE Sent") == [b"U OK UNSUBSCRIBE completed"]
    assert b'"Sent"' not in b"".join(c.cmd('L LSUB "" *'))
    assert c.cmd("R RENAME Sent Outbox") == [b"R OK RENAME completed"]
    assert c.cmd("D DELETE INBOX")[0].startswith(b"D NO [CANNOT]")
    assert c.cmd("D DELETE Nope")[0].startswith(b"D NO [NONEXISTENT]")
    assert c.cmd("C CREATE Outbox")[0].startswith(b"C NO [ALREADYEXISTS]")
    assert c.cmd("N NAMESPACE") == [b'* NAMESPACE (("" ".")) NIL NIL', b"N OK NAMESPACE completed"]


def test_status_like_the_lecture(root: Path) -> None:
    c = Client(root)
    c.login()
    lines = c.cmd("A STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)")
    assert re.fullmatch(
        rb'\* STATUS "INBOX" \(MESSAGES 2 RECENT 2 UIDNEXT 3 UIDVALIDITY \d+ UNSEEN 2\)', lines[0]
    )
    assert c.cmd("B STATUS Nope (MESSAGES)") == [b"B NO [NONEXISTENT] mailbox Nope does not exist"]


def test_logout(root: Path) -> None:
    c = Client(root)
    assert c.cmd("A LOGOUT") == [
        b"* BYE protoshell IMAP4rev1 server terminating connection",
        b"A OK LOGOUT completed",
    ]
    assert c.session.closed
    assert c.feed(b"B NOOP\r\n") == b""


def test_uidvalidity_change_ends_the_session(root: Path) -> None:
    c = Client(root)
    c.select()
    (root / "protoshell-uidlist").write_text("protoshell-uidlist 1 7 1\n")
    assert c.cmd("A NOOP")[0] == b"* BYE The mailbox's UIDVALIDITY changed; please reconnect"
    assert c.session.closed
