"""The real shell against the embedded HTTP server: the multi-line request buffer."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from protoshell.server.control import EmbeddedServer

from .driver import running_shell

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def web(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "web"
    (root / "sub").mkdir(parents=True)
    (root / "hello.txt").write_text("hello from the lab\n")
    (root / "sub" / "page.html").write_text("<p>hi</p>\n")
    with EmbeddedServer(root) as server:
        yield f"http://127.0.0.1:{server.port}"


def test_request_is_edited_over_lines_and_completed(web: str) -> None:
    with running_shell(web, banner="try: GET / HTTP/1.1") as sh:
        sh.expect(r"^# try: GET / HTTP/1\.1$")
        sh.line("GET /hello.txt HTTP/1.1")
        sh.line("Accept: text/plain")
        time.sleep(0.2)
        assert "C: GET" not in sh.text  # nothing sent before the empty line
        sh.line("")
        port = web.rsplit(":", 1)[1]
        sh.expect(r"^C: GET /hello\.txt HTTP/1\.1$")
        sh.expect(rf"^C: Host: 127\.0\.0\.1:{port}$")  # added, and shown
        sh.expect(r"^C: Accept: text/plain$")
        sh.expect(r"^S: HTTP/1\.1 200 OK$")
        sh.expect(r"^S: hello from the lab$")
        sh.line(":last")
        sh.expect(r"^status: HTTP 200 \(ok\)$")
        sh.expect(r"^  Content-Type: +text/plain")
        # The body's 19 octets count (they stream, and :last said "payload: 0 octets").
        sh.expect(r"^lines: \d+; payload: 19 octets; on the wire: \d+ octets$")
        sh.line(":quit")
        assert sh.wait_exit() == 0


def test_paths_from_the_listing_complete(web: str) -> None:
    with running_shell(web) as sh:
        sh.line("GET / HTTP/1.1")
        sh.line("")
        sh.expect(r"^S: HTTP/1\.1 200 OK$")
        sh.expect(r"</html>")
        sh.type("GET /he\t")
        time.sleep(0.3)
        sh.line(" HTTP/1.1")
        sh.line("")
        sh.expect(r"^C: GET /hello\.txt HTTP/1\.1$")
        sh.expect(r"^S: hello from the lab$")
        sh.line(":quit")
        assert sh.wait_exit() == 0


def test_typed_body_and_file_body_get_content_length(web: str, tmp_path: Path) -> None:
    body = tmp_path / "form.txt"
    body.write_bytes(b"a=1&b=2")
    with running_shell(web) as sh:
        sh.line("POST /hello.txt HTTP/1.1")
        sh.line("Content-Length: 5")
        sh.line("")
        sh.line("hello")  # the declared 5 octets complete the request
        sh.expect(r"^C: hello$")
        sh.expect(r"^S: HTTP/1\.1 405 ")  # the embedded server only GETs
        sh.line(f":send-file {body}")
        sh.expect(r"the next request carries")
        sh.line("PUT /x HTTP/1.1")
        sh.line("")
        sh.expect(r"^C: Content-Length: 7$")
        sh.expect(r"^C: a=1&b=2$")
        sh.expect(r"^S: HTTP/1\.1 405 ")
        sh.line(":quit")
        assert sh.wait_exit() == 0


def test_closed_connection_reconnects_for_the_next_request(web: str) -> None:
    with running_shell(web) as sh:
        sh.line("GET /hello.txt HTTP/1.0")
        sh.line("")
        sh.expect(r"^S: hello from the lab$")
        sh.expect(r"the next request reconnects")
        sh.line("HEAD /hello.txt HTTP/1.1")
        sh.line("")
        sh.expect(r"reconnecting")
        sh.expect(r"^S: HTTP/1\.1 200 OK$")
        sh.line(":quit")
        assert sh.wait_exit() == 0
        assert len(re.findall(r"^# connected to ", sh.text, re.MULTILINE)) == 2


def test_ctrl_c_at_the_prompt_discards_the_request(web: str) -> None:
    with running_shell(web) as sh:
        sh.line("GET /nothing HTTP/1.1")
        sh.type("\x03")  # Ctrl-C: the buffer is dropped
        sh.line("GET /hello.txt HTTP/1.1")
        sh.line("")
        sh.expect(r"^S: hello from the lab$")
        assert "/nothing" not in sh.text
        sh.type("\x04")
        assert sh.wait_exit() == 0


def test_pipelined_requests_and_record_flag(web: str, tmp_path: Path) -> None:
    record = tmp_path / "http.txt"
    with running_shell(web, "--record", str(record)) as sh:
        sh.line(":pipeline")
        sh.expect(r"request order")
        sh.line("GET /hello.txt HTTP/1.1")
        sh.line("")
        sh.line("GET /sub/page.html HTTP/1.1")
        sh.line("")
        time.sleep(0.2)
        assert "C: GET" not in sh.text  # queued
        sh.line(":go")
        m = sh.expect(r"^S: <p>hi</p>$")
        text = sh.text[: m.end()]
        assert text.index("C: GET /sub/page.html") < text.index("S: HTTP/1.1 200 OK")
        sh.line(":quit")
        assert sh.wait_exit() == 0
    transcript = record.read_text()
    assert "C: GET /hello.txt HTTP/1.1" in transcript
    assert transcript.rstrip().endswith("C: <client hangs up>")
