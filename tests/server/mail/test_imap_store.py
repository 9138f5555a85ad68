"""Tests for protoshell/server/mail/imap_store.py: the IMAP view of a Maildir.

Real files in a temporary Maildir; messages delivered the way the SMTP
server delivers them (stdlib ``mailbox.Maildir.add``: tmp -> new).
"""

from __future__ import annotations

import mailbox
import os
import threading
from pathlib import Path

import pytest

from protoshell.server.mail.imap_store import (
    UIDLIST_NAME,
    ImapStore,
    MailboxError,
)

MESSAGE = (
    b"From: Smith@bar.com\r\n"
    b"To: Jones@foo.com\r\n"
    b"Subject: lecture\r\n"
    b"\r\n"
    b"Blah blah blah...\r\n"
    b".a line that starts with a dot\r\n"
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "Maildir"


def deliver(root: Path, data: bytes = MESSAGE) -> str:
    return str(mailbox.Maildir(str(root), create=True).add(data))


def test_new_store_makes_the_maildir(root: Path) -> None:
    store = ImapStore(root)
    assert all((root / d).is_dir() for d in ("cur", "new", "tmp"))
    assert store.mailboxes() == ["INBOX"]
    snap = store.folder("INBOX").scan()
    assert snap.messages == () and snap.uidnext == 1 and snap.uidvalidity > 0


def test_uids_in_delivery_order_and_persisted(root: Path) -> None:
    keys = [deliver(root, MESSAGE + b"%d\r\n" % i) for i in range(3)]
    store = ImapStore(root)
    snap = store.folder("INBOX").scan()
    assert [(r.uid, r.key) for r in snap.messages] == list(zip([1, 2, 3], keys))
    assert all(r.in_new and r.flags == frozenset() for r in snap.messages)
    assert snap.uidnext == 4
    # A second store (another process) reads the same UIDs and UIDVALIDITY.
    again = ImapStore(root).folder("INBOX").scan()
    assert again == snap
    assert (
        (root / UIDLIST_NAME).read_text().startswith(f"protoshell-uidlist 1 {snap.uidvalidity} 4\n")
    )


def test_new_mail_gets_the_next_uid_after_expunge(root: Path) -> None:
    deliver(root)
    deliver(root)
    store = ImapStore(root)
    folder = store.folder("INBOX")
    first = folder.scan()
    assert folder.expunge(first.messages[1])
    deliver(root)  # SMTP delivers while an IMAP session looks
    snap = folder.scan()
    assert [r.uid for r in snap.messages] == [1, 3]  # UID 2 is never reused
    assert snap.uidnext == 4


def test_flags_live_in_the_file_name(root: Path) -> None:
    key = deliver(root)
    folder = ImapStore(root).folder("INBOX")
    rec = folder.scan().messages[0]
    rec = folder.set_flags(rec, {"\\Seen", "\\Deleted", "\\Answered"})
    assert rec is not None and not rec.in_new
    assert os.listdir(root / "cur") == [f"{key}:2,RST"]
    assert os.listdir(root / "new") == []
    snap = folder.scan()
    assert snap.messages[0].flags == {"\\Seen", "\\Deleted", "\\Answered"}
    assert snap.messages[0].uid == 1  # the UID follows the key, not the name


def test_unknown_maildir_letters_are_kept(root: Path) -> None:
    key = deliver(root)
    os.rename(root / "new" / key, root / "cur" / f"{key}:2,PS")
    folder = ImapStore(root).folder("INBOX")
    rec = folder.scan().messages[0]
    assert rec.flags == {"\\Seen"}
    folder.set_flags(rec, {"\\Flagged"})
    assert os.listdir(root / "cur") == [f"{key}:2,FP"]


def test_set_flags_follows_a_rename_by_another_session(root: Path) -> None:
    key = deliver(root)
    folder = ImapStore(root).folder("INBOX")
    rec = folder.move_to_cur(folder.scan().messages[0])
    assert rec is not None
    os.rename(rec.path, root / "cur" / f"{key}:2,F")  # someone else flagged it
    new = folder.set_flags(rec, {"\\Seen"})
    assert new is not None and os.listdir(root / "cur") == [f"{key}:2,S"]


def test_set_flags_on_a_vanished_message(root: Path) -> None:
    deliver(root)
    folder = ImapStore(root).folder("INBOX")
    rec = folder.scan().messages[0]
    rec.path.unlink()  # POP3 DELE
    assert folder.set_flags(rec, {"\\Seen"}) is None
    assert folder.expunge(rec)  # already gone counts as gone


def test_content_is_the_file_byte_for_byte(root: Path) -> None:
    body = MESSAGE + bytes(range(256)).replace(b"\n", b"").replace(b"\r", b"") + b"\r\n"
    deliver(root, body)
    folder = ImapStore(root).folder("INBOX")
    content = folder.content(folder.scan().messages[0])
    try:
        assert content.size == len(body)
        assert content.header_len == body.index(b"\r\n\r\n") + 4
        assert content.read(0, content.size) == body
        assert content.header() == body[: content.header_len]
        assert content.contains(b"BLAH")
        assert not content.contains(b"Subject", content.header_len)
    finally:
        content.close()


def test_lf_files_are_served_with_crlf(root: Path) -> None:
    deliver(root, MESSAGE.replace(b"\r\n", b"\n"))
    folder = ImapStore(root).folder("INBOX")
    content = folder.content(folder.scan().messages[0])
    assert content.size == len(MESSAGE)
    assert content.read(0, content.size) == MESSAGE
    assert content.header_len == MESSAGE.index(b"\r\n\r\n") + 4


def test_message_without_body(root: Path) -> None:
    deliver(root, b"Subject: only a header\r\n")
    folder = ImapStore(root).folder("INBOX")
    content = folder.content(folder.scan().messages[0])
    assert content.header_len == content.size == 24


def test_search_across_chunk_boundaries(root: Path) -> None:
    big = MESSAGE + b"x" * ((256 << 10) - 3) + b"NEEDLE" + b"\r\n"
    deliver(root, big)
    folder = ImapStore(root).folder("INBOX")
    content = folder.content(folder.scan().messages[0])
    assert content.contains(b"needle")
    assert not content.contains(b"haystack")
    content.close()


def test_append_spool_commit_and_abort(root: Path) -> None:
    store = ImapStore(root)
    folder = store.folder("INBOX")
    spool = folder.begin_append()
    spool.write(MESSAGE[:10])
    assert folder.scan().messages == ()  # nothing visible before commit
    assert os.listdir(root / "tmp") == [spool.key]
    spool.write(MESSAGE[10:])
    validity, uid = spool.commit({"\\Seen"}, 946684800.0)
    assert (validity, uid) == (folder.scan().uidvalidity, 1)
    rec = folder.scan().messages[0]
    assert rec.flags == {"\\Seen"} and not rec.in_new
    assert rec.path.read_bytes() == MESSAGE
    assert rec.path.stat().st_mtime == 946684800.0
    assert os.listdir(root / "tmp") == []

    spool = folder.begin_append()
    spool.write(b"half a mess")
    spool.abort()
    assert os.listdir(root / "tmp") == []
    assert len(folder.scan().messages) == 1


def test_append_without_flags_goes_to_new(root: Path) -> None:
    folder = ImapStore(root).folder("INBOX")
    spool = folder.begin_append()
    spool.write(MESSAGE)
    spool.commit((), None)
    assert folder.scan().messages[0].in_new


def test_mailboxes_create_delete_rename(root: Path) -> None:
    store = ImapStore(root)
    store.create("Work.2024")  # creates the parent too (RFC 3501 6.3.3)
    store.create("Sent.")  # a trailing delimiter names the mailbox itself
    assert store.mailboxes() == ["INBOX", "Sent", "Work", "Work.2024"]
    assert (root / ".Work.2024" / "maildirfolder").exists()
    with pytest.raises(MailboxError) as exc:
        store.create("Sent")
    assert exc.value.code == "ALREADYEXISTS"
    store.rename("Work", "Job")
    assert store.mailboxes() == ["INBOX", "Job", "Job.2024", "Sent"]
    store.delete("Job")
    assert store.mailboxes() == ["INBOX", "Job.2024", "Sent"]
    for bad in ("", "a..b", ".x", "a/b", "\x01"):
        with pytest.raises(MailboxError):
            store.create(bad)
    with pytest.raises(MailboxError) as exc:
        store.delete("INBOX")
    assert exc.value.code == "CANNOT"
    with pytest.raises(MailboxError) as exc:
        store.folder("Nope")
    assert exc.value.code == "NONEXISTENT"


def test_each_folder_has_its_own_uids(root: Path) -> None:
    store = ImapStore(root)
    store.create("Archive")
    deliver(root)
    inbox = store.folder("INBOX")
    archive = store.folder("Archive")
    validity, pairs = archive.copy_from(inbox, inbox.scan().messages)
    snap = archive.scan()
    assert pairs == [(1, 1)] and validity == snap.uidvalidity
    assert snap.uidvalidity != inbox.scan().uidvalidity
    assert snap.messages[0].path.read_bytes() == MESSAGE
    assert (root / ".Archive" / UIDLIST_NAME).exists()


def test_copy_keeps_flags_and_date(root: Path) -> None:
    store = ImapStore(root)
    store.create("Archive")
    deliver(root)
    inbox = store.folder("INBOX")
    rec = inbox.set_flags(inbox.scan().messages[0], {"\\Flagged"})
    assert rec is not None
    os.utime(rec.path, (1_000_000, 1_000_000))
    archive = store.folder("Archive")
    archive.copy_from(inbox, [rec])
    copy = archive.scan().messages[0]
    assert copy.flags == {"\\Flagged"}
    assert copy.path.stat().st_mtime == 1_000_000


def test_subscriptions(root: Path) -> None:
    store = ImapStore(root)
    store.create("Sent")
    assert store.subscriptions() == ["INBOX", "Sent"]  # everything until the first change
    store.unsubscribe("Sent")
    assert store.subscriptions() == ["INBOX"]
    store.subscribe("Sent")
    assert store.subscriptions() == ["INBOX", "Sent"]
    with pytest.raises(MailboxError):
        store.subscribe("Nope")


def test_broken_uidlist_starts_over(root: Path) -> None:
    deliver(root)
    (root / UIDLIST_NAME).write_text("garbage\n")
    snap = ImapStore(root).folder("INBOX").scan()
    assert [r.uid for r in snap.messages] == [1]


def test_concurrent_stores_never_share_a_uid(root: Path) -> None:
    """Two stores (as two server processes would) scanning while mail
    arrives: every message ends with one UID, all distinct."""
    stores = [ImapStore(root), ImapStore(root)]
    errors: list[BaseException] = []

    def scanner(store: ImapStore) -> None:
        try:
            for _ in range(30):
                store.folder("INBOX").scan()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=scanner, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for i in range(30):
        deliver(root, MESSAGE + b"%d\r\n" % i)
    for t in threads:
        t.join(30)
    assert not errors
    snaps = [s.folder("INBOX").scan() for s in stores]
    assert snaps[0].messages == snaps[1].messages
    uids = [r.uid for r in snaps[0].messages]
    assert len(uids) == 30 and len(set(uids)) == 30
