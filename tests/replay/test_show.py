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


def _long_transcript(tmp_path: Path) -> Path:
    """A POP3 RETR of 500 lines and an SMTP-like DATA are not in one file;
    this one is POP3 (the header says so) with a long S: block."""
    lines = ["# protoshell transcript · target: pop3://127.0.0.1:1110", "C: RETR 1", "S: +OK 500 lines"]
    lines += [f"S: line {i}" for i in range(500)] + ["S: ..stuffed", "S: .", "C: QUIT", "S: +OK bye"]
    path = tmp_path / "retr.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_long_server_block_is_cut_like_the_shell_cuts_it(tmp_path: Path) -> None:
    path = _long_transcript(tmp_path)
    r = show(str(path), "--max-lines", "3")
    assert r.status == 0, r.err
    out = r.out.splitlines()
    octets = sum(len(f"line {i}\r\n") for i in range(500)) + len("..stuffed\r\n")
    i = out.index("S: +OK 500 lines")
    assert out[i + 1 : i + 7] == [
        "S: line 0",
        "S: line 1",
        "S: line 2",
        f"S: <server sends 501 lines ({octets} octets): first 3 lines shown (--max-lines)>",
        "S: .",
        "C: QUIT",
    ]
    assert len(show(str(path)).out.splitlines()) < 220  # the default: 200 lines
    svg = tmp_path / "retr.svg"
    assert show(str(path), "--max-lines", "3", "--svg", str(svg)).status == 0
    drawn = svg.read_text(encoding="utf-8").replace("&#160;", " ")
    assert "line 2" in drawn and "line 3" not in drawn  # the export is cut too


def test_message_text_after_354_is_cut_and_the_dot_is_shown(tmp_path: Path) -> None:
    lines = ["# protoshell transcript · target: smtp://127.0.0.1:2525", "S: 220 hi", "C: EHLO me", "S: 250 hi"]
    lines += ["C: MAIL FROM:<a@b>", "S: 250 OK", "C: RCPT TO:<c@d>", "S: 250 OK", "C: DATA", "S: 354 go"]
    lines += [f"C: QUIT {i}" for i in range(50)] + ["C: .", "S: 250 queued", "C: QUIT", "S: 221 bye"]
    path = tmp_path / "data.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = show(str(path), "--max-lines", "2", "--phases")
    assert r.status == 0, r.err
    out = r.out.splitlines()
    i = out.index("S: 354 go")
    octets = sum(len(f"QUIT {i}\r\n") for i in range(50))
    assert out[i + 1 : i + 6] == [
        "C: QUIT 0",  # message text: no phase beside it, even if it reads like a command
        "C: QUIT 1",
        f"C: <client sends 50 lines ({octets} octets): first 2 lines shown (--max-lines)>",
        "C: .",
        "S: 250 queued",
    ]
    assert "C: QUIT   [goodbye]" in out


def test_show_max_lines_usage() -> None:
    r = show(str(SMTP), "--max-lines", "-1")
    assert r.status == 2 and "--max-lines" in r.err


def test_a_long_imap_response_is_cut_and_its_tagged_line_shown(tmp_path: Path) -> None:
    untagged = [f"S: * {i} FETCH (FLAGS (\\Seen))" for i in range(1, 1001)]
    lines = ["# protoshell transcript · target: imap://127.0.0.1:143", "C: A1 FETCH 1:* FLAGS", *untagged, "S: A1 OK done"]
    path = tmp_path / "fetch.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = show(str(path), "--max-lines", "2")
    assert r.status == 0, r.err
    out = r.out.splitlines()
    i = out.index("C: A1 FETCH 1:* FLAGS")
    octets = sum(len(line) - 3 + 2 for line in untagged)
    assert out[i + 1 :] == [
        "S: * 1 FETCH (FLAGS (\\Seen))",
        "S: * 2 FETCH (FLAGS (\\Seen))",
        f"S: <server sends 1000 lines ({octets} octets): first 2 lines shown (--max-lines)>",
        "S: A1 OK done",
    ]
