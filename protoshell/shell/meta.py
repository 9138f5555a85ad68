"""Meta-commands: a registry of small functions, one per ``:name``.

As in aiosmtpd, a command's usage and help text sit beside its code, so
``:help``, completion and dispatch read one table.  Each function takes the
``Shell`` (runtime.py) and the argument text; it prints with ``shell.say`` /
``note`` / ``warn`` and raises ``SessionError`` for connection trouble, which
``dispatch`` reports in one line.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..auth import AuthDialogue, AuthError, auth_dialogue
from ..proto.vocab import Vocabulary
from ..session import STARTTLS_DIALOGUE
from ..transcript.escape import unescape_line
from . import describe
from .completer import PATH_ARG, MetaSpec
from .input_modes import pipeline_note, pipeline_refusal

if TYPE_CHECKING:
    from .runtime import Shell

MetaFn = Callable[["Shell", str], Awaitable[None]]


@dataclass(frozen=True)
class MetaCommand:
    name: str
    usage: str
    summary: str
    fn: MetaFn
    args: tuple[str, ...] = ()
    keep_spaces: bool = False  # the argument is data: pass it untrimmed


REGISTRY: dict[str, MetaCommand] = {}
ALIASES: dict[str, str] = {"q": "quit", "exit": "quit", "?": "help", "h": "help"}
ON_OFF = ("on", "off")


def meta(
    name: str, usage: str, summary: str, args: tuple[str, ...] = (), *, keep_spaces: bool = False
) -> Callable[[MetaFn], MetaFn]:
    def register(fn: MetaFn) -> MetaFn:
        if name in REGISTRY:
            raise ValueError(f"duplicate meta-command :{name}")
        REGISTRY[name] = MetaCommand(name, usage, summary, fn, args, keep_spaces)
        return fn

    return register


def specs() -> dict[str, MetaSpec]:
    """For completion."""
    return {name: MetaSpec(c.summary, c.args) for name, c in REGISTRY.items()}


def usages() -> dict[str, tuple[str, str]]:
    """For :help."""
    return {name: (c.usage, c.summary) for name, c in REGISTRY.items()}


async def dispatch(shell: Shell, name: str, arg: str) -> None:
    cmd = REGISTRY.get(ALIASES.get(name, name))
    if cmd is None:
        shell.warn(f"unknown meta-command :{name} (:help lists them; '::text' sends ':text')")
        return
    # A SessionError goes up to the shell's loop, which prints it and remembers
    # it, so that the report of the closed connection does not say it again.
    try:
        await cmd.fn(shell, arg if cmd.keep_spaces else arg.strip())
    except OSError as exc:
        shell.error(f":{cmd.name}: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))


def _switch(arg: str, current: bool) -> bool | None:
    """``on``/``off``/nothing (toggle); None for anything else."""
    word = arg.strip().lower()
    if not word:
        return not current
    if word in ("on", "yes", "1"):
        return True
    if word in ("off", "no", "0"):
        return False
    return None


def vocabulary_or_none(protocol: str) -> Vocabulary | None:
    from ..proto import vocabulary_for

    try:
        return vocabulary_for(protocol)
    except (ImportError, AttributeError, ValueError):
        return None


def _vocabulary(shell: Shell) -> Vocabulary | None:
    return vocabulary_or_none(shell.protocol)


# ------------------------------------------------------------------ knowing


@meta("help", ":help [COMMAND]", "commands of this protocol, or one command in detail")
async def _help(shell: Shell, arg: str) -> None:
    shell.say(*describe.help_text(_vocabulary(shell), usages(), arg))


@meta("explain", ":explain [CODE]", "what a reply code or status means (default: the last one)")
async def _explain(shell: Shell, arg: str) -> None:
    code = arg or describe.last_status(shell.session.last_response if shell.session else []) or ""
    if not code:
        shell.warn("usage: :explain CODE (no response yet to explain)")
        return
    shell.say(*describe.explain(_vocabulary(shell), shell.protocol, code))


@meta("last", ":last", "the last response, parsed: status, headers, size")
async def _last(shell: Shell, arg: str) -> None:
    session = shell.session
    if session is None:
        shell.say(*describe.last_summary([], None))
        return
    shell.say(
        *describe.last_summary(
            session.last_response,
            session.last_rtt,
            session.last_payload_size,
            (session.last_left_out, session.last_left_out_octets),
        )
    )


# ------------------------------------------------------------------ security


@meta("starttls", ":starttls", "upgrade this connection to TLS (STARTTLS / STLS)")
async def _starttls(shell: Shell, arg: str) -> None:
    session = shell._require_session()
    if session.tls is not None:
        shell.warn(f"already encrypted: {session.tls.summary()}")
        return
    if shell.protocol not in STARTTLS_DIALOGUE:
        shell.warn(f"{shell.protocol.upper()} has no STARTTLS; connect with https:// instead")
        return
    await shell.ui.wait(session.starttls())


@meta(
    "auth",
    ":auth plain|login USER",
    "log in with SASL; asks the password without echo",
    ("plain", "login"),
)
async def _auth(shell: Shell, arg: str) -> None:
    words = arg.split()
    if len(words) != 2:
        shell.warn("usage: :auth plain|login USER")
        return
    mechanism, user = words
    offered = getattr(shell.framer, "auth_mechanisms", ())
    if shell.protocol == "smtp" and getattr(shell.framer, "ehlo_keywords", None) and not offered:
        # RFC 4954 3: AUTH is an EHLO extension; unoffered, the answer is 503
        # (Postfix and most servers offer it only once TLS is on).
        on_tls = shell.session is not None and shell.session.tls is not None
        tls = "" if on_tls else "; many servers offer it only after :starttls (and EHLO again)"
        shell.warn(f"this server's EHLO offered no AUTH{tls}; nothing sent (type AUTH ... to try anyway)")
        return
    if offered and mechanism.upper() not in offered:
        shell.warn(f"the server offers {' '.join(offered)}, not {mechanism.upper()}; trying anyway")
    try:
        auth_dialogue(shell.protocol, mechanism, user, "")
    except AuthError as exc:
        shell.warn(str(exc))
        return
    password = await shell.ui.ask_password(f"password for {user}: ")
    if password is None:
        shell.note("authentication abandoned")
        return
    dialogue = auth_dialogue(shell.protocol, mechanism, user, password)
    redact = not getattr(shell.args, "no_redact", False)
    recorder = shell.recorder
    # Recorded as ":auth MECHANISM USER" (replay --set password=... runs it
    # again); with --no-redact, as the lines themselves.
    with recorder.as_meta("auth", mechanism, user) if recorder and redact else nullcontext():
        await _auth_dialogue(shell, dialogue, user, redact)


async def _auth_dialogue(shell: Shell, dialogue: AuthDialogue, user: str, redact: bool) -> None:
    await shell.send_line(dialogue.command)
    if not await shell.wait():
        return
    for i, response in enumerate(dialogue.responses):
        if shell.closed or shell.last_end is None or shell.last_end.outcome != "continue":
            return  # the server said no (or already yes) before we were done
        shown = None
        if redact and dialogue.is_secret(i):
            shown = (
                f"<redacted> ({len(response)} octets of base64: {dialogue.mechanism} for {user})"
            )
        await shell.send_line(response, secret=shown)
        if not await shell.wait():
            return


# ------------------------------------------------------------------ sending


@meta(
    "raw",
    ":raw TEXT",
    "send TEXT byte for byte; escapes \\r \\n \\t \\\\ \\xHH, no CRLF added",
    keep_spaces=True,
)
async def _raw(shell: Shell, arg: str) -> None:
    if not arg:
        shell.warn("usage: :raw TEXT (e.g. :raw NOOP\\r\\n, :raw \\r\\n.\\r\\n)")
        return
    from .runtime import substitute_known

    try:
        data = unescape_line(substitute_known(arg, shell.variables))
    except ValueError as exc:
        shell.warn(f":raw: {exc}")
        return
    await shell.send_raw(data)
    await shell.wait()


@meta(
    "send-file",
    ":send-file PATH",
    "a file as the message (SMTP DATA), literal (IMAP) or next HTTP body",
    (PATH_ARG,),
)
async def _send_file(shell: Shell, arg: str) -> None:
    if not arg:
        shell.warn("usage: :send-file PATH")
        return
    data = await asyncio.to_thread(Path(os.path.expanduser(arg)).read_bytes)
    if shell.protocol == "http":
        shell.http_body, shell.http_body_name = data, arg
        shell.note(
            f"the next request carries {arg} ({len(data)} octets) as its body; Content-Length is added"
        )
        return
    if shell.literal_left is not None:
        want = shell.literal_left
        if want != len(data):
            shell.warn(
                f"{arg} has {len(data)} octets but the literal needs {want} more; "
                f"announce {{{len(data)}}} instead"
            )
            return
        await shell.send_literal_data(data)
        shell.note("literal sent; type the rest of the command line (often just Enter)")
        return
    if shell.protocol == "smtp":
        if not getattr(shell.framer, "in_data", False):
            shell.warn(
                "type DATA first: after 354 the file is sent as the message, dot-stuffed, and ended with '.'"
            )
            return
        for line in data.splitlines():
            await shell.send_line(line)
        await shell.send_line(b".")
        await shell.wait()
        return
    shell.warn(
        f"{shell.protocol.upper()} takes no file here (IMAP: announce a literal {{n}} first)"
    )


@meta(
    "pipeline",
    ":pipeline [on|off]",
    "queue commands; an empty line or :go sends them at once",
    ON_OFF,
)
async def _pipeline(shell: Shell, arg: str) -> None:
    on = _switch(arg, shell.queue is not None)
    if on is None:
        shell.warn("usage: :pipeline [on|off]")
        return
    if not on:
        if shell.queue:
            await shell.flush_queue()
        shell.queue = None
        shell.note("pipeline off: each command waits for its response")
        return
    refusal = pipeline_refusal(shell.protocol, shell.framer)
    if refusal is not None:
        shell.warn(refusal)
        return
    shell.queue = []
    shell.note(
        f"pipeline on: lines are queued; an empty line or :go sends them. {pipeline_note(shell.protocol)}"
    )


@meta("go", ":go", "send the queued pipeline now")
async def _go(shell: Shell, arg: str) -> None:
    if shell.queue is None:
        shell.warn("the pipeline is off (:pipeline turns it on)")
        return
    await shell.flush_queue()


# ------------------------------------------------------------------ showing


@meta("hex", ":hex [on|off]", "show raw bytes with CR/LF visible, and a hex dump", ON_OFF)
async def _hex(shell: Shell, arg: str) -> None:
    on = _switch(arg, shell.renderer.hex_view)
    if on is None:
        shell.warn("usage: :hex [on|off]")
        return
    shell.renderer.hex_view = on
    shell.note(f"hex view {'on' if on else 'off'}")


@meta("timing", ":timing [on|off]", "print the round-trip time after each response", ON_OFF)
async def _timing(shell: Shell, arg: str) -> None:
    on = _switch(arg, shell.timing)
    if on is None:
        shell.warn("usage: :timing [on|off]")
        return
    shell.timing = on
    rtt = shell.session.last_rtt if shell.session else None
    last = f" (last: {rtt * 1000:.1f} ms)" if on and rtt is not None else ""
    shell.note(f"timing {'on' if on else 'off'}{last}")


@meta(
    "record", ":record FILE", "write this session from now on to FILE as a transcript", (PATH_ARG,)
)
async def _record(shell: Shell, arg: str) -> None:
    if not arg:
        shell.warn(
            f"usage: :record FILE{' (recording to ' + shell.record_path + ')' if shell.record_path else ''}"
        )
        return
    shell.start_recording(os.path.expanduser(arg))
    redacted = (
        "" if getattr(shell.args, "no_redact", False) else "; passwords are written as <redacted>"
    )
    shell.note(f"recording to {arg}{redacted} (:stop ends it)")


@meta("stop", ":stop", "stop recording")
async def _stop(shell: Shell, arg: str) -> None:
    path = shell.stop_recording()
    shell.note(f"recording saved to {path}" if path else "not recording")


@meta("save-body", ":save-body [FILE|off]", "stream the next body, literal or POP3 message (RETR, TOP) to FILE", (PATH_ARG,))
async def _save_body(shell: Shell, arg: str) -> None:
    if not arg or arg.lower() == "off":
        path = shell.stop_saving()
        shell.note(f"no longer saving bodies (last file: {path})" if path else "not saving bodies")
        return
    if shell.protocol == "smtp":
        # An SMTP server's replies are lines, never a body (RFC 5321 4.2): the
        # flag would wait for ever, and the message text is the user's own.
        shell.warn("SMTP replies carry no body to save: :save-body is for HTTP bodies, IMAP literals and POP3 RETR/TOP")
        return
    shell.start_saving(os.path.expanduser(arg))
    shell.note(f"the next body or literal goes to {arg}")


# ------------------------------------------------------------------ variables


@meta(
    "set",
    ":set NAME VALUE",
    "set a variable; $NAME in a line you send is replaced",
    keep_spaces=True,
)
async def _set(shell: Shell, arg: str) -> None:
    name, _, value = arg.lstrip().partition(" ")
    if not name or not name.replace("_", "a").isalnum() or name[0].isdigit():
        shell.warn("usage: :set NAME VALUE (NAME: letters, digits, _)")
        return
    shell.set_variable(name, value)
    shell.note(f"${name} = {shell.variables[name]}")


@meta("vars", ":vars", "list the variables")
async def _vars(shell: Shell, arg: str) -> None:
    if not shell.variables:
        shell.note("no variables (:set NAME VALUE)")
        return
    shell.say(*(f"${k} = {v}" for k, v in sorted(shell.variables.items())))


# ------------------------------------------------------------------ session


@meta("reconnect", ":reconnect", "close this connection and connect again")
async def _reconnect(shell: Shell, arg: str) -> None:
    await shell.reconnect()


@meta("quit", ":quit", "leave (Ctrl-D too)")
async def _quit(shell: Shell, arg: str) -> None:
    shell.quit_requested = True
