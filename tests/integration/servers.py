"""Real servers on 127.0.0.1 for the integration tests.

Everything here is plain Python (no pytest fixtures): `conftest.py` wraps it in fixtures, and a
test module that needs a server with another lifetime (say, one nginx per module serving a 100 MB
file) can use the context managers directly: `running_smtp`, `running_dovecot`, `running_nginx`,
`running_injector`.

Rules every server here follows:
- it listens on 127.0.0.1 only, on ports chosen free at run time (`free_port`);
- start-up waits for the server to *answer* (a greeting, an HTTP response), with a deadline, and
  fails with `ServerStartError` carrying the tail of the server's log;
- teardown is reliable: SIGTERM, a bounded wait, then SIGKILL of the process group we created;
- a Debian binary that is missing skips the test locally but fails it when `CI=true`
  (`require_binary`), so CI cannot hide a missing `apt-get install` in `.ci/run`.
"""

from __future__ import annotations

import contextlib
import functools
import grp
import os
import pwd
import random
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

HOST = "127.0.0.1"
#: Deadline for a server to come up. Generous: CI machines can be slow and busy.
START_TIMEOUT = 15.0
#: Deadline for a server to go away after SIGTERM before it gets SIGKILL.
STOP_TIMEOUT = 10.0
#: Timeout on every socket operation the helpers (and the injector) perform.
SOCKET_TIMEOUT = 10.0
#: How many times a start is retried with new ports when a port turned out to be taken.
PORT_RETRIES = 3

#: The lecture's POP3 user; Dovecot and the SMTP AUTH variants accept it.
USER = "bob"
PASSWORD = "redqueen"


class ServerStartError(RuntimeError):
    """A server did not come up; the message holds the tail of its log."""


# --------------------------------------------------------------------------------------------
# Environment helpers
# --------------------------------------------------------------------------------------------


def ci_mode() -> bool:
    """True when running under CI (`CI=true`), where missing binaries are failures."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


_SBIN_DIRS = ("/usr/sbin", "/sbin", "/usr/local/sbin")


def find_binary(name: str) -> str | None:
    """`shutil.which` that also looks in the sbin directories a non-root PATH often lacks."""
    found = shutil.which(name)
    if found:
        return found
    for directory in _SBIN_DIRS:
        candidate = os.path.join(directory, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def require_binary(name: str, package: str | None = None) -> str:
    """Return the path of binary `name`; skip the test if missing, but fail it under `CI=true`.

    `package` names the Debian package that provides it, for the message.
    """
    path = find_binary(name)
    if path is not None:
        return path
    hint = f" (Debian package {package!r})" if package else ""
    message = f"required binary {name!r}{hint} not found on PATH or in {', '.join(_SBIN_DIRS)}"
    if ci_mode():
        pytest.fail(f"{message}; CI=true, so this is an error: install it in .ci/run")
    pytest.skip(message)
    raise AssertionError("unreachable")  # pragma: no cover - pytest.skip raises


# --------------------------------------------------------------------------------------------
# Ports
# --------------------------------------------------------------------------------------------

# Ports are drawn at random from [_LOW_PORT, start of the kernel's ephemeral range). Ports from
# `bind(("", 0))` come from the ephemeral range, which is also where the kernel picks the source
# port of every outgoing connection and the port of every other test's `bind(0)` server, so a
# number we probed and released there can be taken again before our server binds it. Below that
# range only deliberate binds compete. Numbers handed out in this process are never reused, and a
# private RNG keeps Hypothesis' seeding of `random` from making parallel workers pick the same
# sequence. A server that still loses a race is restarted on new ports (`PORT_RETRIES`).
_LOW_PORT = 20000
_issued_ports: set[int] = set()
_port_lock = threading.Lock()
_rng = random.SystemRandom()


def _ephemeral_low() -> int:
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
        return int(text.split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _port_is_free(port: int, host: str = HOST) -> bool:
    # No SO_REUSEADDR: a port with a lingering TIME_WAIT connection also counts as busy.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = HOST) -> int:
    """A TCP port on `host` that is free now and was not handed out before in this process."""
    high = _ephemeral_low()
    with _port_lock:
        if high - _LOW_PORT > 1000:
            for _ in range(200):
                port = _rng.randrange(_LOW_PORT, high)
                if port not in _issued_ports and _port_is_free(port, host):
                    _issued_ports.add(port)
                    return port
        for _ in range(50):  # fallback: let the kernel choose
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.bind((host, 0))
                port = int(probe.getsockname()[1])
            if port not in _issued_ports:
                _issued_ports.add(port)
                return port
    raise RuntimeError("could not find a free TCP port")


def free_ports(count: int, host: str = HOST) -> list[int]:
    """`count` distinct free ports."""
    return [free_port(host) for _ in range(count)]


# --------------------------------------------------------------------------------------------
# Start-up and shutdown helpers
# --------------------------------------------------------------------------------------------


def log_tail(path: Path | str, lines: int = 40) -> str:
    """The last `lines` lines of a log file, or a note saying why there are none."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return f"<no log at {path}: {exc.strerror}>"
    text = data.decode("utf-8", "replace").rstrip("\n")
    if not text:
        return f"<log {path} is empty>"
    return "\n".join(text.splitlines()[-lines:])


