"""protoshell: talk HTTP, SMTP, POP3 and IMAP by hand, record it, replay it."""

__version__ = "0.1.0"
