"""Shows Exchanges as the lecture's ``C:`` / ``S:`` lines.

The renderer is an observer: it consumes Exchanges and prints, nothing else.
Server text is always shown through the transcript escaper, so control
characters and ANSI escapes a server sends are displayed as ``\\x1b`` and
never reach the terminal as commands.  Bodies and literals are shown up to
``max_lines`` lines and then summarised in the lecture's own narration
(``S: <server sends 1425 octets of message payload>``); binary payloads are
only ever summarised.  Bodies sent as lines (a POP3 RETR, TOP or LIST:
``BodyLine`` events), message text the client sends (SMTP after 354:
``Exchange.kind == "message"``), an HTTP request body and the untagged
lines of one IMAP response (``FETCH 1:*``, ``LIST "" *``) are blocks too,
cut by the same rule (``render.cut.LineCut``): the first lines shown, then
one line with the block's size.  Only the screen is cut; recorders and
savers see every line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.console import Console
from rich.text import Text

from ..proto.base import BodyLine, ConnectionClosed, Payload, ResponseEnd, ServerLine, strip_eol
from ..proto.http_client import HttpResponseHead
from ..proto.imap import ImapLine
from ..session import Exchange
from .cut import DEFAULT_MAX_LINES, LineCut
from .safe_text import display_line
from .theme import outcome_style

DISPLAY_LINE_CHARS = 4096  # a payload or body line longer than this is cut on screen
UNTAGGED = "untagged responses"  # what an IMAP response's block of untagged lines is


def _split_wire_lines(raw: bytes) -> list[bytes]:
    """Split sent bytes into lines, keeping terminators (``:raw`` may send several)."""
    lines = raw.splitlines(keepends=True)
    return lines or [raw]


def _prefix(side: str) -> Text:
    """``C: `` or ``S: `` in its side's colour."""
    return Text(f"{side}: ", style="protoshell.prefix.client" if side == "C" else "protoshell.prefix.server")


def hexdump(raw: bytes, width: int = 16) -> list[str]:
    out = []
    for off in range(0, len(raw), width):
        chunk = raw[off : off + width]
        hx = " ".join(f"{b:02x}" for b in chunk)
        asc = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        out.append(f"{off:08x}  {hx:<{width * 3}} {asc}")
    return out


@dataclass
class _PayloadView:
    """Display state of the body or literal being received."""

    total: int | None
    lines: LineCut
    content_type: str = ""
    side: str = "S"  # who sends it: "C" (a proxy shows the client's literals and bodies) or "S"
    received: int = 0
    partial: bytearray = field(default_factory=bytearray)
    binary: bool | None = None
    cut: bool = False
    # A literal inside an IMAP untagged block: ``lines`` is the block's
    # LineCut, which counts every line and octet of it, shown or not, and
    # says what was cut at the block's end (no narration of its own).
    in_block: bool = False
    open_line: bool = False  # the bytes not shown end inside a line

    def count_unshown(self, data: bytes | bytearray) -> None:
        """Bytes not shown: the block still counts their lines and octets
        (a last line without its end counts too, at ``close_count``)."""
        if self.in_block and data:
            self.lines.lines += data.count(b"\n")
            self.lines.octets += len(data)
            self.open_line = not data.endswith(b"\n")

    def close_count(self) -> None:
        if self.in_block and self.open_line:
            self.lines.lines += 1  # shown as a line of its own, had it been shown
            self.open_line = False


def _looks_binary(data: bytes) -> bool:
    if b"\x00" in data:
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character split at the chunk's end is still text.
        return exc.start < len(data) - 3
    return False


