"""What replay, show and demo print: rich renderables fed with plain data.

The replay engine (protoshell/replay/) sits above this layer and knows no
rich; it hands these classes strings and numbers.  Everything a transcript
or a server wrote goes through ``safe_text.display_line`` first, so a
transcript holding raw control characters cannot drive the terminal.

- ``MismatchView``: expected vs actual, side by side, with ``file:line``.
- ``TranscriptView``: a transcript in the shell's colours (``show``), with a
  title and the target above it, for the terminal or for export; a long
  block of content lines is cut at ``max_lines`` by the renderer's rule
  (``render.cut.LineCut``).
- ``ReplayPrinter``: notes, mismatches and the final summary of a replay.
- ``DemoPrinter``: the classroom demo's typed-out lines and phase badges.
- ``export_html`` / ``export_svg``: rich's export with a title.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from rich import box
from rich._export_format import CONSOLE_SVG_FORMAT  # rich.console re-exports it, untyped
from rich.console import Console, ConsoleOptions, RenderResult
from rich.rule import Rule
from rich.table import Table
from rich.terminal_theme import MONOKAI
from rich.text import Text

from .cut import DEFAULT_MAX_LINES, LineCut
from .safe_text import display_line
from .theme import theme

__all__ = [
    "DemoPrinter",
    "MismatchView",
    "ReplayPrinter",
    "Row",
    "TranscriptView",
    "export_html",
    "export_svg",
    "recording_console",
    "safe",
]

NoteLevel = Literal["info", "warning", "error"]


def safe(text: str) -> str:
    """Transcript notation or server text, printable whatever it holds."""
    return display_line(text.encode("utf-8", "surrogateescape"))


def _side_text(line: str, style: str) -> Text:
    """``C: text`` / ``S: text`` with the prefix in its own colour."""
    if line[:3] in ("C: ", "S: ") or line in ("C:", "S:"):
        prefix_style = "protoshell.prefix.client" if line[0] == "C" else "protoshell.prefix.server"
        out = Text(line[:3], style=prefix_style)
        out.append(safe(line[3:]), style=style)
        return out
    return Text(safe(line), style=style)


class MismatchView:
    """Expected and actual side by side, the transcript's ``file:line`` on
    top and the reason below."""

    def __init__(
        self,
        *,
        where: str,
        expected: str,
        actual: str,
        reason: str,
        expected_status: str | None = None,
        actual_status: str | None = None,
    ) -> None:
        self.where = where
        self.expected = expected
        self.actual = actual
        self.reason = reason
        self.expected_status = expected_status
        self.actual_status = actual_status

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        table = Table(
            box=box.SIMPLE_HEAD,
            expand=False,
            show_edge=False,
            pad_edge=False,
            title=Text(f"mismatch at {self.where}", style="protoshell.error"),
            title_justify="left",
        )
        line = self.where.rsplit(":", 1)[-1]
        table.add_column(f"expected (line {line})", overflow="fold", ratio=1)
        table.add_column("actual (the server)", overflow="fold", ratio=1)
        table.add_row(_side_text(self.expected, "protoshell.ok"), _side_text(self.actual, "protoshell.error"))
        if self.expected_status is not None or self.actual_status is not None:
            table.add_row(
                Text(f"status {self.expected_status or '(none)'}", style="protoshell.note"),
                Text(f"status {self.actual_status or '(none)'}", style="protoshell.note"),
            )
        yield table
        yield Text(f"{self.where}: {self.reason}", style="protoshell.error")


@dataclass(frozen=True, slots=True)
class Row:
    """One transcript line to show: ``prefix`` ("C: ", "S: ", "# ", ":" or
    ""), ``text`` after it, ``style`` (a theme name) for the text."""

    lineno: int
    prefix: str
    text: str
    style: str
    aside: str = ""  # a note shown dimmed after the line (a phase)
    # A line of content (a body line, message text), not a status or a
    # command: a run of these on one side is a block, cut at max_lines.
    content: bool = False
    octets: int = 0  # its wire size, terminator included, for the cut line


_PREFIX_STYLES = {
    "C: ": "protoshell.prefix.client",
    "S: ": "protoshell.prefix.server",
    "C:": "protoshell.prefix.client",
    "S:": "protoshell.prefix.server",
}


class TranscriptView:
    """A transcript as the shell shows an exchange, under a title rule and
    the target; line numbers in a gutter when asked (handouts refer to them).
    A run of more than ``max_lines`` content rows on one side shows its
    first ``max_lines`` and then one line saying what was cut, as the shell
    shows a long RETR or DATA."""

    def __init__(
        self,
        rows: Sequence[Row],
        *,
        title: str,
        target: str | None = None,
        line_numbers: bool = False,
        max_lines: int = DEFAULT_MAX_LINES,
    ) -> None:
        self.rows = rows
        self.title = title
        self.target = target
        self.line_numbers = line_numbers
        self.max_lines = max_lines

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield Rule(Text(safe(self.title), style="bold"), style="protoshell.note", align="left")
        if self.target:
            yield Text(f"target: {safe(self.target)}", style="protoshell.note")
        width = len(str(max((r.lineno for r in self.rows), default=0)))
        block: LineCut | None = None
        side = ""
        for row in self.rows:
            row_side = row.prefix[:1]
            if block is not None and not (row.content and row_side == side):
                yield from self._cut_line(block, side, width)
                block = None
            if row.content:
                if block is None:
                    block, side = LineCut(self.max_lines), row_side
                if not block.admit(row.octets):
                    continue
            line = Text()
            if self.line_numbers:
                line.append(f"{row.lineno:>{width}} ", style="protoshell.hex")
            if row.prefix:
                line.append(row.prefix, style=_PREFIX_STYLES.get(row.prefix, row.style))
            line.append(safe(row.text), style=row.style)
            if row.aside:
                line.append(f"   [{row.aside}]", style="protoshell.note")
            yield line
        if block is not None:
            yield from self._cut_line(block, side, width)

    def _cut_line(self, block: LineCut, side: str, width: int) -> RenderResult:
        msg = block.narration(side)
        if msg is None:
            return
        line = Text()
        if self.line_numbers:
            line.append(" " * (width + 1))
        prefix = f"{side}: "
        line.append(prefix, style=_PREFIX_STYLES.get(prefix, "protoshell.payload"))
        line.append(msg, style="protoshell.payload")
        yield line


class ReplayPrinter:
    """The replay's own output, between and after the exchange lines."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def note(self, text: str, level: NoteLevel = "info") -> None:
        style = "protoshell.note" if level == "info" else f"protoshell.note.{level}"
        self.console.print(Text(f"# {safe(text)}", style=style))

    def mismatch(
        self,
        *,
        where: str,
        expected: str,
        actual: str,
        reason: str,
        expected_status: str | None = None,
        actual_status: str | None = None,
    ) -> None:
        self.console.print(
            MismatchView(
                where=where,
                expected=expected,
                actual=actual,
                reason=reason,
                expected_status=expected_status,
                actual_status=actual_status,
            )
        )

    def plain(self, text: str) -> None:
        """One line without colour (the stepper's answers)."""
        self.console.print(Text(safe(text)), soft_wrap=True)

    def summary(self, text: str, *, ok: bool) -> None:
        self.console.print(Text(f"# {safe(text)}", style="protoshell.ok" if ok else "protoshell.error"))


