"""Fixtures for the replay tests: the lecture's SMTP server and the embedded
HTTP server (the mail servers come from tests/integration/fixtures.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .support import WEB, LectureSMTP, running_lecture_smtp


@pytest.fixture
def lecture_smtp() -> Iterator[LectureSMTP]:
    """aiosmtpd answering like the lecture's server: 550 for Green@foo.com."""
    with running_lecture_smtp() as server:
        yield server


@pytest.fixture
def http_server() -> Iterator[Any]:
    """The embedded HTTP server serving web/ on a free port."""
    from protoshell.server.control import EmbeddedServer

    with EmbeddedServer(WEB, "127.0.0.1", 0, ready_timeout=10) as server:
        yield server