def _logs_report(logs: list[Path]) -> str:
    return "\n".join(f"--- tail of {p} ---\n{log_tail(p)}" for p in logs)


def read_greeting(port: int, expect: bytes, host: str = HOST, timeout: float = 2.0) -> bool:
    """Connect and read the first line; True when it starts with `expect`."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        data = b""
        while b"\n" not in data and len(data) < 4096:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        return data.startswith(expect)


def http_answers(port: int, host: str = HOST, timeout: float = 2.0) -> bool:
    """True when a `HEAD / HTTP/1.0` on the port gets an HTTP status line back."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(b"HEAD / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        return sock.recv(64).startswith(b"HTTP/")


def tcp_accepts(port: int, host: str = HOST, timeout: float = 2.0) -> bool:
    with socket.create_connection((host, port), timeout=timeout):
        return True


def wait_ready(
    check: Callable[[], bool],
    *,
    what: str,
    proc: subprocess.Popen[bytes] | None = None,
    logs: list[Path] | None = None,
    timeout: float = START_TIMEOUT,
) -> None:
    """Poll `check()` until it returns True; raise `ServerStartError` with log tails if the
    process exits first or the deadline passes. OSErrors from `check` count as "not yet"."""
    deadline = time.monotonic() + timeout
    last_error = "check returned False"
    while True:
        if proc is not None and proc.poll() is not None:
            raise ServerStartError(
                f"{what} exited with status {proc.returncode} during start-up\n"
                + _logs_report(logs or [])
            )
        try:
            if check():
                return
        except OSError as exc:
            last_error = f"{type(exc).__name__}: {exc}"
        if time.monotonic() > deadline:
            raise ServerStartError(
                f"{what} was not ready after {timeout:.0f} s (last probe: {last_error})\n"
                + _logs_report(logs or [])
            )
        time.sleep(0.02)


def _address_in_use(logs: list[Path]) -> bool:
    for path in logs:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        if "Address already in use" in text or "Address in use" in text:
            return True
    return False


class _Process:
    """A server subprocess in its own process group, output to a console log file."""

    def __init__(self, argv: list[str], console: Path, cwd: Path) -> None:
        self.argv = argv
        self.console = console
        # If pytest dies without tearing down (killed, pytest-timeout's thread method, a CI
        # cancel), the server must not outlive it: setpriv (util-linux, always on Debian) sets
        # the parent-death signal, then execs the server under the same pid.
        setpriv = shutil.which("setpriv")
        prefix = [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []
        with open(console, "ab") as out:
            self.popen: subprocess.Popen[bytes] = subprocess.Popen(
                prefix + argv,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # our own process group: teardown can kill it whole
            )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> None:
        proc = self.popen
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        # Children the master left behind (it should not) are in the group we created.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


def _start(
    argv: list[str], console: Path, cwd: Path, *, ready: Callable[[], bool], what: str, logs: list[Path]
) -> _Process | ServerStartError:
    """Start a server and wait until `ready()`: the running process, or the start-up error
    when the server found its port taken (the caller retries on other ports); any other
    failure is raised."""
    process = _Process(argv, console, cwd)
    try:
        wait_ready(ready, what=what, proc=process.popen, logs=logs)
    except ServerStartError as exc:
        process.stop()
        if _address_in_use(logs):
            return exc
        raise
    return process


def _dir_for_unprivileged(prefix: str) -> Path:
    """A fresh directory other users can traverse.

    pytest's tmp_path lives under a 0700 directory; Dovecot's mail processes run as the
    `dovecot` user and must reach their home directory, so it cannot live there.
    """
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


# --------------------------------------------------------------------------------------------
# TLS: a trustme CA
# --------------------------------------------------------------------------------------------

SERVER_NAMES = ("localhost", "127.0.0.1", "::1")


@dataclass
class TLSBundle:
    """A CA and a server certificate it signed, written to PEM files.

    - `ca_cert`: the CA certificate (what a client passes to `--cafile` / `--cacert`);
    - `cert_chain`: the server certificate chain, `key`: its private key,
      `cert_and_key`: both in one file (for servers that want a single PEM);
    - `server_context`: an `ssl.SSLContext` for servers, loaded with chain and key;
    - `names`: the identities the certificate is valid for.
    """

    ca: Any  # trustme.CA
    ca_cert: Path
    cert_chain: Path
    key: Path
    cert_and_key: Path
    server_context: ssl.SSLContext
    names: tuple[str, ...]

    def client_context(self) -> ssl.SSLContext:
        """A fresh client context that trusts this CA only (hostname checking on)."""
        return ssl.create_default_context(cafile=str(self.ca_cert))


@dataclass
class TLSCA(TLSBundle):
    """The `tls_ca` fixture: the trusted bundle all servers use, plus two bad ones.

    - `untrusted`: a bundle from a *different* CA (valid names) for rejection tests: give
      `untrusted.ca_cert` to a client talking to our servers, or start a server with
      `untrusted` (then `tls_ca.ca_cert` does not verify it);
    - `wrong_host`: signed by the trusted CA but only for `wrong.host.invalid`.
    """

    untrusted: TLSBundle
    wrong_host: TLSBundle


def _make_bundle(directory: Path, stem: str, ca: Any, names: tuple[str, ...]) -> TLSBundle:
    directory.mkdir(parents=True, exist_ok=True)
    leaf = ca.issue_cert(*names)
    ca_cert = directory / f"{stem}-ca.pem"
    chain = directory / f"{stem}-chain.pem"
    key = directory / f"{stem}-key.pem"
    both = directory / f"{stem}-cert-and-key.pem"
    ca.cert_pem.write_to_path(str(ca_cert))
    chain.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(key))
    leaf.private_key_and_cert_chain_pem.write_to_path(str(both))
    for path in (ca_cert, chain, key, both):
        path.chmod(0o644)  # read by servers that may drop privileges (test key, no secret)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(context)
    return TLSBundle(ca, ca_cert, chain, key, both, context, names)


