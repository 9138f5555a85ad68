"""Every lesson in transcripts/ replays against the kind of server its
header names: the matching fixture is started and the replay is pointed at
its real port with --target.  A lesson whose header says ``expect: mismatch
at line N`` (the lecture's IMAP exchange, where USER is not IMAP) must fail
exactly there, with exit status 1."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from protoshell.replay.cli_entry import load_transcript
from protoshell.replay.expectation import read_expectation
from protoshell.target import parse_target

from .support import TRANSCRIPTS, lecture_message, pop3_messages, replay

LESSONS = sorted(p.name for p in TRANSCRIPTS.glob("*.txt"))


def test_there_are_lessons_for_every_protocol() -> None:
    schemes = {parse_target(load_transcript(str(TRANSCRIPTS / n)).target or "").protocol for n in LESSONS}
    assert schemes == {"smtp", "pop3", "imap", "http"}


def test_every_lesson_says_what_it_teaches() -> None:
    for name in LESSONS:
        t = load_transcript(str(TRANSCRIPTS / name))
        assert t.target, f"{name}: no target in the header"
        text = (TRANSCRIPTS / name).read_text()
        assert "What it teaches" in text, name
        assert "What the target needs" in text, name


def _target(request: pytest.FixtureRequest, url: str) -> tuple[str, list[str]]:
    """Start the server the header's URL names; return (URL, extra args)."""
    scheme = url.split("://", 1)[0]
    if scheme == "smtp":
        return request.getfixturevalue("lecture_smtp").url, []
    if scheme == "submission":
        make: Callable[..., Any] = request.getfixturevalue("smtp_server_factory")
        server = make("submission")
        ca = request.getfixturevalue("tls_ca")
        return server.url, ["--set", f"password={server.password}", "--cafile", str(ca.ca_cert)]
    if scheme in ("pop3", "imap"):
        dovecot = request.getfixturevalue("dovecot")
        if scheme == "pop3":
            for message in pop3_messages():
                dovecot.deliver(message, "bob")
            return dovecot.pop3_url, []
        dovecot.deliver(lecture_message(), "frobozz")
        return dovecot.imap_url, []
    if scheme == "http":
        return request.getfixturevalue("http_server").url, []
    raise AssertionError(f"no fixture for {url}")


@pytest.mark.parametrize("name", LESSONS)
def test_lesson_replays_against_its_kind_of_server(name: str, request: pytest.FixtureRequest) -> None:
    path = TRANSCRIPTS / name
    transcript = load_transcript(str(path))
    assert transcript.target is not None
    url, extra = _target(request, transcript.target)
    r = replay(str(path), "--target", url, *extra)
    expect = read_expectation(transcript)
    if expect is None:
        assert r.status == 0, r.out + r.err
        assert "replay passed" in r.out
        assert r.err == ""
        return
    line = expect.line
    assert line is not None, f"{name}: say at which line it fails"
    assert r.status == 1, r.out + r.err
    assert f"mismatch at {path}:{line}" in r.out
    assert r.err.startswith(f"protoshell: {path}:{line}: ")
