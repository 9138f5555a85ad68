"""A transcript whose header says ``expect: mismatch at line N``
(protoshell/replay/expectation.py), run as a test: the lecture's IMAP
lesson against Dovecot passes under ``protoshell test`` (and says why);
the same header on a file that mismatches elsewhere, or not at all, fails;
a header that cannot be read is exit 2."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from protoshell.replay.suite_cli import test_main as protoshell_test

from .suite_files import SMTP_FAIL, SMTP_PASS
from .support import TRANSCRIPTS, Run, fake_env, lecture_message

LESSON = TRANSCRIPTS / "imap_lecture.txt"


def run(*args: str) -> Run:
    env, out, err = fake_env()
    status = protoshell_test([*args, "--timeout", "5"], env=env)
    return Run(status, out.getvalue(), err.getvalue())


def expecting(url: str, expect: str) -> str:
    return f"# protoshell transcript · target: {url} · expect: {expect}\n"


def test_the_lecture_lesson_that_fails_on_purpose_passes_as_a_test(dovecot: Any, tmp_path: Path) -> None:
    dovecot.deliver(lecture_message(), "frobozz")
    junit = tmp_path / "r.xml"
    r = run(str(LESSON), "--target", dovecot.imap_url, "--junit", str(junit))
    assert r.status == 0, r.out + r.err
    first, last = r.out.splitlines()
    assert first.startswith(f"PASS {LESSON} (mismatch at line 28, as its header expects; ")
    assert last == "1 passed, 0 failed"
    (case,) = ET.parse(junit).getroot().iter("testcase")
    assert case.find("failure") is None and case.find("error") is None
    out = case.find("system-out")
    assert out is not None and out.text == f"{LESSON}:28: mismatch at line 28, as its header expects\n"


def test_a_mismatch_elsewhere_or_none_fails(lecture_smtp: Any, tmp_path: Path) -> None:
    # SMTP_FAIL mismatches at line 8; the header says 5.
    (tmp_path / "a-elsewhere.txt").write_text(expecting(lecture_smtp.url, "mismatch at line 5") + SMTP_FAIL)
    (tmp_path / "b-none.txt").write_text(expecting(lecture_smtp.url, "mismatch at line 5") + SMTP_PASS)
    (tmp_path / "c-anywhere.txt").write_text(expecting(lecture_smtp.url, "mismatch") + SMTP_FAIL)
    r = run(str(tmp_path))
    assert r.status == 1, r.out + r.err
    elsewhere, none, anywhere, summary = r.out.splitlines()
    assert elsewhere.startswith(f"FAIL {tmp_path}/a-elsewhere.txt:8 expected ")
    assert elsewhere.endswith("(expected status 250, the server answered 550; its header expects a mismatch at line 5)")
    assert none == f"FAIL {tmp_path}/b-none.txt: every line matched, but its header expects a mismatch at line 5"
    assert anywhere.startswith(f"PASS {tmp_path}/c-anywhere.txt (mismatch at line 8, as its header expects; ")
    assert summary == "1 passed, 2 failed"


def test_an_expect_header_it_cannot_read_is_exit_2(lecture_smtp: Any, tmp_path: Path) -> None:
    path = tmp_path / "typo.txt"
    path.write_text(expecting(lecture_smtp.url, "failure at 8") + SMTP_FAIL)
    r = run(str(path))
    assert r.status == 2
    assert r.out.splitlines()[0] == (
        f"ERROR {path}:1: cannot read 'expect: failure at 8' in the header "
        "(write 'expect: mismatch at line N' for a transcript meant to fail at line N)"
    )
