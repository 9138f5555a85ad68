"""proxy/server.py: what the listening side does with each connection's recording."""

from __future__ import annotations

import http.client
from collections.abc import Callable
from pathlib import Path

from tests.integration.servers import Nginx

from .running import RunningProxy

ProxyFactory = Callable[..., RunningProxy]


def _get(proxy: RunningProxy) -> None:
    conn = http.client.HTTPConnection(proxy.host, proxy.port, timeout=10)
    conn.request("GET", "/")
    assert conn.getresponse().read() is not None
    conn.close()


def test_loose_volatile_writes_what_changes_between_runs_as_a_wildcard(
    nginx: Nginx, proxy_factory: ProxyFactory, tmp_path: Path
) -> None:
    """A team records real clients with the proxy and checks the files under
    --strict: nginx's Date header must not make the next run fail."""
    loose = proxy_factory(nginx.url(), "--record-dir", str(tmp_path / "loose"), "--loose-volatile")
    exact = proxy_factory(nginx.url(), "--record-dir", str(tmp_path / "exact"))
    for proxy in (loose, exact):
        _get(proxy)
        proxy.wait_for("connection 1 closed")
    assert proxy.stop() == 0 and loose.stop() == 0
    text = (tmp_path / "loose" / "0001.txt").read_text()
    assert "\nS: Date: *\n" in text
    assert "\nC: GET / HTTP/1.1\n" in text  # client lines as sent
    assert "\nS: Date: *\n" not in (tmp_path / "exact" / "0001.txt").read_text()
