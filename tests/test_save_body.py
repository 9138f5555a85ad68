"""--save-body's observer: payloads and POP3 messages, streamed to a file."""

from __future__ import annotations

import time
from pathlib import Path

from protoshell.proto.base import NEED_DATA, Event
from protoshell.proto.pop3 import Pop3Framer
from protoshell.save_body import BodySaver
from protoshell.session import Exchange


def feed(saver: BodySaver, framer: Pop3Framer, command: bytes, answer: bytes) -> None:
    """Send ``command``, frame ``answer`` as the server's bytes, hand every
    event to the saver as the session would."""
    framer.send(command)
    framer.receive_data(answer)
    while (event := framer.next_event()) is not NEED_DATA:
        assert isinstance(event, Event)
        saver(Exchange("S", event.raw, event, time.time()))


def pop3(tmp_path: Path) -> tuple[BodySaver, Pop3Framer, Path]:
    path = tmp_path / "m.eml"
    framer = Pop3Framer()
    framer.receive_data(b"+OK ready\r\n")
    while framer.next_event() is not NEED_DATA:
        pass
    return BodySaver(str(path)), framer, path


def test_retr_is_saved_dot_unstuffed_without_the_end_line(tmp_path: Path) -> None:
    saver, framer, path = pop3(tmp_path)
    # RFC 1939 3: "..x" is ".x" stuffed, "." alone ends the message.
    feed(saver, framer, b"RETR 1", b"+OK 30 octets\r\nSubject: a\r\n\r\n..x\r\n...\r\nend\r\n.\r\n")
    assert path.read_bytes() == b"Subject: a\r\n\r\n.x\r\n..\r\nend\r\n"  # flushed at the response's end
    assert saver.saved == len(path.read_bytes())
    saver.close()


def test_listings_leave_the_message_and_a_new_message_starts_afresh(tmp_path: Path) -> None:
    saver, framer, path = pop3(tmp_path)
    feed(saver, framer, b"TOP 1 0", b"+OK\r\nSubject: first\r\n\r\n.\r\n")
    feed(saver, framer, b"LIST", b"+OK\r\n1 120\r\n2 5\r\n.\r\n")
    feed(saver, framer, b"UIDL 1", b"+OK 1 abc\r\n")
    assert path.read_bytes() == b"Subject: first\r\n\r\n"
    feed(saver, framer, b"RETR 2", b"+OK\r\nhi\r\n.\r\n")
    assert path.read_bytes() == b"hi\r\n"
    feed(saver, framer, b"RETR 3", b"+OK\r\n.\r\n")  # an empty message: an empty file
    assert path.read_bytes() == b""
    feed(saver, framer, b"RETR 9", b"-ERR no such message\r\n")  # no message: the file stays
    saver.close()
    assert path.read_bytes() == b""