class DemoPrinter:
    """Classroom output: a line typed out character by character, then its
    phase (identify / ask / answer / goodbye) beside it."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def heading(self, title: str, target: str) -> None:
        self.console.print(Rule(Text(safe(title), style="bold"), style="protoshell.note", align="left"))
        self.console.print(Text(f"target: {safe(target)}", style="protoshell.note"))

    def prompt(self, text: str) -> None:
        self.console.print(Text(safe(text), style="protoshell.note"))

    def clear_prompt(self) -> None:
        """Take the key prompt off the screen once answered (a terminal only):
        left there, one per step, it filled half of a 20-row projector."""
        file = self.console.file
        isatty = getattr(file, "isatty", None)
        if isatty is not None and isatty():  # NO_COLOR too: rich then drops control codes
            file.write("\x1b[1A\r\x1b[2K")  # cursor up one line, to its start, erase it (ECMA-48)
            file.flush()

    def begin_line(self) -> None:
        self.console.print(Text("C: ", style="protoshell.prefix.client"), end="")

    def type_chars(self, chars: str) -> None:
        self.console.print(Text(safe(chars), style="protoshell.client"), end="")

    def end_line(self, phase: str | None) -> None:
        if phase:
            self.console.print(Text(f"   [{phase}]", style="protoshell.continue"))
        else:
            self.console.print()

    def comment(self, text: str) -> None:
        # The lesson's prose, wrapped at words and indented under its "# "
        # (the console soft-wraps server lines, which the terminal then cuts
        # anywhere: at a projector's 60 columns "li / sts more").
        body = Text(safe(text), style="protoshell.note")
        width = self.console.width
        if len(text) + 2 <= width:
            self.console.print(Text("# ", style="protoshell.note") + body)
            return
        lines = body.wrap(self.console, max(10, width - 2))
        for line in lines:
            line.rstrip()
            self.console.print(Text("# ", style="protoshell.note") + line)


def recording_console(*, theme_name: str = "default", width: int = 100) -> Console:
    """A console that keeps what is printed, for export (colours always on,
    nothing written anywhere else)."""
    import io

    return Console(
        file=io.StringIO(),
        record=True,
        theme=theme(theme_name),
        force_terminal=True,
        color_system="truecolor",
        width=width,
        highlight=False,
        emoji=False,
        markup=False,
    )


_HTML_FORMAT = """\
<!DOCTYPE html>
<html>
<head>
<meta charset="UTF-8">
<title>{title}</title>
<style>
{{stylesheet}}
body {{{{
    color: {{foreground}};
    background-color: {{background}};
}}}}
</style>
</head>
<body>
    <pre style="font-family:Menlo,'DejaVu Sans Mono',consolas,'Courier New',monospace"><code style="font-family:inherit">{{code}}</code></pre>
