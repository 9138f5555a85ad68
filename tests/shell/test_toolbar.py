"""The bottom toolbar's text."""

from __future__ import annotations

from protoshell.proto.imap import ImapFramer
from protoshell.proto.smtp import SmtpFramer
from protoshell.shell.toolbar import ToolbarInfo, framer_state, human_bytes, toolbar_fragments
from protoshell.transport import TlsInfo


def text(info: ToolbarInfo) -> str:
    return "".join(t for _, t, *_ in toolbar_fragments(info))


def test_plaintext_connection() -> None:
    info = ToolbarInfo("smtp://127.0.0.1:2525", "smtp", None, "command", 120, 42, 0.0031)
    assert (
        text(info)
        == " smtp://127.0.0.1:2525  SMTP  plaintext  command  in 120 B · out 42 B · rtt 3.1 ms "
    )


def test_tls_and_flags() -> None:
    tls = TlsInfo(
        "TLSv1.3", "TLS_AES_256_GCM_SHA384", "CN=x", "CN=ca", "Jan 1 2030", verified=False
    )
    info = ToolbarInfo(
        "imaps://h:993", "imap", tls, "selected", 2_000_000, 10, None, ("hex", "rec s.txt")
    )
    got = text(info)
    assert "TLSv1.3 TLS_AES_256_GCM_SHA384 NOT verified" in got
    assert "in 1.9 MiB" in got and "rtt -" in got and " hex " in got and " rec s.txt " in got
    styles = [s for s, *_ in toolbar_fragments(info)]
    assert "class:toolbar.insecure" in styles


def test_closed() -> None:
    info = ToolbarInfo("pop3://h:110", "pop3", None, "-", 0, 0, None, closed=True)
    assert "closed: :reconnect or :quit" in text(info)


def test_framer_state_smtp() -> None:
    framer = SmtpFramer()
    assert framer_state(framer) == "greeting awaiting 1"
    framer.receive_data(b"220 hi\r\n")
    for _ in range(3):
        framer.next_event()
    framer.send(b"DATA")
    framer.receive_data(b"354 go\r\n")
    for _ in range(3):
        framer.next_event()
    assert framer_state(framer) == "data"


def test_framer_state_imap_selected_and_idle() -> None:
    framer = ImapFramer()
    framer.receive_data(b"* PREAUTH hi\r\n")
    for _ in range(3):
        framer.next_event()
    framer.send(b"SELECT INBOX")
    framer.receive_data(b"* 2 EXISTS\r\nA0001 OK [READ-WRITE] done\r\n")
    for _ in range(5):
        framer.next_event()
    assert framer_state(framer) == "selected [INBOX]"
    framer.send(b"IDLE")
    framer.receive_data(b"+ idling\r\n")
    for _ in range(3):
        framer.next_event()
    assert framer_state(framer) == "idle [INBOX]"


def test_framer_state_http() -> None:
    from protoshell.proto.http import HttpClientFramer

    framer = HttpClientFramer()
    assert framer_state(framer) == "ready"
    framer.send(b"POST / HTTP/1.1")
    framer.send(b"Content-Length: 3")
    framer.send(b"")
    assert framer_state(framer) == "ready sending body awaiting 1"


def test_human_bytes() -> None:
    assert human_bytes(1023) == "1023 B"
    assert human_bytes(10_240) == "10.0 KiB"
    assert human_bytes(5 << 30) == "5.0 GiB"


def test_narrow_terminal_keeps_the_hint() -> None:
    """At 60 columns the terminal cut the toolbar's right end, where the hint
    that an empty line sends the request is: a newcomer saw only the URL."""
    info = ToolbarInfo(
        "http://127.0.0.1:45027", "http", None, "ready", 2355, 41, 0.0073,
        ("an empty line sends the request",),
    )
    got = "".join(t for _, t, *_ in toolbar_fragments(info, width=60))
    assert len(got) <= 60
    assert "an empty line sends the request" in got and "ready" in got
    assert text(info).startswith(" http://127.0.0.1:45027 ")  # wide: all of it


def test_narrow_terminal_keeps_not_verified() -> None:
    tls = TlsInfo(
        "TLSv1.3", "TLS_AES_256_GCM_SHA384", "CN=x", "CN=ca", "Jan 1 2030", verified=False
    )
    info = ToolbarInfo("imaps://h:993", "imap", tls, "selected", 10, 10, None, ("rec s.txt",))
    got = "".join(t for _, t, *_ in toolbar_fragments(info, width=60))
    assert len(got) <= 60
    assert "TLSv1.3 NOT verified" in got and "rec s.txt" in got and "selected" in got
