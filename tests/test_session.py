"""session.py: what no other test pins down about waiting for the server."""

from __future__ import annotations

import asyncio

import pytest

from protoshell.session import Session
from protoshell.target import parse_target

from .integration.scripted_server import ScriptedServer


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
