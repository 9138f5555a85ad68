"""protoshell show: a transcript in colour, and exported to HTML and SVG."""

from __future__ import annotations

from pathlib import Path

import pytest

from protoshell.replay.cli_entry import load_transcript
from protoshell.replay.show import guess_protocol, outcome_for, phase_of, rows_for, title_for
from protoshell.transcript import parse_transcript

from .support import TRANSCRIPTS, show

SMTP = TRANSCRIPTS / "smtp_lecture.txt"


def test_show_prints_every_line_of_the_lesson() -> None:
    r = show(str(SMTP))
    assert r.status == 0, r.err
    lines = r.out.splitlines()
    assert "Lesson: SMTP, the lecture's exchange, verbatim (RFC 5321)." in lines[0]
    assert lines[1] == "target: smtp://127.0.0.1:2525"
    assert "" in lines[2:]  # the blank lines between the lecture's blocks stay
    for line in SMTP.read_text().splitlines()[1:]:
        if line:
            assert line in lines


def test_show_numbers_and_phases() -> None:
    r = show(str(SMTP), "-n", "--phases")
    assert r.status == 0
    assert any(line.endswith("C: EHLO bar.com   [identify]") for line in r.out.splitlines())
    assert any(line.endswith("C: QUIT   [goodbye]") for line in r.out.splitlines())
    assert any(line.startswith("21 S: 220 foo.com") for line in r.out.splitlines())


@pytest.mark.parametrize("fmt", ["html", "svg"])
def test_export_contains_the_lines_title_and_target(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"lesson.{fmt}"
    r = show(str(TRANSCRIPTS / "pop3_lecture.txt"), f"--{fmt}", str(out), "--title", "POP3 <week 2>")
    assert r.status == 0, r.err
    assert r.err == f"protoshell: wrote {out}\n"
    text = out.read_text()
    if fmt == "html":
        assert "<title>POP3 &lt;week 2&gt; · pop3://127.0.0.1:110</title>" in text
        for needle in ("RETR 1", "+OK 2 320", "client hangs up", "target: pop3://127.0.0.1:110"):
            assert needle.replace("<", "&lt;").replace(">", "&gt;") in text
    else:
        assert text.startswith("<svg")
        assert "POP3&#160;&lt;week&#160;2&gt;&#160;·&#160;pop3://127.0.0.1:110" in text
        # SVG text is split per styled span and spaces are &#160;: look for words
        for needle in ("RETR", "320", "dewey", "hangs"):
            assert needle in text


def test_export_to_an_unwritable_place_exits_2(tmp_path: Path) -> None:
    r = show(str(SMTP), "--html", str(tmp_path / "no" / "such" / "dir.html"))
    assert r.status == 2 and "cannot write" in r.err


def test_bad_arguments_and_files_exit_2(tmp_path: Path) -> None:
    assert show(str(SMTP), "--html", "a", "--svg", "b").status == 2
    assert show(str(tmp_path / "missing.txt")).status == 2
    bad = tmp_path / "bad.txt"
    bad.write_text("S: 220 x\nEHLO\n")
    r = show(str(bad))
    assert r.status == 2 and r.err.startswith(f"protoshell: {bad}:2: ")


def test_protocol_guess_and_outcomes() -> None:
    assert guess_protocol(parse_transcript("S: 220 x\nC: EHLO y\n")) == "smtp"
    assert guess_protocol(parse_transcript("C: USER bob\nS: +OK\n")) == "pop3"
    assert guess_protocol(parse_transcript("C: A0001 SELECT INBOX\nS: * 1 EXISTS\n")) == "imap"
    assert guess_protocol(parse_transcript("C: GET / HTTP/1.1\n")) == "http"
    assert guess_protocol(parse_transcript("# nothing\n")) is None
    assert outcome_for("smtp", "550") == "error" and outcome_for("smtp", "354") == "continue"
    assert outcome_for("imap", "A1 NO") == "temporary" and outcome_for("imap", "* EXISTS") == "info"
    assert outcome_for("http", "HTTP 404") == "error" and outcome_for("pop3", "+OK") == "ok"
    assert phase_of("imap", b"A0006 LOGOUT") == "goodbye"
    assert phase_of("http", b"GET / HTTP/1.1") is not None
    assert phase_of("smtp", b"Blah blah") is None


def test_rows_style_server_lines_by_outcome() -> None:
    t = load_transcript(str(SMTP))
    rows = {r.text: r for r in rows_for(t, "smtp")}
    assert rows["550 No such user here"].style == "protoshell.error"
    assert rows["250 OK"].style == "protoshell.ok"
    assert rows["EHLO bar.com"].style == "protoshell.client"
    assert title_for(t, None).startswith("Lesson: SMTP")
    assert title_for(t, "mine") == "mine"
