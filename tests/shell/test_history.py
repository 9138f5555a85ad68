"""Per-protocol history in the XDG data folder, without secrets."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from protoshell.shell.history import RedactingFileHistory, history_path, is_secret, open_history


def test_path_follows_xdg_data_home(tmp_path: Path) -> None:
    assert (
        history_path("imap", {"XDG_DATA_HOME": str(tmp_path)})
        == tmp_path / "protoshell" / "history-imap"
    )


def test_path_defaults_to_local_share(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "XDG_DATA_HOME": "relative/ignored"}
    assert (
        history_path("smtp", env) == tmp_path / ".local" / "share" / "protoshell" / "history-smtp"
    )


@pytest.mark.parametrize(
    "line",
    [
        "PASS redqueen",
        "pass redqueen",
        "A0001 LOGIN bob redqueen",
        "LOGIN bob redqueen",
        "AUTH PLAIN AGJvYgByZWRxdWVlbg==",
        "A1 AUTHENTICATE PLAIN AGJvYgByZWRxdWVlbg==",
        "APOP bob c4c9334bac560ecc979e58001b3e22fb",
        "GET / HTTP/1.1\nAuthorization: Basic Ym9iOnJlZHF1ZWVu",
        "GET / HTTP/1.1\ncookie: id=1",
    ],
)
def test_secret_lines(line: str) -> None:
    assert is_secret(line)


@pytest.mark.parametrize(
    "line", ["USER bob", "AUTH PLAIN", "A1 SELECT INBOX", "GET /pass HTTP/1.1", "EHLO login"]
)
def test_ordinary_lines(line: str) -> None:
    assert not is_secret(line)


def test_file_keeps_ordinary_lines_only_and_is_private(tmp_path: Path) -> None:
    history = open_history("pop3", {"XDG_DATA_HOME": str(tmp_path)})
    assert isinstance(history, RedactingFileHistory)
    history.append_string("USER bob")
    history.append_string("PASS redqueen")
    history.append_string("STAT")
    path = tmp_path / "protoshell" / "history-pop3"
    text = path.read_text()
    assert "USER bob" in text and "STAT" in text and "redqueen" not in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # The secret stays in this session's memory (Up finds it), not on disk.
    assert "PASS redqueen" in history.get_strings()
    again = open_history("pop3", {"XDG_DATA_HOME": str(tmp_path)})
    assert list(again.load_history_strings()) == ["STAT", "USER bob"]
