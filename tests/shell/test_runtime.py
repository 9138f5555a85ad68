"""Variable substitution in typed lines (runtime.substitute_known)."""

from __future__ import annotations

from protoshell.shell.runtime import substitute_known
from protoshell.transcript.escape import escape_line


def test_known_names_are_replaced_everything_else_kept() -> None:
    variables = {"user": "bob", "uv": "1357449499"}
    assert substitute_known("LOGIN $user x", variables) == "LOGIN bob x"
    assert substitute_known("UID ${uv}1", variables) == "UID 13574494991"
    # A dollar in a mail body, an unknown name, IMAP's \Seen: as typed.
    assert substitute_known("costs $5 $nope \\Seen", variables) == "costs $5 $nope \\Seen"


def test_values_are_stored_in_notation_and_sent_as_bytes() -> None:
    stored = escape_line(b"two  spaces ")  # trailing space is escaped in notation
    assert substitute_known("X $v", {"v": stored}) == "X two  spaces "


def test_no_variables_no_work() -> None:
    assert substitute_known("A $b", {}) == "A $b"
