"""volatile.py: what changes from run to run becomes "*", and nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from protoshell.replay.volatile import loosen_file, loosen_line, loosen_text, loosen_transcript
from protoshell.transcript import match_expected

CASES = [
    ("Date: Wed, 25 Nov 2026 17:29:58 GMT", "Date: *"),
    ("Last-Modified: Wed, 08 Jan 2003 23:11:55 GMT", "Last-Modified: *"),
    ("220 mail.example ESMTP Sendmail; Mon, 23 May 2005 22:38:34 -0700 (PDT)", "220 mail.example ESMTP Sendmail; *"),
    ("Expires: Sun Nov  6 08:49:37 1994", "Expires: *"),
    ('* 1 FETCH (INTERNALDATE "25-Nov-2026 17:29:58 +0000")', '* 1 FETCH (INTERNALDATE "*")'),
    ("<td>2026-11-25 17:17 UTC</td>", "<td>* UTC</td>"),
    ("A0002 OK [READ-WRITE] Select completed (0.003 + 0.000 + 0.002 secs).", "A0002 OK [READ-WRITE] Select completed (* secs)."),
    ("* OK [UIDVALIDITY 1795627797] UIDs valid", "* OK [UIDVALIDITY *] UIDs valid"),
    ("* OK [HIGHESTMODSEQ 42] Highest", "* OK [HIGHESTMODSEQ *] Highest"),
    ("A2 OK [APPENDUID 1795629448 1] Append completed.", "A2 OK [APPENDUID *] Append completed."),
    ("A3 OK [COPYUID 38505 304,319:320 3956:3958] Done", "A3 OK [COPYUID *] Done"),
    ("250 2.0.0 Ok: queued as 4F3A21C0D2", "250 2.0.0 Ok: queued as *"),
    ("250 OK id=1abcD-000123-Xy", "250 OK id=*"),
    ("+OK POP3 server ready <1896.6971@mailgate.dobbs.org>", "+OK POP3 server ready <*>"),
    ("Message-ID: <abc@example.org>", "Message-ID: *"),
    ('ETag: "3f80f-1b6-3e1cb03b"', "ETag: *"),
]

STABLE = [
    "250 OK",
    "250-SIZE 33554432",
    "* 1 FETCH (RFC822.SIZE 2545)",
    "* OK [UIDNEXT 2] Predicted next UID",
    "S: <Smith@bar.com>... Sender ok",
    "HTTP/1.1 200 OK",
    "Content-Length: 1066",
    "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
]


@pytest.mark.parametrize(("text", "loose"), CASES)
def test_volatile_text_becomes_a_wildcard(text: str, loose: str) -> None:
    assert loosen_text(text) == loose
    # The loosened line still matches the original (and so any run's variant).
    assert match_expected(loose, text) is not None


@pytest.mark.parametrize("text", STABLE)
def test_stable_text_is_left_alone(text: str) -> None:
    assert loosen_text(text) == text


def test_only_server_lines_are_touched() -> None:
    assert loosen_line("C: If-Modified-Since: Wed, 25 Nov 2026 17:29:58 GMT\n").endswith("17:29:58 GMT\n")
    assert loosen_line("# recorded Wed, 25 Nov 2026 17:29:58 GMT\n").endswith("GMT\n")
    assert loosen_line("S: <server sends 12 octets of message payload>\n") == "S: <server sends 12 octets of message payload>\n"
    assert loosen_line("S: Date: Wed, 25 Nov 2026 17:29:58 GMT\r\n") == "S: Date: *\r\n"
    text = "S: 220 x\nC: QUIT Wed, 25 Nov 2026 17:29:58 GMT\nS: Date: Wed, 25 Nov 2026 17:29:58 GMT\n"
    assert loosen_transcript(text) == "S: 220 x\nC: QUIT Wed, 25 Nov 2026 17:29:58 GMT\nS: Date: *\n"


def test_loosen_file_rewrites_in_place(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("# protoshell transcript · target: http://h:1\nS: Date: Wed, 25 Nov 2026 17:29:58 GMT\n")
    loosen_file(path)
    assert path.read_text().splitlines()[1] == "S: Date: *"
