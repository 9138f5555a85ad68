"""Fixtures for the proxy tests: its CA (made once) and a proxy factory."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .running import RunningProxy, running_proxy


@pytest.fixture(scope="session")
def proxy_ca_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The proxy's CA folder for the whole run (made on first use)."""
    return tmp_path_factory.mktemp("proxy-ca")


@pytest.fixture
def proxy_ca_cert(proxy_ca_dir: Path) -> Path:
    from protoshell.proxy.ca import LocalCA

    return LocalCA.ensure(proxy_ca_dir).cert_path


@pytest.fixture
def proxy_factory(proxy_ca_dir: Path) -> Iterator[Callable[..., RunningProxy]]:
    """``make(TARGET_URL, *args)`` runs ``protoshell proxy`` on a free port
    until the end of the test."""
    with contextlib.ExitStack() as stack:

        def make(target: str, *args: str, tty: bool = False) -> RunningProxy:
            return stack.enter_context(running_proxy(target, *args, ca_dir=proxy_ca_dir, tty=tty))

        yield make
