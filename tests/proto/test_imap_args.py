"""Tests for protoshell/proto/imap_args.py: the typed command arguments."""

from __future__ import annotations

from protoshell.proto.imap_args import FetchItem


def test_fetch_item_names_and_seen() -> None:
    assert FetchItem("BODY", "HEADER", peek=True).response_name == "BODY[HEADER]"
    assert FetchItem("BODY", "", partial=(10, 5)).response_name == "BODY[]<10>"
    assert (
        FetchItem("BODY", "HEADER.FIELDS", ("FROM", "TO")).response_name
        == "BODY[HEADER.FIELDS (FROM TO)]"
    )
    assert FetchItem("BODY").sets_seen and not FetchItem("BODY", peek=True).sets_seen
    assert FetchItem("RFC822").sets_seen and FetchItem("RFC822.TEXT").sets_seen
    assert not FetchItem("RFC822.HEADER").sets_seen and not FetchItem("RFC822.SIZE").sets_seen
