"""The certificate the mail servers use for STARTTLS/STLS.

Either the user gives one (``--cert FILE --key FILE``), or a self-signed one
is made at first start and kept in the user's data folder
(``$XDG_DATA_HOME/protoshell/tls`` or ``~/.local/share/protoshell/tls``), so
that a class can trust it once (``curl --cacert``, ``protoshell --cafile``).

It is made with the ``openssl`` command (present wherever curl or Python's
ssl module came from a distribution), because neither ``cryptography`` nor
``trustme`` is a runtime dependency of protoshell.  Without ``openssl`` and
without ``--cert/--key`` the mail servers refuse to start, with one line
saying so.

The certificate is for ``localhost``, ``127.0.0.1`` and ``::1``, valid for 825
days (the most Apple's TLS policy accepts), and is its own CA (basic
constraints CA:TRUE, key usage for both roles), so passing it as the CA file
works with OpenSSL's strict X.509 checks.
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Final

__all__ = [
    "CERT_NAME",
    "KEY_NAME",
    "CertError",
    "data_dir",
    "default_maildir",
    "ensure_certificate",
    "server_context",
]

CERT_NAME: Final = "mail-cert.pem"
KEY_NAME: Final = "mail-key.pem"
VALID_DAYS: Final = 825
#: Make a new certificate when the old one is this old (days).
RENEW_AFTER_DAYS: Final = VALID_DAYS - 30
OPENSSL_TIMEOUT: Final = 60.0

# A complete config, so the system's openssl.cnf (which differs between
# distributions and versions) cannot change what we make.
_OPENSSL_CONFIG: Final = """\
[req]
distinguished_name = dn
x509_extensions = v3
prompt = no

[dn]
CN = localhost
O = protoshell teaching server

[v3]
basicConstraints = critical, CA:TRUE
keyUsage = critical, digitalSignature, keyEncipherment, keyCertSign
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
"""


class CertError(Exception):
    """The certificate cannot be made or loaded; the message is one line."""


def data_dir() -> Path:
    """protoshell's data folder: ``$XDG_DATA_HOME/protoshell``, or
    ``~/.local/share/protoshell`` (XDG Base Directory spec)."""
    base = os.environ.get("XDG_DATA_HOME", "")
    if not base or not os.path.isabs(base):  # the spec: relative paths are ignored
        base = os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "protoshell"


def default_maildir() -> Path:
    """Where ``protoshell serve --mail`` keeps mail unless told otherwise."""
    return data_dir() / "Maildir"


def ensure_certificate(
    directory: Path | None = None, *, openssl: str | None = None
) -> tuple[Path, Path, bool]:
    """The self-signed certificate and key in ``directory`` (default:
    ``data_dir()/tls``), made now if missing or due for renewal.

    Returns ``(cert, key, made_now)``.  Raises CertError (one line) when it
    must be made and cannot be: no ``openssl`` command, or openssl failed.
    """
    directory = directory or data_dir() / "tls"
    cert, key = directory / CERT_NAME, directory / KEY_NAME
    if cert.is_file() and key.is_file():
        age_days = (time.time() - cert.stat().st_mtime) / 86400
        if age_days < RENEW_AFTER_DAYS:
            return cert, key, False
    tool = openssl or shutil.which("openssl")
    if tool is None:
        raise CertError(
            "STARTTLS needs a certificate and the openssl command is not installed to "
            "make one: install openssl, or pass --cert FILE --key FILE"
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
    except OSError as exc:
        raise CertError(f"cannot create {directory}: {exc.strerror or exc}") from None
    # Made in a temporary folder beside the target, then renamed into place
    # (key first): two servers starting at once never read half a file.
    with tempfile.TemporaryDirectory(dir=directory, prefix=".new-cert-") as tmp:
        config = Path(tmp) / "openssl.cnf"
        config.write_text(_OPENSSL_CONFIG, encoding="ascii")
        new_cert, new_key = Path(tmp) / CERT_NAME, Path(tmp) / KEY_NAME
        argv = [
            tool, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
            "-days", str(VALID_DAYS), "-config", str(config),
            "-keyout", str(new_key), "-out", str(new_cert),
        ]  # fmt: skip
        try:
            done = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=OPENSSL_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise CertError(f"cannot run {tool}: {exc}") from None
        if done.returncode != 0 or not new_cert.is_file() or not new_key.is_file():
            why = done.stderr.decode("utf-8", "replace").strip().splitlines()
            raise CertError(
                f"openssl could not make a certificate: {why[-1] if why else done.returncode}"
            )
        os.chmod(new_key, 0o600)
        os.chmod(new_cert, 0o644)
        os.replace(new_key, key)
        os.replace(new_cert, cert)
    return cert, key, True


def server_context(cert: str | os.PathLike[str], key: str | os.PathLike[str]) -> ssl.SSLContext:
    """A server-side TLS context with this certificate chain and key
    (TLS 1.2 or later).  Raises CertError with one line if they do not load."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(os.fspath(cert), os.fspath(key))
    except FileNotFoundError as exc:
        raise CertError(f"cannot read {exc.filename or cert}: no such file") from None
    except ssl.SSLError as exc:
        raise CertError(
            f"cannot load the certificate {cert} with the key {key}: {exc.reason or exc}"
        ) from None
    except OSError as exc:
        raise CertError(f"cannot read {exc.filename or cert}: {exc.strerror or exc}") from None
    return context