def make_tls_ca(directory: Path) -> TLSCA:
    """Create the trusted CA + server cert, an untrusted CA bundle and a wrong-host bundle."""
    import trustme

    ca = trustme.CA()
    good = _make_bundle(directory, "trusted", ca, SERVER_NAMES)
    return TLSCA(
        **vars(good),
        untrusted=_make_bundle(directory, "untrusted", trustme.CA(), SERVER_NAMES),
        wrong_host=_make_bundle(directory, "wronghost", ca, ("wrong.host.invalid",)),
    )


# --------------------------------------------------------------------------------------------
# SMTP: aiosmtpd
# --------------------------------------------------------------------------------------------


@dataclass
class ReceivedMessage:
    """One message an `SMTPServer` accepted (recorded in its handle_DATA)."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes  # the message as received, dot-unstuffed, CRLF line ends, without the final "."
    peer: Any
    helo: str | None
    tls: bool  # the transaction ran over TLS (STARTTLS or implicit)
    auth_login: str | None  # the AUTH user name, None if the client did not authenticate


def _transport_is_tls(server: Any) -> bool:
    # aiosmtpd sets session.ssl after STARTTLS only; with implicit TLS ask the transport.
    transport = getattr(server, "transport", None)
    return transport is not None and transport.get_extra_info("ssl_object") is not None


class RecordingHandler:
    """aiosmtpd handler that accepts every recipient and records every message."""

    def __init__(self) -> None:
        self.messages: list[ReceivedMessage] = []
        self.received = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        auth = getattr(session, "auth_data", None)
        login = getattr(auth, "login", None)
        message = ReceivedMessage(
            mail_from=envelope.mail_from,
            rcpt_tos=list(envelope.rcpt_tos),
            data=bytes(envelope.original_content or envelope.content or b""),
            peer=session.peer,
            helo=session.host_name,
            tls=session.ssl is not None or _transport_is_tls(server),
            auth_login=login.decode("utf-8", "replace") if isinstance(login, bytes) else login,
        )
        with self.received:
            self.messages.append(message)
            self.received.notify_all()
        return "250 OK message accepted"


SMTP_MODES: dict[str, dict[str, bool]] = {
    "plain": {},
    "starttls": {"starttls": True},
    "auth": {"auth": True},
    "auth_required": {"auth": True, "auth_required": True},
    "submission": {"starttls": True, "auth": True},
    "smtps": {"implicit_tls": True},
}


@dataclass
class SMTPServer:
    """A running aiosmtpd server. `messages` fills as mail is accepted."""

    host: str
    port: int
    mode: str
    starttls: bool
    implicit_tls: bool
    auth: bool
    auth_required: bool
    user: str
    password: str
    handler: RecordingHandler
    controller: Any

    @property
    def messages(self) -> list[ReceivedMessage]:
        return self.handler.messages

    @property
    def url(self) -> str:
        scheme = "smtps" if self.implicit_tls else "smtp"
        return f"{scheme}://{self.host}:{self.port}"

    def wait_for_messages(self, count: int = 1, timeout: float = 5.0) -> list[ReceivedMessage]:
        """Block until at least `count` messages arrived (AssertionError after `timeout`)."""
        with self.handler.received:
            ok = self.handler.received.wait_for(lambda: len(self.messages) >= count, timeout)
        assert ok, f"expected {count} message(s), got {len(self.messages)} in {timeout} s"
        return list(self.messages)


def _smtp_controller_class() -> type:
    from aiosmtpd.controller import Controller

    class PortZeroController(Controller):  # type: ignore[misc]
        """Controller that binds port 0 and reads the kernel's choice back (no port race)."""

        def _trigger_server(self) -> None:
            if self.port == 0 and self.server is not None:
                self.port = self.server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
            super()._trigger_server()

    return PortZeroController


def _authenticator(user: str, password: str) -> Callable[..., Any]:
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        ok = (
            isinstance(data, LoginPassword)
            and data.login == user.encode()
            and data.password == password.encode()
        )
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)

    return authenticate


