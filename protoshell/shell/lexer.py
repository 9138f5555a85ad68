"""Highlighting of the line being typed, by the protocol's vocabulary.

``highlight_line`` is pure (text in, ``(style, text)`` fragments out) so it is
tested without a terminal; ``InputLexer`` hands it to prompt_toolkit.  A known
command is coloured by the lecture's phase (identify / ask / answer /
goodbye), an unknown first word is marked, so a typo shows before it is sent.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass

from prompt_toolkit.document import Document
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.lexers import Lexer

from ..proto.imap_vocab import typed_tag
from ..proto.vocab import Vocabulary

_VAR = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*|\{[A-Za-z_][A-Za-z0-9_]*\})")
_LITERAL = re.compile(r"\{[0-9]+\+?\}$")
_WORD = re.compile(r"\S+|\s+")
_HEADER = re.compile(r"^([!#$%&'*+.^_`|~0-9A-Za-z-]+)(:)")

# Style class names (defined in app.STYLE).
META = "class:input.meta"
META_UNKNOWN = "class:input.meta.unknown"
UNKNOWN = "class:input.unknown"
TAG = "class:input.tag"
LITERAL = "class:input.literal"
VARIABLE = "class:input.variable"
VARIABLE_UNKNOWN = "class:input.variable.unknown"
HEADER = "class:input.header"
STUFFED = "class:input.stuffed"
TEXT = ""


@dataclass(frozen=True)
class LexContext:
    protocol: str
    vocabulary: Vocabulary | None
    meta_names: Collection[str] = ()
    variables: Collection[str] = ()
    message_mode: bool = False


def command_style(phase: str) -> str:
    return f"class:input.command.{phase}"


def _with_variables(text: str, style: str, ctx: LexContext) -> StyleAndTextTuples:
    out: StyleAndTextTuples = []
    pos = 0
    for m in _VAR.finditer(text):
        if m.start() > pos:
            out.append((style, text[pos : m.start()]))
        name = m.group(0)[1:].strip("{}")
        out.append((VARIABLE if name in ctx.variables else VARIABLE_UNKNOWN, m.group(0)))
        pos = m.end()
    if pos < len(text):
        out.append((style, text[pos:]))
    return out


def highlight_line(line: str, lineno: int, ctx: LexContext) -> StyleAndTextTuples:
    """Fragments for one line of the input (``lineno`` 0 is the first)."""
    if not line:
        return []
    if ctx.message_mode:
        if line.startswith(".") and line != ".":
            # RFC 5321 4.5.2: this dot will be doubled on the wire.
            return [(STUFFED, "."), (TEXT, line[1:])]
        return [(TEXT, line)]
    if lineno == 0 and line.startswith(":") and not line.startswith("::"):
        name, sep, rest = line[1:].partition(" ")
        style = META if name in ctx.meta_names else META_UNKNOWN
        return [(style, ":" + name + sep), *_with_variables(rest, TEXT, ctx)]
    if lineno == 0 and line.startswith("::"):
        return [("class:input.escape", ":"), *_with_variables(line[1:], TEXT, ctx)]
    vocab = ctx.vocabulary
    if ctx.protocol == "http" and lineno > 0:
        m = _HEADER.match(line)
        if m is None:
            return _with_variables(line, TEXT, ctx)
        return [(HEADER, m.group(1)), (HEADER, ":"), *_with_variables(line[m.end() :], TEXT, ctx)]
    parts = _WORD.findall(line)
    out: StyleAndTextTuples = []
    seen_words = 0
    command_done = False
    for i, part in enumerate(parts):
        if part.isspace():
            out.append((TEXT, part))
            continue
        style = TEXT
        if not command_done and vocab is not None:
            cmd = vocab.command(part) if ctx.protocol != "http" else vocab.commands.get(part)
            if cmd is not None:
                style = command_style(cmd.phase)
                command_done = part.upper() != "UID"  # IMAP UID FETCH: FETCH follows
            elif ctx.protocol == "imap" and seen_words == 0 and i + 1 < len(parts) and typed_tag(
                part, next((p for p in parts[i + 1 :] if not p.isspace()), None)
            ):
                style = TAG  # a tag the user typed
            else:
                style = UNKNOWN
                command_done = True
        elif i == len(parts) - 1 and _LITERAL.search(part):
            m = _LITERAL.search(part)
            assert m is not None
            out.extend(_with_variables(part[: m.start()], TEXT, ctx))
            out.append((LITERAL, m.group(0)))
            seen_words += 1
            continue
        seen_words += 1
        out.extend(_with_variables(part, style, ctx))
    return out


class InputLexer(Lexer):
    def __init__(self, context: Callable[[], LexContext]) -> None:
        self._context = context

    def lex_document(self, document: Document) -> Callable[[int], StyleAndTextTuples]:
        ctx = self._context()
        lines = document.lines

        def get_line(lineno: int) -> StyleAndTextTuples:
            if lineno >= len(lines):
                return []
            return highlight_line(lines[lineno], lineno, ctx)

        return get_line
