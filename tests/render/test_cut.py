"""The one --max-lines rule (render.cut.LineCut)."""

from __future__ import annotations

from protoshell.render.cut import LineCut


def test_the_first_max_lines_are_shown_and_the_rest_counted() -> None:
    cut = LineCut(2)
    assert [cut.admit(n) for n in (5, 6, 7, 8)] == [True, True, False, False]
    assert (cut.lines, cut.octets, cut.shown, cut.cut) == (4, 26, 2, True)
    assert cut.narration("S", "message text") == (
        "<server sends 4 lines (26 octets) of message text: first 2 lines shown (--max-lines)>"
    )
    assert cut.narration("C") == "<client sends 4 lines (26 octets): first 2 lines shown (--max-lines)>"


def test_nothing_to_say_when_nothing_was_cut_and_zero_shows_none() -> None:
    whole = LineCut(3)
    assert all(whole.admit(1) for _ in range(3))
    assert whole.narration("S") is None
    none = LineCut(0)
    assert not none.admit(4)
    assert none.narration("S") == "<server sends 1 line (4 octets): first 0 lines shown (--max-lines)>"


def test_one_line_is_one_line() -> None:
    cut = LineCut(1)
    cut.admit(3)
    cut.admit(3)
    assert cut.narration("C") == "<client sends 2 lines (6 octets): first 1 line shown (--max-lines)>"