@contextlib.contextmanager
def running_smtp(
    mode: str = "plain",
    tls: TLSBundle | None = None,
    *,
    user: str = USER,
    password: str = PASSWORD,
    hostname: str = "localhost",
) -> Iterator[SMTPServer]:
    """An aiosmtpd server on 127.0.0.1 (port chosen by the kernel) for one of `SMTP_MODES`:

    - `plain`: no TLS, no AUTH;
    - `starttls`: STARTTLS offered (not required) with `tls`'s certificate;
    - `auth`: AUTH PLAIN/LOGIN offered on the plain connection (user/password below);
    - `auth_required`: like `auth`, and MAIL before AUTH is refused with 530;
    - `submission`: STARTTLS and AUTH both offered;
    - `smtps`: TLS from the first byte (implicit TLS, the `smtps://` case).
    """
    if mode not in SMTP_MODES:
        raise ValueError(f"unknown SMTP mode {mode!r}; choose from {sorted(SMTP_MODES)}")
    opts = SMTP_MODES[mode]
    starttls = opts.get("starttls", False)
    implicit_tls = opts.get("implicit_tls", False)
    auth = opts.get("auth", False)
    auth_required = opts.get("auth_required", False)
    if (starttls or implicit_tls) and tls is None:
        raise ValueError(f"SMTP mode {mode!r} needs a TLS bundle")

    handler = RecordingHandler()
    kwargs: dict[str, Any] = {"server_hostname": hostname, "ready_timeout": START_TIMEOUT}
    if starttls:
        assert tls is not None
        kwargs.update(tls_context=tls.server_context, require_starttls=False)
    if implicit_tls:
        assert tls is not None
        kwargs["ssl_context"] = tls.server_context
    if auth:
        kwargs.update(
            authenticator=_authenticator(user, password),
            auth_require_tls=False,  # plain-text AUTH on loopback, as in the lecture
            auth_required=auth_required,
        )
    controller = _smtp_controller_class()(handler, hostname=HOST, port=0, **kwargs)
    # (mode auth_required: aiosmtpd warns "Requiring AUTH while not requiring TLS" on every
    # connection; tests/conftest.py filters that warning.)
    try:
        controller.start()
    except Exception as exc:
        with contextlib.suppress(Exception):
            controller.stop(no_assert=True)
        raise ServerStartError(f"aiosmtpd ({mode}) did not start: {exc!r}") from exc
    try:
        yield SMTPServer(
            host=HOST,
            port=controller.port,
            mode=mode,
            starttls=starttls,
            implicit_tls=implicit_tls,
            auth=auth,
            auth_required=auth_required,
            user=user,
            password=password,
            handler=handler,
            controller=controller,
        )
    finally:
        controller.stop(no_assert=True)


# --------------------------------------------------------------------------------------------
# Dovecot (IMAP, POP3)
# --------------------------------------------------------------------------------------------

DOVECOT_CONF = """\
# Written by tests/integration/servers.py: a private Dovecot instance for one test session.
# Nothing is included from /etc/dovecot.
base_dir = {base}/run
state_dir = {base}/state
instance_name = {instance}
log_path = {base}/dovecot.log
info_log_path = {base}/dovecot.log
auth_verbose = yes

listen = 127.0.0.1
protocols = imap pop3

ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}

# Plain-text LOGIN/USER+PASS on loopback, as in the lecture.
disable_plaintext_auth = no
auth_mechanisms = plain login
# No 2 s delay per failed login, no growing per-IP penalty: tests try wrong passwords.
# (A failure is still answered up to 0.5 s late: Dovecot flushes failures on a timer.)
auth_failure_delay = 0

first_valid_uid = {uid}
last_valid_uid = 0
first_valid_gid = {gid}
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}

passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {base}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={base}/mail/%u
}}
mail_location = maildir:~/Maildir

protocol imap {{
  mail_max_userip_connections = 100
}}
protocol pop3 {{
  mail_max_userip_connections = 100
}}

service anvil {{
{chroot}  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap-login {{
{chroot}  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps}
    ssl = yes
  }}
}}
service pop3-login {{
{chroot}  inet_listener pop3 {{
    address = 127.0.0.1
    port = {pop3}
  }}
  inet_listener pop3s {{
    address = 127.0.0.1
    port = {pop3s}
    ssl = yes
  }}
}}
"""


