"""The proxy's local certificate authority and the certificates it issues.

To read a TLS conversation the proxy must end TLS toward the client with a
certificate of its own, which the client trusts only if it trusts the CA
that signed it.  That CA is made once, on first use, with ``cryptography``
(as trustme and mitmproxy make theirs), and kept in the data folder
(``$XDG_DATA_HOME/protoshell/proxy-ca``, see ``server.mail.certs.data_dir``)
or in ``--ca-dir``: ``ca-cert.pem`` (give it to clients: ``--cafile``,
``curl --cacert``, ``ssl.create_default_context(cafile=...)``) and
``ca-key.pem`` (mode 0600: whoever reads it can impersonate any server to
someone who trusts the CA).

Each start issues a fresh leaf certificate for the listen name (an IP
address SAN or a DNS SAN; for a loopback address also ``localhost``,
``127.0.0.1`` and ``::1``, the names a local client may use), signed by the
CA, held in memory only (its file is deleted once loaded).
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import os
import socket
import ssl
import tempfile
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_CERT_NAME: Final = "ca-cert.pem"
CA_KEY_NAME: Final = "ca-key.pem"
CA_VALID_DAYS: Final = 3650
LEAF_VALID_DAYS: Final = 397  # the most browsers accept for a leaf (CA/B Forum)
_LOOPBACK_NAMES: Final = ("localhost", "127.0.0.1", "::1")


class CaError(Exception):
    """The CA cannot be made or read; the message is one line for the user."""


def default_ca_dir() -> Path:
    from ..server.mail.certs import data_dir

    return data_dir() / "proxy-ca"


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


class LocalCA:
    """A CA certificate and key on disk; ``ensure`` makes them if missing."""

    def __init__(self, directory: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
        self.directory = directory
        self.cert = cert
        self.key = key

    @property
    def cert_path(self) -> Path:
        return self.directory / CA_CERT_NAME

    @classmethod
    def ensure(cls, directory: Path | None = None) -> LocalCA:
        """Load the CA in ``directory`` (default: the data folder), making
        it first if it is not there.  Raises CaError."""
        directory = directory if directory is not None else default_ca_dir()
        cert_path, key_path = directory / CA_CERT_NAME, directory / CA_KEY_NAME
        try:
            if cert_path.exists() and key_path.exists():
                cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
                key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
                if not isinstance(key, ec.EllipticCurvePrivateKey):
                    raise CaError(f"{key_path} is not the key this proxy made (expected an EC key)")
                if _public(cert.public_key()) != _public(key.public_key()):
                    # Leaves signed with it would fail every client's check.
                    raise CaError(f"{key_path} is not the key of {cert_path} (remove both to make a new CA)")
                return cls(directory, cert, key)
            return cls._make(directory)
        except OSError as exc:
            raise CaError(f"cannot use the CA folder {str(directory)!r}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise CaError(f"cannot read the CA in {str(directory)!r}: {exc}") from None

    @classmethod
    def _make(cls, directory: Path) -> LocalCA:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "protoshell proxy"),
                x509.NameAttribute(NameOID.COMMON_NAME, f"protoshell proxy CA ({socket.gethostname()})"),
            ]
        )
        now = _now()
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _dt.timedelta(hours=1))
            .not_valid_after(now + _dt.timedelta(days=CA_VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(signs_certificates=True), critical=True)
            .add_extension(ski, critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
            .sign(key, hashes.SHA256())
        )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        # The key is written 0600 from its first byte (never world-readable
        # for a moment), the certificate last: a CA with a cert is complete.
        key_path = directory / CA_KEY_NAME
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key_pem)
        os.chmod(key_path, 0o600)
        (directory / CA_CERT_NAME).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return cls(directory, cert, key)

    def issue(self, host: str) -> tuple[bytes, bytes]:
        """A leaf certificate (PEM, then the CA's) and its key (PEM) for
        ``host``, the name clients connect to."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        sans = x509.SubjectAlternativeName([_general_name(n) for n in names_for(host)])
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host or "localhost")]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _dt.timedelta(hours=1))
            .not_valid_after(now + _dt.timedelta(days=LEAF_VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(signs_certificates=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(sans, critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )
        chain = cert.public_bytes(serialization.Encoding.PEM) + self.cert.public_bytes(serialization.Encoding.PEM)
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return chain, key_pem

    def server_context(self, host: str) -> ssl.SSLContext:
        """An ``ssl`` server context with a leaf for ``host``."""
        chain, key_pem = self.issue(host)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        # load_cert_chain reads files only: a private temporary file, gone at once.
        try:
            fd, path = tempfile.mkstemp(prefix="leaf-", suffix=".pem", dir=self.directory)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(key_pem + chain)
                ctx.load_cert_chain(path)
            finally:
                os.unlink(path)
        except OSError as exc:  # a full disk: one line, not a traceback
            raise CaError(f"cannot write a certificate in {str(self.directory)!r}: {exc.strerror or exc}") from None
        return ctx


def names_for(host: str) -> list[str]:
    """The names a leaf for the listen address ``host`` carries."""
    names = [host] if host else []
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        addr = None
    if host in ("", "localhost") or (addr is not None and (addr.is_loopback or addr.is_unspecified)):
        names += [n for n in _LOOPBACK_NAMES if n not in names]
    if addr is not None and addr.is_unspecified:
        names = [n for n in names if n != host] + [socket.gethostname()]
    return names


def _public(key: object) -> bytes:
    """A public key's bytes (SubjectPublicKeyInfo), to compare two keys."""
    if not isinstance(key, ec.EllipticCurvePublicKey):
        return b""
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _key_usage(*, signs_certificates: bool) -> x509.KeyUsage:
    """EC keys sign (the handshake, or certificates and CRLs for the CA)."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=signs_certificates,
        crl_sign=signs_certificates,
        encipher_only=False,
        decipher_only=False,
    )


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)