class ExchangeRenderer:
    """Observer that prints a session for a person (or a pipe)."""

    def __init__(
        self,
        console: Console,
        *,
        max_lines: int = DEFAULT_MAX_LINES,
        hex_view: bool = False,
        show_notes: bool = True,
    ) -> None:
        self.console = console
        self.max_lines = max_lines
        self.hex_view = hex_view
        self.show_notes = show_notes
        self._payload: _PayloadView | None = None
        # The block of lines being shown (a POP3 body, SMTP message text):
        # its side ("C"/"S"), its counter, and what it is, for the cut line.
        self._block: LineCut | None = None
        self._block_side = ""
        self._block_what = ""
        self._content_type = ""
        # Put before every line: a proxy's connection number ("[2] ") while
        # more than one connection is open.
        self.prefix = ""
        # Into a pipe or file with no colours, lines are written as plain
        # text: rich's layout costs ~50 us a line, which a 2,000-line replay
        # log would feel.  Flushed at every turn end, so a pipe stays live.
        self._plain = bool(console.no_color and not console.is_terminal and not console.record)

    def _print(self, text: Text) -> None:
        if self.prefix:
            # (Text + Text would give the whole line the prefix's style)
            prefixed = Text(end="")
            prefixed.append(self.prefix, style="protoshell.note")
            prefixed.append_text(text)
            text = prefixed
        if self._plain:
            self._write(text.plain + "\n")
        else:
            self.console.print(text, soft_wrap=True)

    def _write(self, data: str) -> None:
        try:
            self.console.file.write(data)
        except BrokenPipeError:
            self.console.on_broken_pipe()

    def _flush(self) -> None:
        if self._plain:
            try:
                self.console.file.flush()
            except BrokenPipeError:
                self.console.on_broken_pipe()

    # The observer entry point.
    def __call__(self, ex: Exchange) -> None:
        event = ex.event
        # What the client sends as content: SMTP message text, an HTTP
        # request body we send whole (pipe mode, :send-file) as line blocks;
        # a proxied client's literal or body arrives as Payload chunks.
        if ex.direction == "C" and ex.kind in ("message", "body") and not isinstance(event, Payload):
            self._end_payload()
            if ex.kind == "message":
                self._block_line("C", ex.raw, "protoshell.client", "message text")
                return
            for line in _split_wire_lines(ex.raw):  # an HTTP request body: one block
                self._block_line("C", line, "protoshell.client", "request body")
            self._end_block()
            return
        if isinstance(event, BodyLine):
            self._block_line("S", ex.raw, "protoshell.data", "message text" if event.message else "")
            return
        if self._untagged(event):
            # RFC 3501 7: the untagged lines of one response (FETCH 1:*,
            # LIST "" *, SEARCH...) are one block; the tagged completion
            # line after them ends it and is always shown.
            assert isinstance(event, ServerLine)
            self._end_payload()  # a literal inside a FETCH line ends here
            style = "protoshell.data" if event.status is None else outcome_style(event.outcome)
            self._block_line("S", ex.raw, style, UNTAGGED)
            return
        if isinstance(event, Payload) and self._block is not None and self._block_what == UNTAGGED:
            self._payload_chunk(event, self._block)  # a literal's lines are the block's lines
            return
        self._end_block()
        if ex.direction == "note":
            self._end_payload()
            if self.show_notes or ex.level != "info":
                style = "protoshell.note" if ex.level == "info" else f"protoshell.note.{ex.level}"
                self._print(Text(f"# {ex.note}", style=style))
                self._flush()
            return
        if ex.direction == "C":
            if isinstance(ex.event, Payload):
                self._payload_chunk(ex.event, side="C")
                return
            self._end_payload()
            for line in _split_wire_lines(ex.raw):
                self._line("C", line, "protoshell.client")
            return
        if isinstance(event, Payload):
            self._payload_chunk(event)
            return
        if isinstance(event, ResponseEnd):
            self._end_payload()
            self._flush()
            return
        if isinstance(event, ConnectionClosed):
            self._end_payload()
            if event.raw:
                self._line("S", event.raw, "protoshell.error")
            self._flush()
            return
        self._end_payload()
        if isinstance(event, ServerLine):
            self._remember_content_type(event)
            self._line("S", ex.raw, outcome_style(event.outcome))
        elif isinstance(event, HttpResponseHead) and event.warnings:
            # What the framer tolerated but a debugger should say: the lab
            # server's bare LF line ends, Content-Length with chunked...
            for warning in event.warnings:
                self._print(Text(f"# warning: {warning}", style="protoshell.note.warning"))
        elif ex.raw:
            for line in _split_wire_lines(ex.raw):
                self._line("S", line, "protoshell.data")

    def _untagged(self, event: object) -> bool:
        """An IMAP untagged line (``* ...``), or what follows a literal in
        one (``continued``) while the untagged block is open."""
        if not isinstance(event, ImapLine):
            return False
        if event.tag == "*":
            return True
        return event.continued and self._block is not None and self._block_what == UNTAGGED

    def _remember_content_type(self, event: ServerLine) -> None:
        name = getattr(event, "name", None)
        if isinstance(name, str) and name.lower() == "content-type":
            self._content_type = str(getattr(event, "value", "")).strip()
        elif event.status is not None and event.status.startswith("HTTP "):
            self._content_type = ""

    def _line(self, side: str, raw: bytes, style: str) -> None:
        if self._plain and not self.hex_view:
            self._write(f"{self.prefix}{side}: {display_line(strip_eol(raw))}\n")
            return
        text = _prefix(side)
        body = strip_eol(raw)
        if self.hex_view:
            visible = display_line(body) + ("\\r\\n" if raw.endswith(b"\r\n") else "\\n" if raw.endswith(b"\n") else "")
            text.append(visible, style=style)
            self._print(text)
            for h in hexdump(raw):
                self._print(Text(f"   {h}", style="protoshell.hex"))
            return
        text.append(display_line(body), style=style)
        self._print(text)

    # -- blocks of lines ----------------------------------------------------
    def _block_line(self, side: str, raw: bytes, style: str, what: str) -> None:
        """One line of a block: shown if among its first ``max_lines``
        (cut at DISPLAY_LINE_CHARS), else only counted."""
        block = self._block
        if block is None or side != self._block_side:
            self._end_block()
            block = self._block = LineCut(self.max_lines)
            self._block_side, self._block_what = side, what
        if not block.admit(len(raw)):
            return
        if len(raw) > DISPLAY_LINE_CHARS and not self.hex_view:
            text = _prefix(side)
            text.append(display_line(raw[:DISPLAY_LINE_CHARS]), style=style)
            text.append(" …", style="protoshell.payload")
            self._print(text)
            return
        self._line(side, raw, style)

    def _end_block(self) -> None:
        block = self._block
        if block is None:
            return
        if self._payload is not None and self._payload.in_block:
            self._end_payload()  # its last line comes before the block's cut line
        self._block = None
        msg = block.narration(self._block_side, self._block_what)
        if msg is not None:
            text = _prefix(self._block_side)
            text.append(msg, style="protoshell.payload")
            self._print(text)

    # -- payloads ---------------------------------------------------------
    def _payload_chunk(self, event: Payload, block: LineCut | None = None, side: str = "S") -> None:
        """A chunk of a body or literal; ``block``: the IMAP untagged block
        the literal sits in, whose line budget it shares; ``side``: "C" for
        a proxied client's literal or body."""
        view = self._payload
        if view is None or event.offset == 0 or view.side != side:
            self._end_payload()
            content_type = self._content_type if side == "S" else ""
            view = self._payload = _PayloadView(
                total=event.total,
                lines=block or LineCut(self.max_lines),
                content_type=content_type,
                side=side,
                cut=block is not None and block.cut,
                in_block=block is not None,
            )
        data = event.raw
        view.received += len(data)
        if view.binary is None and data and not view.cut:
            kind = view.content_type.split(";")[0].strip().lower()
            textual = not kind or kind.startswith(("text/", "message/")) or kind.endswith(("json", "xml", "javascript"))
            view.binary = (not textual) or _looks_binary(data)
        if view.binary or view.cut:
            if view.binary and view.in_block:
                view.lines.octets += len(data)
            elif view.cut:
                view.count_unshown(data)
            return
        view.partial += data
        while True:
            nl = view.partial.find(b"\n")
            if nl < 0:
                if len(view.partial) > DISPLAY_LINE_CHARS:
                    self._payload_line(view, bytes(view.partial[:DISPLAY_LINE_CHARS]), cut=True)
                    # Drop the rest of this overlong line from the display.
                    if view.in_block:
                        view.lines.octets += len(view.partial) - DISPLAY_LINE_CHARS
                    view.partial.clear()
                break
            line = bytes(view.partial[: nl + 1])
            del view.partial[: nl + 1]
            if len(line) > DISPLAY_LINE_CHARS:
                self._payload_line(view, line[:DISPLAY_LINE_CHARS], cut=True)
                if view.in_block:
                    view.lines.octets += len(line) - DISPLAY_LINE_CHARS
            else:
                self._payload_line(view, line)
            if view.cut:
                view.count_unshown(view.partial)
                view.partial.clear()
                break

    def _payload_line(self, view: _PayloadView, line: bytes, cut: bool = False) -> None:
        if not view.lines.admit(len(line)):
            view.cut = True
            return
        text = _prefix(view.side)
        text.append(display_line(strip_eol(line)), style="protoshell.client" if view.side == "C" else "protoshell.data")
        if cut:
            text.append(" …", style="protoshell.payload")
        self._print(text)

    def _end_payload(self) -> None:
        view = self._payload
        if view is None:
            return
        self._payload = None
        if not view.binary and view.partial and not view.cut:
            self._payload_line(view, bytes(view.partial))
        if view.in_block and view.lines.cut:
            view.close_count()
            return  # the block's cut line says it
        kind = view.content_type.split(";")[0].strip() or ("binary" if view.binary else "text")
        who = "client" if view.side == "C" else "server"
        if view.binary:
            msg = f"<{who} sends {view.received} octets of {kind} payload: binary, not shown>"
        elif view.cut:
            msg = f"<{who} sends {view.received} octets of {kind} payload: {view.lines.shown_phrase}>"
        else:
            return
        text = _prefix(view.side)
        text.append(msg, style="protoshell.payload")
        self._print(text)