@dataclass
class Dovecot:
    """A running private Dovecot. Users: `users` (bob/redqueen and the lecture's
    frobozz/xyzzy); `user`/`password` are bob's."""

    host: str
    imap_port: int
    imaps_port: int
    pop3_port: int
    pop3s_port: int
    base: Path
    conf: Path
    log_path: Path
    users: dict[str, str]
    uid: int
    gid: int
    user: str = USER
    password: str = PASSWORD
    _counter: int = 0
    _last_stamp: tuple[int, int] = (0, 0)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def imap_url(self) -> str:
        return f"imap://{self.host}:{self.imap_port}"

    @property
    def imaps_url(self) -> str:
        return f"imaps://{self.host}:{self.imaps_port}"

    @property
    def pop3_url(self) -> str:
        return f"pop3://{self.host}:{self.pop3_port}"

    @property
    def pop3s_url(self) -> str:
        return f"pop3s://{self.host}:{self.pop3s_port}"

    def home(self, user: str = USER) -> Path:
        return self.base / "mail" / user

    def maildir(self, user: str = USER) -> Path:
        return self.home(user) / "Maildir"

    def _own(self, path: Path) -> None:
        if os.geteuid() == 0:
            os.chown(path, self.uid, self.gid)

    def reset(self, user: str | None = None) -> None:
        """Empty the mailbox of `user` (every user when None): Dovecot's indexes go too, so the
        next session starts fresh (new UIDVALIDITY, UIDs from 1)."""
        for name in [user] if user is not None else list(self.users):
            home = self.home(name)
            shutil.rmtree(home, ignore_errors=True)
            for path in (
                home,
                home / "Maildir",
                *(home / "Maildir" / d for d in ("cur", "new", "tmp")),
            ):
                path.mkdir(mode=0o700, exist_ok=True)
                self._own(path)

    def deliver(self, raw: bytes, user: str = USER, *, flags: str | None = None) -> Path:
        """Put `raw` (stored byte for byte: use CRLF or LF line ends, both work) into `user`'s
        INBOX and return its path. Messages get UIDs / POP3 numbers in delivery order.

        With `flags` (Maildir info letters, e.g. "S" for \\Seen) the message goes to `cur/`,
        otherwise to `new/` (a \\Recent message). Written to `tmp/` and renamed, as a real MDA
        does, so a concurrent Dovecot never sees a half-written file.
        """
        if user not in self.users:
            raise ValueError(f"unknown user {user!r}")
        maildir = self.maildir(user)
        with self._lock:
            # Maildir names start with seconds.M<microseconds>: Dovecot gives new files UIDs in
            # that order, so keep the stamps strictly increasing.
            now = time.time_ns() // 1000
            stamp = divmod(now, 1_000_000)
            if stamp <= self._last_stamp:
                sec, usec = self._last_stamp
                stamp = (sec, usec + 1) if usec < 999_999 else (sec + 1, 0)
            self._last_stamp = stamp
            self._counter += 1
            name = f"{stamp[0]}.M{stamp[1]:06d}P{os.getpid()}Q{self._counter}.protoshell-test"
        tmp = maildir / "tmp" / name
        tmp.write_bytes(raw)
        self._own(tmp)
        target = (
            maildir / "cur" / f"{name}:2,{flags}" if flags is not None else maildir / "new" / name
        )
        os.rename(tmp, target)
        return target

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.log_path, lines)


def _dovecot_identity() -> tuple[int, int, str, str, str]:
    """(uid, gid, internal user, internal group, login user) for the mail processes.

    Dovecot refuses uid 0 in a userdb, so as root the mail processes run as the `dovecot`
    system user (and the login processes as `dovenull`). As another user, everything runs as
    that user."""
    if os.geteuid() == 0:
        try:
            dovecot = pwd.getpwnam("dovecot")
        except KeyError:
            raise ServerStartError(
                "no `dovecot` system user (is dovecot-core installed?)"
            ) from None
        try:
            login = pwd.getpwnam("dovenull").pw_name
        except KeyError:
            login = dovecot.pw_name
        group = grp.getgrgid(dovecot.pw_gid).gr_name
        return dovecot.pw_uid, dovecot.pw_gid, dovecot.pw_name, group, login
    me = pwd.getpwuid(os.geteuid())
    group = grp.getgrgid(os.getegid()).gr_name
    return os.geteuid(), os.getegid(), me.pw_name, group, me.pw_name


def _dovecot_answers(imap: int, pop3: int, imaps: int, pop3s: int) -> bool:
    return (
        read_greeting(imap, b"* OK")
        and read_greeting(pop3, b"+OK")
        and tcp_accepts(imaps)
        and tcp_accepts(pop3s)
    )


_instances = 0


