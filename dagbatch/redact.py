"""Secret redaction shared by every subsystem: nothing secret reaches output, logs or reports.

``redact`` masks:

- SAS signatures: the value of every ``sig=`` query parameter (Blob SAS URLs, Batch URLs);
- Shared Key signatures (``SharedKey account:signature``) and bearer tokens;
- the account key of a storage connection string (``AccountKey=...``) and the token of its
  ``SharedAccessSignature=...`` part;
- every string given to ``register_secret`` (an account key read from the environment).

``RedactingFilter`` applies it to log records; ``redact_loggers`` attaches it to loggers.
"""

from __future__ import annotations

import logging
import re

REDACTED = "REDACTED"

_SECRETS: set[str] = set()
_SIG_RE = re.compile(r"(?i)(\bsig=)[^&\s\"'<>;]+")
_SHAREDKEY_RE = re.compile(r"(SharedKey\s+[^:\s]+:)[A-Za-z0-9+/=]+")
_BEARER_RE = re.compile(r"(?i)(\bBearer\s+)[A-Za-z0-9\-._~+/]+=*")
_ACCOUNT_KEY_RE = re.compile(r"(?i)(\bAccountKey=)[^;\s\"']+")
_CONN_SAS_RE = re.compile(r"(?i)(\bSharedAccessSignature=)[^;\s\"']+")


def register_secret(secret: str) -> None:
    """Make ``redact`` mask this exact string from now on (e.g. the account key)."""
    if len(secret) >= 8:
        _SECRETS.add(secret)


def redact(text: str) -> str:
    """Mask secrets in ``text``: ``sig=`` query values, signatures, tokens, account keys."""
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = _SIG_RE.sub(rf"\g<1>{REDACTED}", text)
    text = _SHAREDKEY_RE.sub(rf"\g<1>{REDACTED}", text)
    text = _ACCOUNT_KEY_RE.sub(rf"\g<1>{REDACTED}", text)
    text = _CONN_SAS_RE.sub(rf"\g<1>{REDACTED}", text)
    return _BEARER_RE.sub(rf"\g<1>{REDACTED}", text)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message of every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message or record.args:
            record.msg = clean
            record.args = None
        return True


def redact_loggers(names: tuple[str, ...]) -> None:
    """Attach a ``RedactingFilter`` to each named logger (a logger's filters do not apply to
    its children, so each logger that can carry a URL or a service message is named)."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
