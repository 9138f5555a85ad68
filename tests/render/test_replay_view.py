"""render/replay_view.py: the mismatch side by side, transcripts, exports."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from protoshell.render.console import make_console
from protoshell.render.replay_view import (
    DemoPrinter,
    MismatchView,
    ReplayPrinter,
    Row,
    TranscriptView,
    export_html,
    export_svg,
    recording_console,
    safe,
)


def render(renderable: object, *, width: int = 80, color: bool = False) -> str:
    out = io.StringIO()
    console = make_console(out, color=color, width=width)
    console.print(renderable)
    return out.getvalue()


def mismatch(**kw: str) -> MismatchView:
    args = {
        "where": "lesson.txt:28",
        "expected": "S: * OK User frobozz authenticated",
        "actual": "S: A0001 BAD Error in IMAP command",
        "reason": "expected status * OK, the server answered A0001 BAD",
        "expected_status": "* OK",
        "actual_status": "A0001 BAD",
    }
    args.update(kw)
    return MismatchView(**args)  # type: ignore[arg-type]


def test_mismatch_puts_expected_and_actual_side_by_side() -> None:
    text = render(mismatch(), width=100)
    lines = text.splitlines()
    assert lines[0] == "mismatch at lesson.txt:28"
    header = next(line for line in lines if "expected (line 28)" in line)
    assert header.index("expected (line 28)") < header.index("actual (the server)")
    row = next(line for line in lines if "S: * OK User frobozz authenticated" in line)
    assert "S: A0001 BAD Error in IMAP command" in row  # the same row: side by side
    status = next(line for line in lines if "status * OK" in line)
    assert "status A0001 BAD" in status
    assert lines[-1] == "lesson.txt:28: expected status * OK, the server answered A0001 BAD"


def test_mismatch_fits_a_narrow_terminal_and_escapes_control_characters() -> None:
    text = render(mismatch(actual="S: \x1b[31mred\x07 " + "x" * 80), width=40)
    assert "\x1b" not in text and "\x07" not in text
    assert "\\x1b[31mred\\x07" in text.replace("\n", "").replace(" ", "")
    table = text.splitlines()[:-1]  # the reason below is one line (the terminal wraps it)
    assert all(len(line) <= 40 for line in table)


def test_mismatch_colours_expected_green_and_actual_red() -> None:
    text = render(mismatch(), color=True)
    assert "32m* OK User frobozz authenticated" in text  # protoshell.ok: green
    assert "31mA0001 BAD Error in IMAP command" in text  # protoshell.error: red


def test_transcript_view_rows_title_target_numbers() -> None:
    rows = [
        Row(2, "C: ", "EHLO bar.com", "protoshell.client", "identify"),
        Row(3, "S: ", "550 No such user here", "protoshell.error"),
        Row(10, "", "# a comment", "protoshell.note"),
    ]
    text = render(TranscriptView(rows, title="SMTP", target="smtp://h:25", line_numbers=True))
    lines = text.splitlines()
    assert lines[0].startswith("SMTP ")
    assert lines[1] == "target: smtp://h:25"
    assert lines[2:] == [" 2 C: EHLO bar.com   [identify]", " 3 S: 550 No such user here", "10 # a comment"]


def test_printers() -> None:
    out = io.StringIO()
    console = make_console(out, color=False, width=80)
    printer = ReplayPrinter(console)
    printer.note("hello")
    printer.note("careful", "warning")
    printer.plain("S: raw\\r\\n")
    printer.summary("replay passed", ok=True)
    demo = DemoPrinter(console)
    demo.begin_line()
    demo.type_chars("EH")
    demo.type_chars("LO x")
    demo.end_line("identify")
    assert out.getvalue().splitlines() == [
        "# hello",
        "# careful",
        "S: raw\\r\\n",
        "# replay passed",
        "C: EHLO x   [identify]",
    ]


def test_exports_have_the_title(tmp_path: Path) -> None:
    console: Console = recording_console(width=60)
    console.print(TranscriptView([Row(1, "C: ", "QUIT", "protoshell.client")], title="t", target=None))
    html = tmp_path / "a.html"
    export_html(console, str(html), title="Week 2 <SMTP> {braces}")
    text = html.read_text()
    assert "<title>Week 2 &lt;SMTP&gt; {braces}</title>" in text
    assert "QUIT" in text
    console.print(TranscriptView([Row(1, "C: ", "QUIT", "protoshell.client")], title="t", target=None))
    svg = tmp_path / "a.svg"
    export_svg(console, str(svg), title="Week 2")
    assert "Week&#160;2" in svg.read_text() and "QUIT" in svg.read_text()


def test_safe_shows_controls_as_escapes() -> None:
    assert safe("a\x1bb") == "a\\x1bb"
    assert safe("\\Seen") == "\\Seen"


def test_demo_comments_wrap_at_words_on_a_narrow_projector() -> None:
    """A lesson's long comment at 60 columns: whole words, each line a comment."""
    out = io.StringIO()
    console = make_console(out, color=False, width=60)
    text = "What differs from the lecture's server: its EHLO answer lists more extensions (SIZE with the limit, SMTPUTF8)"
    DemoPrinter(console).comment(text)
    DemoPrinter(console).comment("short")
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    assert all(line.startswith("# ") and len(line) <= 60 for line in lines), lines
    assert " ".join(line[2:].strip() for line in lines[:2]) == text
    assert lines[2] == "# short"


def test_handouts_show_the_client_lines_and_fetch_nothing(tmp_path: Path) -> None:
    """The HTML handout's client text has a colour other than its page's
    (bold bright white on white was invisible), and neither export loads
    anything from the network (the SVG fetched Fira Code from a CDN)."""
    import re

    console: Console = recording_console(width=60)
    console.print(TranscriptView([Row(1, "C: ", "EHLO bar.com", "protoshell.client")], title="t", target=None))
    page = tmp_path / "a.html"
    export_html(console, str(page), title="t")
    text = page.read_text()
    background = re.search(r"background-color: (#[0-9a-f]{6})", text)
    assert background is not None
    span = re.search(r'<span class="(r\d+)">EHLO bar.com</span>', text)
    assert span is not None, text
    rule = re.search(r"\." + span.group(1) + r" \{color: (#[0-9a-f]{6})", text)
    assert rule is not None and rule.group(1) != background.group(1), (rule, background)
    svg = tmp_path / "a.svg"
    export_svg(console, str(svg), title="t")
    for exported in (text, svg.read_text()):
        assert not re.findall(r"url\((?!#)|https?://(?!www\.w3\.org/2000/svg)", exported)
