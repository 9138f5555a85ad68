"""control.py without sockets: argument errors of ``protoshell serve`` and
the bundled root.  (Serving for real is in tests/integration.)"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from protoshell.server.control import EmbeddedServer, default_root, serve_main, url_for


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--port", "abc"], "invalid int value"),
        (["--port", "70000"], "--port must be 0..65535"),
        (["--port", "-1"], "--port must be 0..65535"),
        (["--timeout", "0"], "--timeout must be more than 0"),
        (["--timeout", "nan"], "--timeout must be more than 0"),
        (["--root", "/no/such/dir"], "not a directory"),
        (["--bogus"], "unrecognized arguments"),
        (["extra"], "unrecognized arguments"),
    ],
)
def test_bad_arguments_one_line_exit_2(argv: list[str], words: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert serve_main(argv, stdout=out, stderr=err) == 2
    assert err.getvalue().count("\n") == 1
    assert words in err.getvalue()
    assert err.getvalue().startswith("protoshell serve: ")
    assert out.getvalue() == ""


def test_root_that_is_a_file(tmp_path: Path) -> None:
    f = tmp_path / "f.txt"
    f.write_text("x")
    err = io.StringIO()
    assert serve_main(["--root", str(f)], stderr=err) == 2
    assert "not a directory" in err.getvalue()


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert serve_main(["--help"]) == 0
    text = capsys.readouterr().out
    for option in ("--root", "--port", "--bind", "--timeout"):
        assert option in text


def test_default_root_is_the_bundled_site() -> None:
    root = default_root()
    assert (root / "README.txt").is_file()
    assert (root / "images" / "waves.png").is_file()


def test_url_for() -> None:
    assert url_for("127.0.0.1", 8080) == "http://127.0.0.1:8080/"
    assert url_for("::1", 8080) == "http://[::1]:8080/"


def test_embedded_server_checks_before_starting(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError):
        EmbeddedServer(tmp_path / "nope").start()
    with pytest.raises(ValueError):
        EmbeddedServer(tmp_path, timeout=0).start()
    with pytest.raises(RuntimeError, match="start"):
        _ = EmbeddedServer(tmp_path).url
