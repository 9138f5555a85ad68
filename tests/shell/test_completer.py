"""suggest(): completion from the vocabulary tables and what the server taught."""

from __future__ import annotations

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from protoshell.proto import vocabulary_for
from protoshell.shell import meta
from protoshell.shell.completer import CompletionContext, ShellCompleter, suggest


def ctx(protocol: str, **kw: object) -> CompletionContext:
    return CompletionContext(
        protocol=protocol,
        vocabulary=vocabulary_for(protocol),
        meta=meta.specs(),
        **kw,  # type: ignore[arg-type]
    )


def texts(text: str, c: CompletionContext) -> list[str]:
    return [s.text for s in suggest(text, c)]


@pytest.mark.parametrize(
    ("protocol", "typed", "expected"),
    [
        ("smtp", "EH", ["EHLO "]),  # a command that takes an argument gets its space
        ("smtp", "eh", ["ehlo "]),  # the case the user started in
        ("smtp", "MAIL ", ["FROM:<"]),  # spelled out in the syntax
        ("smtp", "RCPT T", ["TO:<"]),
        ("pop3", "RE", ["RETR "]),
        ("pop3", "LI", ["LIST"]),  # [msg] is optional: Enter may follow
        ("pop3", "QU", ["QUIT"]),
        ("imap", "SEL", ["SELECT "]),
        ("imap", "x1 SEL", ["SELECT "]),  # after a tag the user typed
        ("imap", "UID FE", ["FETCH "]),
        ("imap", "FETCH 1 (BODY[HEADER] FL", ["FLAGS"]),  # inside a parenthesised list
        ("imap", "STORE 1 +FL", ["+FLAGS", "+FLAGS.SILENT"]),
        ("http", "HE", ["HEAD "]),
        ("http", "GET / HTTP/1.", ["HTTP/1.1", "HTTP/1.0"]),
    ],
)
def test_vocabulary_words(protocol: str, typed: str, expected: list[str]) -> None:
    assert texts(typed, ctx(protocol)) == expected


def test_replacement_starts_at_the_word() -> None:
    (s,) = suggest("FETCH 1 (RFC822.SI", ctx("imap"))
    assert (s.text, s.start) == ("RFC822.SIZE", -len("RFC822.SI"))


def test_command_meta_is_its_meaning() -> None:
    (s,) = suggest("QU", ctx("pop3"))
    quit_cmd = vocabulary_for("pop3").command("QUIT")
    assert quit_cmd is not None and (s.text, s.meta) == ("QUIT", quit_cmd.meaning)


def test_learned_facts_come_first() -> None:
    c = ctx("smtp", facts={"auth-mechanism": ("LOGIN", "PLAIN")})
    assert texts("AUTH ", c)[:2] == ["LOGIN", "PLAIN"]
    assert texts("AUTH CRAM", c) == ["CRAM-MD5"]  # the table still completes


def test_pop3_message_numbers_from_list() -> None:
    c = ctx("pop3", facts={"message": ("1", "2", "12")})
    assert texts("RETR 1", c) == ["1", "12"]
    assert texts("DELE ", c) == ["1", "2", "12"]


def test_imap_mailboxes_learned_from_list() -> None:
    c = ctx("imap", facts={"mailbox": ("INBOX", "Archive", "Archive.2024")})
    assert texts("SELECT Ar", c) == ["Archive", "Archive.2024"]
    assert texts("A7 EXAMINE in", c) == ["inbox"]  # case-insensitive match


def test_http_paths_and_headers() -> None:
    c = ctx("http", facts={"path": ("/hello.txt", "/sub/")})
    assert texts("GET /h", c) == ["/hello.txt"]
    header = suggest("GET / HTTP/1.1\nCont", c)
    assert "Content-Type: " in [s.text for s in header]
    assert all(s.start == -4 for s in header)
    assert texts("GET / HTTP/1.1\nAccept: te", c) == []  # no values guessed


def test_http_methods_are_case_sensitive() -> None:
    assert texts("ge", ctx("http")) == ["GET "]


def test_message_text_is_not_completed() -> None:
    assert texts("DA", ctx("smtp", message_mode=True)) == []


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        (":he", [":help", ":hex"]),
        (":q", [":quit"]),
        (":s", [":starttls", ":send-file", ":stop", ":save-body", ":set"]),
        (":help EH", ["EHLO"]),
        (":help :qu", [":quit"]),
        (":explain 35", ["354"]),
        (":auth p", ["plain"]),
        (":hex o", ["on", "off"]),
        (":pipeline of", ["off"]),
    ],
)
def test_meta_commands(typed: str, expected: list[str]) -> None:
    assert texts(typed, ctx("smtp")) == expected


def test_colon_colon_is_a_protocol_line() -> None:
    assert texts("::he", ctx("smtp")) == []


def test_variables() -> None:
    c = ctx("imap", variables=("uv", "user"))
    assert texts("LOGIN $u", c) == ["$uv", "$user"]
    assert texts(":set u", c) == ["uv", "user"]


def test_unknown_command_has_no_arguments() -> None:
    assert texts("FROB ", ctx("smtp")) == []


def test_adapter_completes_paths_for_file_arguments(tmp_path: object) -> None:
    import pathlib

    base = pathlib.Path(str(tmp_path))
    (base / "message.eml").write_text("x")
    completer = ShellCompleter(lambda: ctx("smtp"))
    doc = Document(f":send-file {base}/mess")
    got = [c.text for c in completer.get_completions(doc, CompleteEvent())]
    assert got == ["age.eml"]


def test_adapter_passes_suggestions() -> None:
    completer = ShellCompleter(lambda: ctx("pop3"))
    got = list(completer.get_completions(Document("ST"), CompleteEvent()))
    assert sorted((c.text, c.start_position) for c in got) == [("STAT", -2), ("STLS", -2)]