@contextlib.contextmanager
def running_dovecot(
    tls: TLSBundle, users: dict[str, str] | None = None, *, keep_logs_in: Path | None = None
) -> Iterator[Dovecot]:
    """A private Dovecot (`dovecot -F -c <conf>`) with IMAP, IMAPS, POP3, POP3S on free ports
    of 127.0.0.1, users from `users` (default bob/redqueen and frobozz/xyzzy), Maildir homes in
    a fresh directory. Stopped with SIGTERM; the directory is removed afterwards, after its
    config and logs are copied to `keep_logs_in` if given."""
    global _instances
    binary = require_binary("dovecot", "dovecot-imapd")
    users = dict(users or {USER: PASSWORD, "frobozz": "xyzzy"})
    uid, gid, internal_user, internal_group, login_user = _dovecot_identity()
    base = _dir_for_unprivileged("protoshell-dovecot-")
    try:
        for sub in ("state", "mail"):
            (base / sub).mkdir()
        (base / "mail").chmod(0o755)
        passwd = base / "passwd"
        passwd.write_text("".join(f"{u}:{{PLAIN}}{p}\n" for u, p in users.items()))
        passwd.chmod(0o644)
        last_error: ServerStartError | None = None
        for _attempt in range(PORT_RETRIES):
            _instances += 1
            imap, imaps, pop3, pop3s = free_ports(4)
            conf = base / "dovecot.conf"
            log = base / "dovecot.log"
            console = base / "console.log"
            for stale in (log, console):
                stale.unlink(missing_ok=True)
            conf.write_text(
                DOVECOT_CONF.format(
                    base=base,
                    instance=f"protoshell-test-{os.getpid()}-{_instances}",
                    cert=tls.cert_chain,
                    key=tls.key,
                    uid=uid,
                    gid=gid,
                    internal_user=internal_user,
                    internal_group=internal_group,
                    login_user=login_user,
                    # Only root can chroot the login processes.
                    chroot="" if os.geteuid() == 0 else "  chroot =\n",
                    imap=imap,
                    imaps=imaps,
                    pop3=pop3,
                    pop3s=pop3s,
                )
            )
            server = Dovecot(
                host=HOST,
                imap_port=imap,
                imaps_port=imaps,
                pop3_port=pop3,
                pop3s_port=pop3s,
                base=base,
                conf=conf,
                log_path=log,
                users=users,
                uid=uid,
                gid=gid,
            )
            server.reset()
            # The login processes greet only once the auth process is up: a greeting on both
            # plain ports means logins will work; the TLS ports share those processes.
            started = _start(
                [binary, "-F", "-c", str(conf)],
                console,
                base,
                ready=functools.partial(_dovecot_answers, imap, pop3, imaps, pop3s),
                what="dovecot",
                logs=[console, log],
            )
            if isinstance(started, ServerStartError):
                last_error = started
                continue
            process = started
            try:
                yield server
            finally:
                process.stop()
            return
        assert last_error is not None
        raise last_error
    finally:
        if keep_logs_in is not None:
            keep_logs_in.mkdir(parents=True, exist_ok=True)
            for name in ("dovecot.conf", "dovecot.log", "console.log"):
                with contextlib.suppress(OSError):
                    shutil.copy(base / name, keep_logs_in / name)
        shutil.rmtree(base, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# nginx
# --------------------------------------------------------------------------------------------

NGINX_CONF = """\
# Written by tests/integration/servers.py: a private nginx for one test.
daemon off;
master_process on;
worker_processes 1;
{user}pid {base}/nginx.pid;
error_log {base}/error.log info;

events {{
  worker_connections 256;
}}

http {{
  access_log {base}/access.log;
  client_body_temp_path {base}/client_body;
  proxy_temp_path {base}/proxy;
  fastcgi_temp_path {base}/fastcgi;
  uwsgi_temp_path {base}/uwsgi;
  scgi_temp_path {base}/scgi;
  sendfile on;
  keepalive_timeout 10;
  types {{
    text/html html htm;
    text/plain txt;
    text/css css;
    application/javascript js;
    application/json json;
    image/png png;
    image/jpeg jpg jpeg;
    image/gif gif;
    image/svg+xml svg;
  }}
  default_type application/octet-stream;
{extra_http}
  server {{
    listen 127.0.0.1:{http};
    listen 127.0.0.1:{https} ssl;
    server_name localhost;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    root {root};
    autoindex on;
{extra_server}
  }}
}}
"""


@dataclass
class Nginx:
    """A running nginx serving `root` over http (`port`) and https (`https_port`)."""

    host: str
    port: int
    https_port: int
    root: Path
    base: Path
    conf: Path
    error_log: Path
    access_log: Path

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def https_url(self, path: str = "/", host: str = "localhost") -> str:
        """`https://localhost:PORT/...` by default: the certificate names localhost,
        127.0.0.1 and ::1."""
        return f"https://{host}:{self.https_port}{path}"

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.error_log, lines)


def _nginx_answers(http: int, https: int) -> bool:
    return http_answers(http) and tcp_accepts(https)


@contextlib.contextmanager
def running_nginx(
    root: Path,
    tls: TLSBundle,
    *,
    base: Path,
    extra_server: str = "",
    extra_http: str = "",
) -> Iterator[Nginx]:
    """Debian's nginx serving directory `root`, config/logs/temp files in directory `base`.
    `extra_server` / `extra_http` are pasted into the server / http blocks (e.g.
    `location = /empty {{ return 204; }}`). Stopped with SIGTERM."""
    binary = require_binary("nginx", "nginx-light")
    base.mkdir(parents=True, exist_ok=True)
    root.mkdir(parents=True, exist_ok=True)
    last_error: ServerStartError | None = None
    for _attempt in range(PORT_RETRIES):
        http, https = free_ports(2)
        conf = base / "nginx.conf"
        error_log = base / "error.log"
        console = base / "console.log"
        for stale in (error_log, console):
            stale.unlink(missing_ok=True)
        conf.write_text(
            NGINX_CONF.format(
                # As root, workers would drop to `nobody`, who cannot read pytest's 0700 tmp dirs.
                user="user root root;\n" if os.geteuid() == 0 else "",
                base=base,
                http=http,
                https=https,
                cert=tls.cert_chain,
                key=tls.key,
                root=root,
                extra_http=extra_http,
                extra_server=extra_server,
            )
        )
        # -e: the error log used before the config is read (default is /var/log/nginx).
        argv = [binary, "-e", str(error_log), "-p", str(base), "-c", str(conf)]
        started = _start(
            argv,
            console,
            base,
            ready=functools.partial(_nginx_answers, http, https),
            what="nginx",
            logs=[console, error_log],
        )
        if isinstance(started, ServerStartError):
            last_error = started
            continue
        process = started
        try:
            yield Nginx(HOST, http, https, root, base, conf, error_log, base / "access.log")
        finally:
            process.stop()
        return
    assert last_error is not None
    raise last_error


