"""Real-server fixtures for the integration tests (all on 127.0.0.1, free ports).

Fixture                      scope     yields
---------------------------  --------  ----------------------------------------------------------
tls_ca                       session   TLSCA: .ca_cert .cert_chain .key .cert_and_key
                                       .server_context .client_context() .names
                                       .untrusted (another CA's bundle) .wrong_host (bad name)
smtp_server                  function  SMTPServer (mode "plain", or indirect param: one of
                                       servers.SMTP_MODES): .host .port .url .mode .messages
                                       .wait_for_messages(n) .user .password
smtp_server_factory          function  make(mode="plain", tls=None) -> SMTPServer
dovecot_server               session   Dovecot: .host .imap_port .imaps_port .pop3_port
                                       .pop3s_port .*_url .user .password .users .deliver()
                                       .reset() .maildir() .log_path .log_tail()
dovecot                      function  the same Dovecot, every mailbox emptied first
nginx                        function  Nginx: .host .port .https_port .root (fill it) .url(p)
                                       .https_url(p) .error_log .access_log .log_tail()
nginx_factory                function  make(root=None, extra_server="", extra_http="", tls=None)
starttls_injector            function  STARTTLSInjector for "smtp" (or indirect param "pop3",
                                       "imap"): .host .port .url .protocol .injected .sessions
starttls_injector_factory    function  make(protocol="smtp", mode="inject", injected=None,
                                       tls=None)
mail_services                function  MailServices (`protoshell serve --mail`, in-process) on
                                       free ports over a fresh Maildir, STARTTLS with tls_ca:
                                       .smtp_port .pop3_port .imap_port .store (deliver())

Factories take `tls=tls_ca.untrusted` or `tls=tls_ca.wrong_host` to serve a bad certificate;
what a factory started is stopped at the end of the test.

Helpers to import from `tests.integration.servers`: require_binary, free_port, ci_mode,
USER, PASSWORD, and the running_* context managers for other scopes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .servers import (
    HOST,
    TLSCA,
    Dovecot,
    Nginx,
    SMTPServer,
    STARTTLSInjector,
    TLSBundle,
    make_tls_ca,
    running_dovecot,
    running_injector,
    running_nginx,
    running_smtp,
)


@pytest.fixture(scope="session")
def tls_ca(tmp_path_factory: pytest.TempPathFactory) -> TLSCA:
    """A trustme CA and a server certificate for localhost, 127.0.0.1 and ::1."""
    return make_tls_ca(tmp_path_factory.mktemp("tls"))


# --- SMTP -------------------------------------------------------------------------------------


@pytest.fixture
def smtp_server_factory(tls_ca: TLSCA) -> Iterator[Callable[..., SMTPServer]]:
    """`make(mode="plain")` starts an aiosmtpd server; modes in `servers.SMTP_MODES`:
    plain, starttls, auth, auth_required, submission (starttls + auth), smtps."""
    with contextlib.ExitStack() as stack:

        def make(mode: str = "plain", tls: TLSBundle | None = None) -> SMTPServer:
            return stack.enter_context(running_smtp(mode, tls or tls_ca))

        yield make


@pytest.fixture
def smtp_server(
    request: pytest.FixtureRequest, smtp_server_factory: Callable[..., SMTPServer]
) -> SMTPServer:
    """A plain aiosmtpd server, or another mode with
    `@pytest.mark.parametrize("smtp_server", ["starttls", "auth"], indirect=True)`."""
    return smtp_server_factory(getattr(request, "param", "plain"))


# --- Dovecot ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def dovecot_server(tls_ca: TLSCA, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dovecot]:
    """One Dovecot for the session; prefer `dovecot`, which also empties the mailboxes.
    Its config and log are copied to pytest's tmp dir (`dovecot-logs*`) at the end."""
    logs = tmp_path_factory.mktemp("dovecot-logs")
    with running_dovecot(tls_ca, keep_logs_in=logs) as server:
        yield server


@pytest.fixture
def dovecot(dovecot_server: Dovecot) -> Dovecot:
    """The session's Dovecot with every mailbox emptied: fill it with `dovecot.deliver(raw)`."""
    dovecot_server.reset()
    return dovecot_server


# --- nginx ------------------------------------------------------------------------------------


@pytest.fixture
def nginx_factory(tls_ca: TLSCA, tmp_path: Path) -> Iterator[Callable[..., Nginx]]:
    """`make(root=None, extra_server="", extra_http="")` starts an nginx (http and https);
    `root` defaults to a fresh empty directory."""
    with contextlib.ExitStack() as stack:
        count = 0

        def make(
            root: Path | None = None,
            extra_server: str = "",
            extra_http: str = "",
            tls: TLSBundle | None = None,
        ) -> Nginx:
            nonlocal count
            count += 1
            base = tmp_path / f"nginx-{count}"
            return stack.enter_context(
                running_nginx(
                    root if root is not None else base / "www",
                    tls or tls_ca,
                    base=base,
                    extra_server=extra_server,
                    extra_http=extra_http,
                )
            )

        yield make


@pytest.fixture
def nginx(nginx_factory: Callable[..., Nginx]) -> Nginx:
    """An nginx serving an empty `nginx.root` that the test fills (autoindex on)."""
    return nginx_factory()


# --- STARTTLS injector ------------------------------------------------------------------------


@pytest.fixture
def starttls_injector_factory(tls_ca: TLSCA) -> Iterator[Callable[..., STARTTLSInjector]]:
    """`make(protocol="smtp", mode="inject", injected=None)`; modes: inject, clean, refuse."""
    with contextlib.ExitStack() as stack:

        def make(
            protocol: str = "smtp",
            mode: str = "inject",
            injected: bytes | None = None,
            tls: TLSBundle | None = None,
        ) -> STARTTLSInjector:
            return stack.enter_context(
                running_injector(protocol, tls or tls_ca, mode=mode, injected=injected)
            )

        yield make


@pytest.fixture
def starttls_injector(
    request: pytest.FixtureRequest,
    starttls_injector_factory: Callable[..., STARTTLSInjector],
) -> STARTTLSInjector:
    """An SMTP injector, or POP3/IMAP with
    `@pytest.mark.parametrize("starttls_injector", ["pop3", "imap"], indirect=True)`."""
    return starttls_injector_factory(getattr(request, "param", "smtp"))


# --- protoshell serve --mail ------------------------------------------------------------------


@pytest.fixture
def mail_services(tmp_path: Path, tls_ca: TLSCA) -> Iterator[Any]:
    """`protoshell serve --mail`'s SMTP, POP3 and IMAP servers (MailServices) on free ports of
    127.0.0.1 over a fresh Maildir, account bob/redqueen, STARTTLS with the `tls_ca`
    certificate."""
    from protoshell.server.mail.service import MailServices

    with MailServices(
        tmp_path / "Maildir",
        HOST,
        smtp_port=0,
        pop3_port=0,
        imap_port=0,
        cert=tls_ca.cert_chain,
        key=tls_ca.key,
        ready_timeout=10.0,
    ) as services:
        yield services