</body>
</html>
"""


def export_html(console: Console, path: str, *, title: str) -> None:
    """Write what ``console`` recorded as a stand-alone HTML page titled ``title``.

    On the terminal colours of the SVG export (a dark page): on rich's
    default white page the client's lines, bold bright white, were
    invisible, and they are what a handout is for."""
    safe_title = html.escape(title).replace("{", "{{").replace("}", "}}")
    console.save_html(path, theme=MONOKAI, code_format=_HTML_FORMAT.format(title=safe_title))


# rich's SVG frame, without the @font-face rules that fetch Fira Code from a
# CDN: a handout must be self-contained (opened offline, in class, it would
# wait on the network), and a local monospace font does as well.
_SVG_FORMAT = re.sub(r"\s*@font-face \{\{.*?\}\}", "", CONSOLE_SVG_FORMAT, flags=re.DOTALL)
_SVG_FORMAT = _SVG_FORMAT.replace("<!-- Generated with Rich https://www.textualize.io -->", "<!-- Generated with Rich -->")
_SVG_FORMAT = _SVG_FORMAT.replace("font-family: Fira Code, monospace;", "font-family: 'Fira Code', 'DejaVu Sans Mono', monospace;")


def export_svg(console: Console, path: str, *, title: str) -> None:
    """Write what ``console`` recorded as an SVG picture with ``title`` in its frame."""
    console.save_svg(path, title=title, theme=MONOKAI, code_format=_SVG_FORMAT)


def print_rows(console: Console, rows: Iterable[Row], *, title: str, target: str | None, line_numbers: bool = False) -> None:
    console.print(TranscriptView(list(rows), title=title, target=target, line_numbers=line_numbers))