# --------------------------------------------------------------------------------------------
# STARTTLS injector: a misbehaving server
# --------------------------------------------------------------------------------------------

#: What the injector pipelines after its STARTTLS acceptance, by protocol.
INJECTED = {
    "smtp": b"250 injected\r\n",
    "pop3": b"+OK injected\r\n",
    "imap": b"* OK injected\r\n",
}

INJECTOR_MODES = ("inject", "clean", "refuse")


@dataclass
class InjectorSession:
    """What one client connection did: the lines it sent before and after the TLS upgrade."""

    plain_lines: list[bytes] = field(default_factory=list)
    tls_lines: list[bytes] = field(default_factory=list)
    tls_established: bool = False
    error: str | None = None
    closed: threading.Event = field(default_factory=threading.Event)


class _LineReader:
    """Bounded line reading on a socket with a timeout (set on the socket)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def readline(self, limit: int = 8192) -> bytes | None:
        while b"\n" not in self.buffer:
            if len(self.buffer) > limit:
                raise ValueError("line too long")
            chunk = self.sock.recv(4096)
            if not chunk:
                return None
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line + b"\n"


class STARTTLSInjector:
    """A tiny threaded SMTP / POP3 / IMAP server whose STARTTLS acceptance is immediately
    followed, in the same `send`, by injected plaintext (`injected`), the attack of
    CVE-2011-0411 seen from the other side: a client that parses those bytes after the
    handshake lets a man in the middle speak inside its TLS session.

    Modes: "inject" (the attack), "clean" (an honest STARTTLS, for baselines), "refuse" (the
    server declines STARTTLS: 454 / -ERR / NO). After the handshake it answers EHLO/CAPA/
    CAPABILITY, NOOP and QUIT/LOGOUT normally. Every socket operation has a timeout.
    """

    def __init__(
        self,
        protocol: str,
        tls: TLSBundle,
        *,
        mode: str = "inject",
        injected: bytes | None = None,
    ) -> None:
        if protocol not in INJECTED:
            raise ValueError(f"unknown protocol {protocol!r}; choose from {sorted(INJECTED)}")
        if mode not in INJECTOR_MODES:
            raise ValueError(f"unknown mode {mode!r}; choose from {INJECTOR_MODES}")
        self.protocol = protocol
        self.mode = mode
        self.injected = INJECTED[protocol] if injected is None else injected
        self.tls = tls
        self.host = HOST
        self.sessions: list[InjectorSession] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._connections: list[socket.socket] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((HOST, 0))
        self._listener.listen(16)
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)

    @property
    def url(self) -> str:
        return f"{self.protocol}://{self.host}:{self.port}"

    def start(self) -> STARTTLSInjector:
        self._acceptor.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._acceptor.join(5)
        self._listener.close()
        # Wake connection threads blocked in recv on connections the test left open.
        for conn in self._connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(SOCKET_TIMEOUT + 1)

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            session = InjectorSession()
            self.sessions.append(session)
            self._connections.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn, session), daemon=True)
            self._threads.append(thread)
            thread.start()

    # --- one connection -----------------------------------------------------------------

    def _serve(self, conn: socket.socket, session: InjectorSession) -> None:
        sock: socket.socket = conn
        try:
            conn.settimeout(SOCKET_TIMEOUT)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            reader = _LineReader(conn)
            conn.sendall(self._greeting())
            while not self._stop.is_set():
                line = reader.readline()
                if line is None:
                    return
                session.plain_lines.append(line)
                reply, action = self._plain_reply(line)
                conn.sendall(reply)  # the STARTTLS acceptance + injection: one send
                if action == "quit":
                    return
                if action == "tls":
                    break
            else:
                return
            # Whatever the client pipelined after its STARTTLS command is dropped here.
            sock = self.tls.server_context.wrap_socket(
                conn, server_side=True, do_handshake_on_connect=False
            )
            sock.settimeout(SOCKET_TIMEOUT)
            sock.do_handshake()
            session.tls_established = True
            reader = _LineReader(sock)
            while not self._stop.is_set():
                line = reader.readline()
                if line is None:
                    return
                session.tls_lines.append(line)
                reply, action = self._tls_reply(line)
                sock.sendall(reply)
                if action == "quit":
                    return
        except (OSError, ValueError) as exc:
            session.error = f"{type(exc).__name__}: {exc}"
        finally:
            with contextlib.suppress(OSError):
                sock.close()
            with contextlib.suppress(OSError):
                conn.close()
            session.closed.set()

    def _greeting(self) -> bytes:
        if self.protocol == "smtp":
            return b"220 injector ESMTP\r\n"
        if self.protocol == "pop3":
            return b"+OK injector POP3 ready\r\n"
        return b"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] injector ready\r\n"

    def _accept_tls(self, acceptance: bytes) -> tuple[bytes, str]:
        if self.mode == "inject":
            return acceptance + self.injected, "tls"
        return acceptance, "tls"

    def _plain_reply(self, line: bytes) -> tuple[bytes, str]:
        words = line.strip().split()
        if self.protocol == "smtp":
            verb = words[0].upper() if words else b""
            if verb == b"EHLO":
                return b"250-injector\r\n250 STARTTLS\r\n", ""
            if verb == b"HELO":
                return b"250 injector\r\n", ""
            if verb == b"STARTTLS":
                if self.mode == "refuse":
                    return b"454 4.7.0 TLS not available\r\n", ""
                return self._accept_tls(b"220 go ahead\r\n")
            return self._common_smtp(verb)
        if self.protocol == "pop3":
            verb = words[0].upper() if words else b""
            if verb == b"CAPA":
                return b"+OK capabilities follow\r\nSTLS\r\nUSER\r\n.\r\n", ""
            if verb == b"STLS":
                if self.mode == "refuse":
                    return b"-ERR STLS not available\r\n", ""
                return self._accept_tls(b"+OK begin TLS negotiation\r\n")
            return self._common_pop3(verb)
        tag = words[0] if words else b"*"
        verb = words[1].upper() if len(words) > 1 else b""
        if verb == b"CAPABILITY":
            return (
                b"* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\n"
                + tag
                + b" OK CAPABILITY completed\r\n",
                "",
            )
        if verb == b"STARTTLS":
            if self.mode == "refuse":
                return tag + b" NO STARTTLS not available\r\n", ""
            return self._accept_tls(tag + b" OK begin TLS negotiation now\r\n")
        return self._common_imap(tag, verb)

    def _tls_reply(self, line: bytes) -> tuple[bytes, str]:
        words = line.strip().split()
        if self.protocol == "smtp":
            verb = words[0].upper() if words else b""
            if verb == b"EHLO":
                return b"250-injector\r\n250 HELP\r\n", ""
            if verb == b"HELO":
                return b"250 injector\r\n", ""
            return self._common_smtp(verb)
        if self.protocol == "pop3":
            verb = words[0].upper() if words else b""
            if verb == b"CAPA":
                return b"+OK capabilities follow\r\nUSER\r\n.\r\n", ""
            return self._common_pop3(verb)
        tag = words[0] if words else b"*"
        verb = words[1].upper() if len(words) > 1 else b""
        if verb == b"CAPABILITY":
            return (
                b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n" + tag + b" OK CAPABILITY completed\r\n",
                "",
            )
        return self._common_imap(tag, verb)

    @staticmethod
    def _common_smtp(verb: bytes) -> tuple[bytes, str]:
        if verb == b"QUIT":
            return b"221 injector closing connection\r\n", "quit"
        if verb in (b"NOOP", b"RSET"):
            return b"250 OK\r\n", ""
        return b"502 5.5.2 command not implemented\r\n", ""

    @staticmethod
    def _common_pop3(verb: bytes) -> tuple[bytes, str]:
        if verb == b"QUIT":
            return b"+OK injector signing off\r\n", "quit"
        if verb == b"NOOP":
            return b"+OK\r\n", ""
        return b"-ERR command not implemented\r\n", ""

    @staticmethod
    def _common_imap(tag: bytes, verb: bytes) -> tuple[bytes, str]:
        if verb == b"LOGOUT":
            return b"* BYE injector logging out\r\n" + tag + b" OK LOGOUT completed\r\n", "quit"
        if verb == b"NOOP":
            return tag + b" OK NOOP completed\r\n", ""
        return tag + b" BAD command not implemented\r\n", ""


@contextlib.contextmanager
def running_injector(
    protocol: str, tls: TLSBundle, *, mode: str = "inject", injected: bytes | None = None
) -> Iterator[STARTTLSInjector]:
    injector = STARTTLSInjector(protocol, tls, mode=mode, injected=injected).start()
    try:
        yield injector
    finally:
        injector.stop()


def tls_with_first_command(sock: socket.socket, context: ssl.SSLContext, command: bytes) -> bytes:
    """A TLS handshake over ``sock`` in which the client's Finished message
    and its first command leave in one write, as curl's often do; returns
    the server's first decrypted bytes (b"" if none within 3 s)."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    sock.settimeout(3)
    for _ in range(100):
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            if outgoing.pending:
                sock.sendall(outgoing.read())
            data = sock.recv(65536)
            if not data:
                return b""
            incoming.write(data)
    tls.write(command)
    sock.sendall(outgoing.read())  # Finished + the command, one segment
    got = b""
    with contextlib.suppress(TimeoutError, ConnectionError):
        while b"\n" not in got:
            try:
                got += tls.read(4096)
            except ssl.SSLWantReadError:
                data = sock.recv(65536)
                if not data:
                    break
                incoming.write(data)
    return got
