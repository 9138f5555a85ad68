"""Suite-wide pytest settings (keep this small: fixtures live next to the tests using them;
the real-server fixtures are in tests/integration/fixtures.py)."""

from __future__ import annotations

import os
import shutil

import pytest

# Debian binaries the integration tests drive; shown in the header so a CI log says at once
# what was there (fixtures skip without them locally but fail under CI=true).
_BINARIES = ("dovecot", "nginx", "curl", "chromium", "wrk", "hyperfine")
_SBIN = "/usr/sbin:/sbin:/usr/local/sbin"


def pytest_configure(config: pytest.Config) -> None:
    # aiosmtpd warns on every connection to a server that requires AUTH without TLS, which is
    # exactly what the loopback tests of the lecture's session want.
    config.addinivalue_line(
        "filterwarnings", "ignore:Requiring AUTH while not requiring TLS:UserWarning"
    )


def pytest_report_header(config: pytest.Config) -> str:
    path = os.pathsep.join([os.environ.get("PATH", ""), _SBIN])
    found = [
        f"{name}={'yes' if shutil.which(name, path=path) else 'MISSING'}" for name in _BINARIES
    ]
    ci = os.environ.get("CI", "")
    return f"CI={ci or '<unset>'}; binaries: {' '.join(found)}"

# The real-server fixtures (tests/integration/fixtures.py) are used by the shell, replay and
# server tests too, so they are registered for the whole suite.
pytest_plugins = ("tests.integration.fixtures",)
