"""protoshell/proto/base.py: the rules shared by every protocol's framer."""

from __future__ import annotations

from protoshell.proto.base import NEED_DATA, ResponseEnd, empty_line_is_content
from protoshell.proto.imap import ImapFramer
from protoshell.proto.smtp import SmtpFramer


def _last_outcome(framer: SmtpFramer | ImapFramer, data: bytes) -> str | None:
    framer.receive_data(data)
    outcome = None
    while (event := framer.next_event()) is not NEED_DATA:
        if isinstance(event, ResponseEnd):
            outcome = event.outcome
    return outcome


def test_an_empty_line_is_content_only_where_the_server_reads_one() -> None:
    """The shell's Enter on an empty prompt and pipe mode's blank stdin lines
    follow this one rule (it was two copies, and pipe mode's skipped an empty
    SASL response after 334)."""
    smtp = SmtpFramer()
    outcome = _last_outcome(smtp, b"220 hi\r\n")
    assert not empty_line_is_content(smtp, outcome)  # between commands: no command
    smtp.send(b"AUTH LOGIN")
    outcome = _last_outcome(smtp, b"334 VXNlcm5hbWU6\r\n")
    assert empty_line_is_content(smtp, outcome)  # an empty SASL response (RFC 4954 4)
    smtp.send(b"")
    outcome = _last_outcome(smtp, b"535 no\r\n")
    smtp.send(b"MAIL FROM:<a@b>")
    smtp.send(b"RCPT TO:<c@d>")
    smtp.send(b"DATA")
    outcome = _last_outcome(smtp, b"250 ok\r\n250 ok\r\n354 go\r\n")
    assert empty_line_is_content(smtp, outcome)  # message text: the header/body separator
    imap = ImapFramer()
    outcome = _last_outcome(imap, b"* OK hi\r\n")
    assert not empty_line_is_content(imap, outcome)
    imap.send(b"A1 AUTHENTICATE PLAIN")
    outcome = _last_outcome(imap, b"+ \r\n")
    assert empty_line_is_content(imap, outcome)  # the SASL response is due (RFC 3501 6.2.2)
