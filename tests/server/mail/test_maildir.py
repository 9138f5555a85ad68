"""The shared Maildir store (protoshell/server/mail/maildir.py) and the
certificate helper (certs.py), without any server."""

from __future__ import annotations

import mailbox
import os
import ssl
import time
from pathlib import Path

import pytest

from protoshell.server.mail.certs import (
    CertError,
    data_dir,
    default_maildir,
    ensure_certificate,
    server_context,
)
from protoshell.server.mail.maildir import MaildirStore
from tests.integration.servers import require_binary


def test_delivery_is_tmp_then_new_and_byte_exact(tmp_path: Path) -> None:
    store = MaildirStore(tmp_path / "M")
    data = b"Subject: x\r\n\r\n.dot\r\nbare\nlf\r\n\x00\xff"
    key = store.deliver(data)
    assert (tmp_path / "M" / "new" / key).read_bytes() == data
    assert list((tmp_path / "M" / "tmp").iterdir()) == []
    assert store.read(key) == data
    # Another Maildir reader sees the same message.
    box = mailbox.Maildir(str(tmp_path / "M"), factory=None, create=False)
    assert box.get_bytes(key) == data


def test_an_empty_folder_made_by_hand_becomes_a_maildir(tmp_path: Path) -> None:
    (tmp_path / "M").mkdir()
    store = MaildirStore(tmp_path / "M")
    store.deliver(b"a\r\n")
    assert len(store) == 1
    for sub in ("new", "cur", "tmp"):
        assert (tmp_path / "M" / sub).is_dir()


def test_order_is_delivery_order_and_stable(tmp_path: Path) -> None:
    store = MaildirStore(tmp_path / "M")
    keys = [store.deliver(f"Subject: {n}\r\n\r\n".encode()) for n in range(30)]
    # The kernel's file times are coarse: give them all the same one.
    base = time.time_ns()
    for key in keys:
        os.utime(tmp_path / "M" / "new" / key, ns=(base, base))
    assert store.keys() == keys
    assert store.keys() == keys
    # Names that are not in the usual form go by file time.
    (tmp_path / "M" / "new" / "zzz-old").write_bytes(b"x\r\n")
    os.utime(tmp_path / "M" / "new" / "zzz-old", ns=(10**9, 10**9))
    assert store.keys() == ["zzz-old", *keys]


def test_flags_and_cur_as_imap_leaves_them(tmp_path: Path) -> None:
    store = MaildirStore(tmp_path / "M")
    key = store.deliver(b"Subject: seen\r\n\r\nbody\r\n")
    assert [m.key for m in store.messages()] == [key]
    # An IMAP session moves it to cur/ and sets \Seen: still the same message.
    os.rename(tmp_path / "M" / "new" / key, tmp_path / "M" / "cur" / f"{key}:2,S")
    assert store.read(key) == b"Subject: seen\r\n\r\nbody\r\n"
    os.rename(tmp_path / "M" / "cur" / f"{key}:2,S", tmp_path / "M" / "cur" / f"{key}:2,RS")
    assert store.delete(key)
    assert len(store) == 0


def test_sizes_are_as_pop3_sends_them(tmp_path: Path) -> None:
    store = MaildirStore(tmp_path / "M")
    store.deliver(b"a\r\nb\r\n")
    (tmp_path / "M" / "new" / "lf-file").write_bytes(b"a\nb\n")
    (tmp_path / "M" / "new" / ".hidden").write_bytes(b"not a message")
    sizes = {m.key: (m.size, m.wire_size) for m in store.messages()}
    assert sizes["lf-file"] == (4, 6)
    assert len(sizes) == 2


def test_delete_and_missing_messages(tmp_path: Path) -> None:
    store = MaildirStore(tmp_path / "M")
    key = store.deliver(b"x\r\n")
    store.messages()
    (tmp_path / "M" / "new" / key).unlink()  # removed by someone else
    assert store.delete(key)  # gone either way
    with pytest.raises(KeyError):
        store.read(key)
    with pytest.raises(KeyError):
        store.open("no-such-key")


def test_delivery_error_leaves_nothing(tmp_path: Path) -> None:
    store = MaildirStore(tmp_path / "M")
    (tmp_path / "M" / "tmp").rmdir()
    (tmp_path / "M" / "tmp").write_bytes(b"")  # not a folder: writes fail, even as root
    with pytest.raises(OSError):
        store.deliver(b"x\r\n")
    assert len(store) == 0


# -- certificates --------------------------------------------------------------------------------


def test_data_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert data_dir() == tmp_path / "protoshell"
    assert default_maildir() == tmp_path / "protoshell" / "Maildir"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_dir() == tmp_path / "home" / ".local" / "share" / "protoshell"


def test_without_openssl_the_error_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(
        CertError, match=r"openssl command is not installed.*--cert FILE --key FILE"
    ):
        ensure_certificate(tmp_path / "tls")


def test_made_once_then_reused_and_trusted_strictly(tmp_path: Path) -> None:
    require_binary("openssl")  # skips locally, fails under CI=true
    cert, key, made = ensure_certificate(tmp_path / "tls")
    assert made and oct(key.stat().st_mode & 0o777) == "0o600"
    assert ensure_certificate(tmp_path / "tls") == (cert, key, False)
    server = server_context(cert, key)
    client = ssl.create_default_context(cafile=str(cert))
    client.verify_flags |= ssl.VERIFY_X509_STRICT
    # A TLS handshake in memory: the client trusts the self-signed certificate.
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    c = client.wrap_bio(c_in, c_out, server_hostname="localhost")
    s = server.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):
        for side in (c, s):
            try:
                side.do_handshake()
            except ssl.SSLWantReadError:
                pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
    assert c.version() is not None and s.version() is not None


def test_server_context_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(CertError, match="no such file"):
        server_context(tmp_path / "nope.pem", tmp_path / "nope.pem")
    (tmp_path / "bad.pem").write_text("not a certificate\n")
    with pytest.raises(CertError, match="cannot load the certificate"):
        server_context(tmp_path / "bad.pem", tmp_path / "bad.pem")
