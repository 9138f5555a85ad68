"""The replay's meta-commands: ``:set``, ``:sleep``, ``:raw``, ``:starttls`` and
``:auth plain|login USER`` (the password from ``$password``), performed on
the engine's session as the shell performs them.  Split out of
``engine.py`` so that each module holds one job; ``validate.check_transcript``
has refused bad ones before any connection.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from ..auth import auth_dialogue
from ..session import Session, SessionError
from ..transcript.escape import REDACTED, escape_line, unescape_line
from ..transcript.model import Meta
from ..transcript.variables import RedactedLineError, VariableError, substitute_bytes
from .checker import ActualLine
from .results import ReplayEvent
from .validate import PASSWORD_VARIABLE

if TYPE_CHECKING:
    from .engine import Engine, Item

__all__ = ["run"]


async def run(engine: Engine, step: Meta) -> None:
    """Perform one meta-command step of the transcript."""
    name = step.command
    if name == "set":
        var, _, value = step.argtext.partition(" ")
        engine.variables[var] = escape_line(value.encode("utf-8", "surrogateescape"))
        engine._report(ReplayEvent("captured", step.lineno, engine.variables[var], name=var))
        return
    if name == "sleep":
        engine._flush()
        await asyncio.sleep(float(step.args[0]))
        return
    session = await engine._session(step.lineno)
    if engine._reading or name in ("starttls", "auth"):
        await engine._finish_turn(step.lineno)
    if name == "raw":
        try:
            data = substitute_bytes(step.argtext + "\\c", engine.variables)
        except (VariableError, RedactedLineError, ValueError) as exc:
            engine._mismatch(step.lineno, f":raw {step.argtext}", "(not sent)", f"cannot send: {exc}")
            return
        await engine._send(step.lineno, f":raw {step.argtext}", data)
        return
    if name == "starttls":
        try:
            await session.starttls()
        except SessionError as exc:
            if exc.kind not in ("starttls", "closed", "usage"):
                raise
            engine._mismatch(step.lineno, ":starttls", engine._actual_text(_last_line(engine)), str(exc))
            return
        engine._queue.clear()  # the meta-command's own dialogue, already shown
        engine.checked += 1
        engine._report(ReplayEvent("matched", step.lineno, "TLS"))
        return
    if name == "auth":
        await _auth(engine, step, session)


def _last_line(engine: Engine) -> Item | None:
    for item in reversed(engine._queue):
        if isinstance(item, ActualLine):
            return item
    return None


async def _auth(engine: Engine, step: Meta, session: Session) -> None:
    """``:auth plain|login USER`` as the shell does it (protoshell.auth):
    the command, then one response per continuation."""
    password = unescape_line(engine.variables[PASSWORD_VARIABLE]).decode("utf-8", "surrogateescape")
    dialogue = auth_dialogue(engine.protocol, step.args[0], step.args[1], password)
    engine._last_end = None
    await engine._send(step.lineno, dialogue.command.decode(), dialogue.command + b"\r\n")
    await session.wait_turn()
    for i, response in enumerate(dialogue.responses):
        if session.closed or engine._last_end is None or engine._last_end.outcome != "continue":
            break
        if dialogue.is_secret(i):
            engine._shown[response + b"\r\n"] = f"{REDACTED}".encode() + b"\r\n"
        engine._last_end = None
        await engine._send(step.lineno, REDACTED if dialogue.is_secret(i) else response.decode(), response + b"\r\n")
        await session.wait_turn()
    end = engine._last_end
    last = _last_line(engine)
    engine._queue.clear()
    if end is None or end.outcome != "ok":
        engine._mismatch(
            step.lineno,
            f":auth {' '.join(step.args)}",
            engine._actual_text(last),
            "the server did not accept the authentication",
        )
        return
    engine.checked += 1
    engine._report(ReplayEvent("matched", step.lineno, engine._actual_text(last)))
