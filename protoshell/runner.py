"""Runs one connection for the CLI: session + observers + pipe mode.

Owns the asyncio loop and the translation of every failure into one line
and an exit code; whatever was recorded is flushed on every way out.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from contextlib import ExitStack
from typing import TYPE_CHECKING

from .context import Environment
from .session import Session, SessionError
from .status import ExitStatus, exit_for
from .target import Target
from .user_input import InputLineTooLong

if TYPE_CHECKING:
    from .render.console import ProtoConsole


def run_connection(target: Target, args: argparse.Namespace, env: Environment) -> int:
    from .render.console import make_console
    from .render.exchange import ExchangeRenderer

    console = make_console(env.stdout, color=env.color(args.no_color))
    session = Session(target, timeout=args.timeout, insecure=args.insecure, cafile=args.cafile)
    session.subscribe(ExchangeRenderer(console, max_lines=args.max_lines, hex_view=args.hex))
    reconnected = None
    recorder = None
    with ExitStack() as stack:
        if args.save_body:
            from .save_body import BodySaver

            try:
                open(args.save_body, "wb").close()
            except OSError as exc:
                env.error(f"cannot write --save-body file {args.save_body!r}: {exc.strerror}")
                return ExitStatus.USAGE
            saver = BodySaver(args.save_body)
            stack.callback(saver.close)
            session.subscribe(saver)
        if args.record:
            from .recorder import Recorder

            try:
                recorder = Recorder.open(args.record, target, redact=not args.no_redact)
            except OSError as exc:
                env.error(f"cannot write --record file {args.record!r}: {exc.strerror}")
                return ExitStatus.USAGE
            if args.loose_volatile:
                from .replay.volatile import loosen_file

                def loosen(recorder: Recorder = recorder, path: str = args.record) -> None:
                    if recorder.error is None:  # a recording cut short stays as it is
                        try:
                            loosen_file(path)
                        except OSError as exc:
                            recorder.error = f"cannot write the recording {path!r}: {exc.strerror}"

                # ExitStack runs callbacks last-in first-out: close, then loosen.
                stack.callback(loosen)
            stack.callback(recorder.close, hangup=True)
            session.subscribe(recorder)
            reconnected = recorder.reconnected
        status = asyncio.run(_run(session, env, console, reconnected))
    if recorder is not None and recorder.error is not None and not recorder.error_raised:
        env.error(recorder.error)  # the file's last lines could not be written
        return status or ExitStatus.USAGE
    return status


async def _run(
    session: Session, env: Environment, console: ProtoConsole, reconnected: Callable[[], None] | None
) -> int:
    from .pipe_mode import run_pipe
    from .render.console import OutputClosed

    try:
        await session.open()
        return await run_pipe(session, env.stdin, reconnected)
    except SessionError as exc:
        if console.output_closed:
            return ExitStatus.OK  # `protoshell ... | head`: the reader has seen enough
        env.error(str(exc))
        return exit_for(exc.kind)
    except InputLineTooLong as exc:
        env.error(str(exc))
        return ExitStatus.USAGE
    except OutputClosed:
        return ExitStatus.OK
    finally:
        await session.close()
