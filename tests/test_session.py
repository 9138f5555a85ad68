"""protoshell/session.py: what no other test pins down: waiting for the server, and what
the session says when it cannot go on (the rest is tested through its users: pipe mode,
the shell, replay, the API)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from protoshell.session import Session
from protoshell.target import parse_target

from .integration.scripted_server import ScriptedServer
from .integration.servers import SMTPServer
from .integration.test_pipe_mode import protoshell


def test_ctrl_c_as_the_answer_arrives_is_not_lost() -> None:
    """Ctrl-C (the task's cancellation) in the same turn of the loop as the bytes that end
    the wait: Python 3.11's asyncio.wait_for returned as if nothing had been asked, and
    `printf 'NOOP\\n' | protoshell ...` then Ctrl-C went on, to exit 0, one time in five."""

    async def main() -> None:
        with ScriptedServer([("sleep", 0.5)]) as server:
            session = Session(parse_target(f"smtp://{server.url_host}"), timeout=5)
            await session.open()
            task = asyncio.create_task(session.wait_turn())  # for the greeting
            await asyncio.sleep(0.05)
            session._progress.set()  # what the reader does when bytes come in...
            task.cancel()  # ... and the Ctrl-C, before the loop runs again
            with pytest.raises(asyncio.CancelledError):
                async with asyncio.timeout(3):
                    await task
            await session.close()

    asyncio.run(main())


@pytest.mark.parametrize("smtp_server", ["starttls"], indirect=True)
@pytest.mark.parametrize("how", ["--starttls", "typed"])
def test_an_unreadable_cafile_for_starttls_is_a_usage_error(smtp_server: SMTPServer, tmp_path: Path, how: str) -> None:
    """Exit 2 with one line, as for implicit TLS: it was exit 3 with
    'protoshell: SessionError: cannot load CA file ...' (the error of the
    upgrade taken for an observer's failure)."""
    missing = str(tmp_path / "missing-ca.pem")
    args = [smtp_server.url, "--cafile", missing]
    stdin = b"EHLO me\nSTARTTLS\nNOOP\n"
    if how == "--starttls":
        args, stdin = [*args, "--starttls"], b"NOOP\n"
    r = protoshell(args, stdin)
    err = r.stderr
    assert r.returncode == 2, err
    assert "cannot load CA file" in err and "SessionError" not in err
    assert "Traceback" not in err
