"""MailServices / MailStack wiring (protoshell/server/mail/service.py): how
IMAP is plugged in, ports in use, plain-text login only on loopback."""

from __future__ import annotations

import asyncio
import smtplib
import socket
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from protoshell.server.mail.service import MailConfig, MailServices, is_loopback


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.9.9.9", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("192.168.1.10", False),
        ("::", False),
        ("example.org", False),
    ],
)
def test_plaintext_login_only_on_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    assert MailConfig(host=host).plaintext_login is loopback


def _fake_imap(monkeypatch: pytest.MonkeyPatch, seen: dict[str, Any]) -> None:
    """A stand-in for protoshell.server.mail.imap that declares only some of
    the keyword arguments MailStack offers."""

    async def start_imap_server(
        *, host: str, port: int, maildir: Path, plaintext_login: bool
    ) -> asyncio.Server:
        seen.update(host=host, port=port, maildir=maildir, plaintext_login=plaintext_login)

        async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"* OK fake IMAP\r\n")
            await writer.drain()
            writer.close()

        return await asyncio.start_server(greet, host, port)

    module = types.ModuleType("protoshell.server.mail.imap")
    module.start_imap_server = start_imap_server  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "protoshell.server.mail.imap", module)


def test_imap_is_started_with_the_arguments_it_declares(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: dict[str, Any] = {}
    _fake_imap(monkeypatch, seen)
    with MailServices(tmp_path / "M", "127.0.0.1", 0, 0, 0, tls=False) as mail:
        assert mail.imap_error is None
        assert mail.imap_port is not None
        assert set(mail.urls()) == {"smtp", "pop3", "imap"}
        with socket.create_connection(("127.0.0.1", mail.imap_port), timeout=5) as sock:
            assert sock.recv(100) == b"* OK fake IMAP\r\n"
    assert seen == {
        "host": "127.0.0.1",
        "port": 0,
        "maildir": tmp_path / "M",
        "plaintext_login": True,
    }


def test_without_the_imap_module_smtp_and_pop3_still_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "protoshell.server.mail.imap", None)  # import fails
    with MailServices(tmp_path / "M", "127.0.0.1", 0, 0, 0, tls=False) as mail:
        assert mail.imap_port is None
        assert mail.imap_error is not None and "IMAP" in mail.imap_error
        assert any("no IMAP" in line for line in mail.stack.describe())
        with smtplib.SMTP("127.0.0.1", mail.smtp_port, timeout=5) as smtp:
            smtp.sendmail("a@b", ["c@d"], b"Subject: x\r\n\r\nx\r\n")
        assert len(mail.store) == 1


@pytest.mark.parametrize("which", ["smtp", "pop3", "imap"])
def test_a_port_in_use_names_the_protocol_and_closes_the_others(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, which: str
) -> None:
    _fake_imap(monkeypatch, {})
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ports = {"smtp_port": 0, "pop3_port": 0, "imap_port": 0, f"{which}_port": port}
        mail = MailServices(tmp_path / "M", "127.0.0.1", tls=False, **ports)
        with pytest.raises(
            OSError, match=rf"127.0.0.1:{port} \({which.upper()}\): address already"
        ):
            mail.start()
        assert not mail.running
    # Nothing was left listening: the same folder can be served again at once.
    with MailServices(tmp_path / "M", "127.0.0.1", 0, 0, 0, tls=False) as again:
        assert again.smtp_port > 0


def test_a_failed_delivery_is_451_and_the_server_goes_on(tmp_path: Path) -> None:
    with MailServices(tmp_path / "M", "127.0.0.1", 0, 0, 0, tls=False, imap=False) as mail:
        tmp = tmp_path / "M" / "tmp"
        tmp.rmdir()
        tmp.write_bytes(b"")  # the Maildir cannot be written any more
        with smtplib.SMTP("127.0.0.1", mail.smtp_port, timeout=5) as smtp:
            with pytest.raises(smtplib.SMTPDataError) as info:
                smtp.sendmail("a@b", ["c@d"], b"Subject: x\r\n\r\nx\r\n")
            assert info.value.smtp_code == 451
            tmp.unlink()
            tmp.mkdir()
            smtp.sendmail("a@b", ["c@d"], b"Subject: y\r\n\r\ny\r\n")
        assert [mail.store.read(k) for k in [m.key for m in mail.store.messages()]] == [
            b"Subject: y\r\n\r\ny\r\n"
        ]
