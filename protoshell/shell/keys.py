"""Key bindings: what Enter, Ctrl-C and Esc-Enter do at the protoshell prompt.

* Enter sends the line.  For HTTP the input is a request edited over several
  lines: Enter adds a line until the request is complete (an empty line, or
  the declared Content-Length typed), then sends it; Esc-Enter sends the
  buffer as it is.  With a completion menu open, Enter takes the completion.
* While the shell waits for a response the prompt stays usable for typing
  ahead; Enter does nothing yet and Ctrl-C stops waiting (the session stays).
* Ctrl-C at a normal prompt clears the line; Ctrl-D on an empty line leaves
  (both are PromptSession's defaults, surfaced as KeyboardInterrupt/EOFError).
* Ctrl-R is prompt_toolkit's reverse history search (emacs mode default).
"""

from __future__ import annotations

from collections.abc import Callable

from prompt_toolkit.enums import DEFAULT_BUFFER
from prompt_toolkit.filters import Condition, has_focus, is_searching
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.key_binding.bindings import search


def build_key_bindings(
    *,
    should_accept: Callable[[str], bool],
    is_waiting: Callable[[], bool],
    cancel_wait: Callable[[], None],
) -> KeyBindings:
    kb = KeyBindings()
    focused = has_focus(DEFAULT_BUFFER)
    waiting = Condition(is_waiting)

    @kb.add("enter", filter=focused & ~waiting)
    def _enter(event: KeyPressEvent) -> None:
        buf = event.current_buffer
        state = buf.complete_state
        if state is not None and state.current_completion is not None:
            buf.apply_completion(state.current_completion)
            return
        doc = buf.document
        if should_accept(doc.text) and (doc.is_cursor_at_the_end or "\n" not in doc.text):
            buf.validate_and_handle()
            return
        # An HTTP request being edited: Enter adds (or splits) a line.
        buf.insert_text("\n")

    @kb.add("enter", filter=is_searching)
    def _accept_search(event: KeyPressEvent) -> None:
        """Ctrl-R's Enter takes the found entry with the cursor at its end,
        so the next Enter sends it (a multi-line HTTP request included)."""
        search.accept_search.call(event)
        buf = event.app.current_buffer
        buf.cursor_position = len(buf.text)

    @kb.add("escape", "enter", filter=focused & ~waiting)
    def _send_as_is(event: KeyPressEvent) -> None:
        event.current_buffer.validate_and_handle()

    @kb.add("enter", filter=focused & waiting)
    def _enter_while_waiting(event: KeyPressEvent) -> None:
        """Keep the typed-ahead line: it is sent once the response is in."""

    @kb.add("c-c", filter=waiting)
    @kb.add("<sigint>", filter=waiting)
    def _stop_waiting(event: KeyPressEvent) -> None:
        cancel_wait()

    return kb
