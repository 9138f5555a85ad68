"""protoshell/proxy/ca.py: the leaf a client checks carries the name it connects to."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
from pathlib import Path

import pytest
from cryptography import x509

from protoshell.proxy.ca import LocalCA, names_for


def _sans(ca: LocalCA, host: str) -> tuple[list[str], list[str]]:
    chain, _ = ca.issue(host)
    leaf = x509.load_pem_x509_certificates(chain)[0]
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [str(a) for a in san.get_values_for_type(x509.IPAddress)], san.get_values_for_type(x509.DNSName)


@pytest.mark.parametrize(
    ("listen", "ips", "dns"),
    [
        ("127.0.0.1", ["127.0.0.1", "::1"], ["localhost"]),  # what a local client may type
        ("localhost", ["127.0.0.1", "::1"], ["localhost"]),
        ("192.0.2.7", ["192.0.2.7"], []),  # an IP SAN, not a DNS one (RFC 6125 6.2.1)
        ("proxy.example", [], ["proxy.example"]),
    ],
)
def test_the_leaf_carries_the_listen_name_as_an_ip_or_dns_san(tmp_path: Path, listen: str, ips: list[str], dns: list[str]) -> None:
    got_ips, got_dns = _sans(LocalCA.ensure(tmp_path), listen)
    assert sorted(got_ips) == sorted(ips) and sorted(got_dns) == sorted(dns)


def test_listening_on_every_address_names_this_host_not_0_0_0_0() -> None:
    names = names_for("0.0.0.0")
    assert "0.0.0.0" not in names and socket.gethostname() in names and "127.0.0.1" in names
    assert all(ipaddress.ip_address(n) for n in names if n[0].isdigit())


def test_a_client_that_trusts_the_ca_verifies_the_leaf_by_name(tmp_path: Path) -> None:
    ca = LocalCA.ensure(tmp_path)
    server_ctx = ca.server_context("localhost")
    client_ctx = ssl.create_default_context(cafile=str(ca.cert_path))
    with socket.create_server(("127.0.0.1", 0)) as srv:
        port = srv.getsockname()[1]
        for name, trusted in (("localhost", True), ("127.0.0.1", True), ("other.example", False)):
            t = threading.Thread(target=_serve_one, args=(srv, server_ctx), daemon=True)
            t.start()
            with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
                if trusted:
                    with client_ctx.wrap_socket(raw, server_hostname=name) as tls:
                        tls.sendall(b"x")
                else:
                    with pytest.raises(ssl.SSLCertVerificationError):
                        client_ctx.wrap_socket(raw, server_hostname=name)
            t.join(5)


def _serve_one(srv: socket.socket, ctx: ssl.SSLContext) -> None:
    conn, _ = srv.accept()
    try:
        with ctx.wrap_socket(conn, server_side=True) as tls:
            tls.recv(1)
    except (ssl.SSLError, OSError):
        conn.close()


def test_a_key_that_is_not_the_certificates_is_refused(tmp_path: Path) -> None:
    """It signed leaves no client could verify, and the proxy started as if all were well."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from protoshell.proxy.ca import CaError

    LocalCA.ensure(tmp_path)
    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (tmp_path / "ca-key.pem").write_bytes(other)
    with pytest.raises(CaError, match="is not the key of"):
        LocalCA.ensure(tmp_path)


def test_a_leaf_that_cannot_be_written_is_a_ca_error_not_a_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A full disk when the proxy starts: ``proxy`` says one line (CaError,
    exit 2); an OSError from the leaf's temporary file was a traceback."""
    import tempfile

    from protoshell.proxy.ca import CaError

    ca = LocalCA.ensure(tmp_path)

    def full(*args: object, **kwargs: object) -> tuple[int, str]:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tempfile, "mkstemp", full)
    with pytest.raises(CaError, match="cannot write a certificate in .*: No space left on device"):
        ca.server_context("127.0.0.1")
