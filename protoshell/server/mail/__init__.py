"""Offline mail targets: ``protoshell serve --mail``.

SMTP (aiosmtpd), POP3 and IMAP servers on loopback sharing one Maildir, so
the lecture's whole mail story (send with SMTP, read with POP3 and IMAP)
runs on a laptop with nothing else installed.

- ``maildir.py``: the shared store (stdlib ``mailbox.Maildir``: tmp -> new).
- ``smtp.py``: aiosmtpd with a handler that delivers into the Maildir.
- ``pop3.py``: asyncio driver of the sans-IO ``proto/pop3_server.py``.
- ``imap*.py``: the IMAP server (``start_imap_server``).
- ``certs.py``: the STARTTLS certificate (self-signed, made with openssl).
- ``service.py``: ``MailServices`` (a thread, for tests) and ``MailStack``
  (in a running loop, for ``protoshell serve --mail``).

Import the pieces from their modules; this package imports nothing, so
that loading one (say, IMAP's) does not pull in aiosmtpd.
"""
