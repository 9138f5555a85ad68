"""SASL PLAIN and LOGIN by hand: the base64 lines a client sends.

Stdlib only and no I/O, so the shell's ``:auth`` and the replayer can both
build the same dialogue.  A dialogue is the command line (``AUTH PLAIN``,
``AUTHENTICATE PLAIN``) followed by the responses the client sends, one per
continuation the server gives (SMTP ``334``, POP3 ``+ ``, IMAP ``+``).  No
initial response is used, so every protocol shows the same dance and a server
without SASL-IR (RFC 4959) still understands it.

The responses carry the password; ``AuthDialogue.secrets`` lists which lines
must be shown and recorded as ``<redacted>``.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Final

MECHANISMS: tuple[str, ...] = ("PLAIN", "LOGIN")

# The command that starts a SASL exchange, per protocol.
_AUTH_COMMAND: dict[str, bytes] = {
    "smtp": b"AUTH",  # RFC 4954 section 4
    "pop3": b"AUTH",  # RFC 5034 section 4
    "imap": b"AUTHENTICATE",  # RFC 9051 section 6.2.2 (tag added by the framer)
}


class AuthError(ValueError):
    """A dialogue that cannot be built; the message is one line for the user."""


def b64(data: bytes) -> bytes:
    """Base64 without line breaks, as SASL wants it (RFC 4954 4, RFC 4648 4)."""
    return base64.b64encode(data)


def plain_response(user: str, password: str, authzid: str = "") -> bytes:
    """RFC 4616 section 2: ``[authzid] NUL authcid NUL passwd``, base64."""
    if "\x00" in user or "\x00" in password or "\x00" in authzid:
        raise AuthError("a user name or password cannot contain NUL (RFC 4616 section 2)")
    message = b"\x00".join(s.encode("utf-8") for s in (authzid, user, password))
    return b64(message)


def login_responses(user: str, password: str) -> tuple[bytes, bytes]:
    """The LOGIN mechanism (draft-murchison-sasl-login): the user name after
    the ``Username:`` challenge, then the password after ``Password:``."""
    return b64(user.encode("utf-8")), b64(password.encode("utf-8"))


def decode_challenge(text: str) -> str:
    """A server challenge (``VXNlcm5hbWU6``) as text (``Username:``), for
    showing a person what the server asked; ``""`` if it is not base64."""
    try:
        return base64.b64decode(text.strip(), validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return ""


@dataclass(frozen=True, slots=True)
class AuthDialogue:
    """What to send: ``command``, then each of ``responses`` after a continuation."""

    mechanism: str
    command: bytes
    responses: tuple[bytes, ...]
    # Indexes into ``responses`` that carry a secret (to be redacted).
    secrets: tuple[int, ...]

    def is_secret(self, index: int) -> bool:
        return index in self.secrets


def auth_dialogue(protocol: str, mechanism: str, user: str, password: str) -> AuthDialogue:
    """The lines of a PLAIN or LOGIN exchange for ``protocol``."""
    command = _AUTH_COMMAND.get(protocol)
    if command is None:
        raise AuthError(
            f"{protocol.upper()} has no SASL; for HTTP type an Authorization header "
            "(RFC 7617: Basic base64(user:password))"
        )
    mech = mechanism.upper()
    if mech == "PLAIN":
        return AuthDialogue(mech, command + b" PLAIN", (plain_response(user, password),), (0,))
    if mech == "LOGIN":
        name, secret = login_responses(user, password)
        # The user name is not secret, but the transcript redactor cannot
        # tell the two base64 lines apart; redact both.
        return AuthDialogue(mech, command + b" LOGIN", (name, secret), (0, 1))
    raise AuthError(f"unknown mechanism {mechanism!r}; :auth knows {', '.join(MECHANISMS)}")


# -- a client's own SASL exchange, seen from outside (the proxy's recordings) --

_SASL_START: Final = re.compile(rb"(?:(\S+) )?(AUTH|AUTHENTICATE) (PLAIN|LOGIN)(?: (\S+))?\r?\n?", re.IGNORECASE)


def sasl_start(line: bytes, protocol: str) -> tuple[str, bytes | None] | None:
    """``("plain" | "login", initial response or None)`` when ``line``
    starts a PLAIN or LOGIN exchange in the protocol's own form: ``AUTH``
    (SMTP, RFC 4954 4; POP3, RFC 5034 4) or ``tag AUTHENTICATE`` (IMAP,
    RFC 3501 6.2.2; SASL-IR, RFC 4959 3); else None."""
    m = _SASL_START.fullmatch(line)
    if m is None:
        return None
    word = _AUTH_COMMAND.get(protocol)
    tagged = protocol == "imap"  # IMAP's commands carry a tag
    command = word is not None and m[2].upper() == word and (m[1] is not None) == tagged
    return (m[3].decode().lower(), m[4]) if command else None


def sasl_user(mechanism: str, response: bytes) -> str | None:
    """The user in a client's (first) response, when ``:auth MECHANISM USER``
    would send the same: PLAIN's ``authzid NUL user NUL password`` with no
    authorization identity other than the user (RFC 4616 2), LOGIN's user
    (draft-murchison-sasl-login 2); a user without spaces.  Else None."""
    try:
        decoded = base64.b64decode(response.strip(), validate=True)
        if mechanism == "plain":
            parts = decoded.split(b"\0")
            if len(parts) != 3 or parts[0] not in (b"", parts[1]):
                return None
            decoded = parts[1]
        user = decoded.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user if user and user.isprintable() and not any(c.isspace() for c in user) else None
