"""Tab completion: a pure ``suggest(text, context)`` and a thin prompt_toolkit wrapper.

Everything offered comes from the protocol's vocabulary table (commands,
their argument hints, extra words) and from what this connection learned
(``facts.learned_facts``): nothing here knows a protocol by heart, so a new
command in a table is completed, highlighted and explained at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from prompt_toolkit.completion import CompleteEvent, Completer, Completion, PathCompleter
from prompt_toolkit.document import Document

from ..proto.imap_vocab import typed_tag
from ..proto.vocab import Command, Vocabulary

PATH_ARG = "<path>"  # a meta-command argument that is a local file name
_SYNTAX_KEYWORD = re.compile(r"([A-Za-z][A-Za-z-]*:)<?")


@dataclass(frozen=True, slots=True)
class Suggestion:
    """One completion: replace the ``-start`` characters before the cursor by ``text``."""

    text: str
    start: int  # <= 0
    meta: str = ""
    display: str = ""


@dataclass(frozen=True)
class MetaSpec:
    """What completion needs to know of a meta-command."""

    summary: str
    args: tuple[str, ...] = ()  # fixed words, or (PATH_ARG,)


@dataclass(frozen=True)
class CompletionContext:
    protocol: str
    vocabulary: Vocabulary | None
    facts: Mapping[str, Sequence[str]] = field(default_factory=dict)
    meta: Mapping[str, MetaSpec] = field(default_factory=dict)
    variables: Sequence[str] = ()
    # The line is message text (SMTP DATA, an IMAP literal): nothing to complete.
    message_mode: bool = False


def _match(prefix: str, words: Iterable[str]) -> list[str]:
    low = prefix.lower()
    seen: dict[str, None] = {}
    for w in words:
        if w.lower().startswith(low) and w not in seen:
            seen[w] = None
    return list(seen)


def _case_like(word: str, typed: str) -> str:
    """Commands are case-insensitive outside HTTP: keep the case the user started in."""
    return word.lower() if typed and typed.islower() else word


def _current_word(line: str) -> tuple[list[str], str]:
    """(complete words before the current one, the current partial word)."""
    if not line or line[-1].isspace():
        return line.split(), ""
    words = line.split()
    return words[:-1], words[-1]


def _meta(line: str, ctx: CompletionContext) -> list[Suggestion]:
    body = line[1:]
    if " " not in body:
        return [
            Suggestion(":" + name, -len(line), ctx.meta[name].summary)
            for name in _match(body, ctx.meta)
        ]
    name, _, rest = body.partition(" ")
    done, word = _current_word(rest)
    if done:
        return []  # every meta-command completes one argument at most
    if name == "help" and ctx.vocabulary is not None:
        cands = [
            Suggestion(c.name, -len(word), c.meaning)
            for c in ctx.vocabulary.commands.values()
            if c.name.lower().startswith(word.lower())
        ]
        cands += [
            Suggestion(":" + m, -len(word), ctx.meta[m].summary)
            for m in _match(word.lstrip(":"), ctx.meta)
            if word.startswith(":") or not word
        ]
        return cands
    if name == "explain" and ctx.vocabulary is not None:
        return [
            Suggestion(r.code, -len(word), r.meaning)
            for r in ctx.vocabulary.replies.values()
            if r.code.lower().startswith(word.lower())
        ]
    if name == "set":
        return [Suggestion(v, -len(word), "variable") for v in _match(word, ctx.variables)]
    spec = ctx.meta.get(name)
    if spec is None or spec.args == (PATH_ARG,):
        return []
    return [Suggestion(w, -len(word), "") for w in _match(word, spec.args)]


def _hint_words(hint: str, ctx: CompletionContext) -> list[str]:
    words = list(ctx.facts.get(hint, ()))
    if ctx.vocabulary is not None:
        words += ctx.vocabulary.words.get(hint, ())
    return words


def _syntax_words(cmd: Command, pos: int) -> list[str]:
    """Keywords spelled out in the syntax (``MAIL FROM:<reverse-path>`` -> ``FROM:<``)."""
    parts = cmd.syntax.split()[1:]
    if pos < len(parts):
        m = _SYNTAX_KEYWORD.match(parts[pos].lstrip("["))
        if m is not None and m.group(1).isupper():
            return [parts[pos].lstrip("[")[: m.end()]]
    return []


def _header_line(line: str, ctx: CompletionContext) -> list[Suggestion]:
    if ":" in line or " " in line:
        return []
    words = _hint_words("header", ctx)
    return [Suggestion(w + ": ", -len(line), "header", w) for w in _match(line, words)]


def suggest(text: str, ctx: CompletionContext) -> list[Suggestion]:
    """Completions for ``text`` (everything before the cursor)."""
    if ctx.message_mode:
        return []
    lines = text.split("\n")
    line = lines[-1]
    if len(lines) == 1 and line.startswith(":") and not line.startswith("::"):
        return _meta(line, ctx)
    if line.startswith("::"):
        return []
    done, word = _current_word(line)
    if word.startswith("$"):
        return [
            Suggestion("$" + v, -len(word), "variable") for v in _match(word[1:], ctx.variables)
        ]
    vocab = ctx.vocabulary
    if vocab is None:
        return []
    if ctx.protocol == "http" and len(lines) > 1:
        return _header_line(line, ctx)
    index = 0
    if ctx.protocol == "imap" and done and typed_tag(done[0], done[1] if len(done) > 1 else None):
        index = 1  # the first word is a tag the user typed
    if ctx.protocol == "imap" and len(done) > index and done[index].upper() == "UID":
        index += 1  # UID FETCH / UID SEARCH...: the command follows
    if len(done) == index:
        typed = word
        cmds = [c for c in vocab.commands.values() if c.name.lower().startswith(typed.lower())]
        keep_case = ctx.protocol == "http"
        # A command that needs an argument gets its space: Enter right after
        # the completion would send "SELECT" alone and earn a BAD.
        return [
            Suggestion(
                (name := c.name if keep_case else _case_like(c.name, typed)) + (" " if c.takes_argument else ""),
                -len(typed),
                c.meaning,
                name,
            )
            for c in cmds
        ]
    cmd = vocab.command(done[index])
    if cmd is None:
        return []
    pos = len(done) - index - 1
    stripped = word.lstrip("([")
    in_list = line.count("(") > line.count(")")
    hint: str | None = None
    if pos < len(cmd.args):
        hint = cmd.args[pos]
    elif cmd.args and in_list:
        hint = cmd.args[-1]
    words = _hint_words(hint, ctx) if hint else []
    if not words and not in_list:
        words = _syntax_words(cmd, pos)
    return [
        Suggestion(_case_like(w, stripped) if not w.isdigit() else w, -len(stripped), hint or "")
        for w in _match(stripped, words)
    ]


class ShellCompleter(Completer):
    """prompt_toolkit adapter: asks a callable for the current context, so
    facts learned a moment ago are offered at once."""

    def __init__(self, context: Callable[[], CompletionContext]) -> None:
        self._context = context
        self._paths = PathCompleter(expanduser=True)

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterator[Completion]:
        ctx = self._context()
        text = document.text_before_cursor
        if "\n" not in text and text.startswith(":"):
            name, sep, rest = text[1:].partition(" ")
            spec = ctx.meta.get(name)
            if sep and spec is not None and spec.args == (PATH_ARG,):
                yield from self._paths.get_completions(Document(rest), complete_event)
                return
        for s in suggest(text, ctx):
            yield Completion(s.text, s.start, display=s.display or s.text, display_meta=s.meta)
