"""Secret redaction, shared by everything that writes output: the CLI, logs, the submission
journal and report, the emulator and storage code.

``redact(text)`` masks, in every encoding they reach text in:

- SAS signatures: the value of ``sig=`` in a query string, also when the service echoes the URL
  percent-encoded once or twice (``sig%3D...``, ``sig%253D...``) or JSON-escaped
  (``sig\\u003d...``);
- Shared Key signatures (``SharedKey account:signature``) and bearer tokens;
- the account key of a storage connection string (``AccountKey=...``) and the token of its
  ``SharedAccessSignature=...`` part;
- the password of a URL's user information (``https://user:password@host/...``);
- every secret given to ``register_secret`` (the account key, Entra tokens): as is,
  percent-encoded (upper- or lower-case hex, ``+`` as ``%2B`` or as a space), twice
  percent-encoded, JSON-escaped (``\\/``) and in its base64url spelling.

Nothing here is installed at import time: ``install_log_redaction()`` attaches
``RedactingFilter`` to the loggers that can carry a URL or a service message (the CLI calls it
when it starts, and ``submit_plan`` when a library user submits).
"""

from __future__ import annotations

import logging
import re
from typing import Final
from urllib.parse import quote, quote_plus

REDACTED = "REDACTED"

_SECRETS: set[str] = set()
# ``sig`` as a whole query-parameter name, then ``=`` in any of its encodings, then the value
# up to the next parameter separator (``&`` in any encoding), whitespace or a quote.
_SIG_RE = re.compile(
    r"(?i)(?:(?<![A-Za-z0-9_%])|(?<=%26)|(?<=%3F)|(?<=%2526)|(?<=%253F)|(?<=\\u0026))"
    r"(sig(?:=|%3D|%253D|\\u003d))"
    r"(?:(?!&|%26|%2526|\\u0026)[^\s\"'<>])+"
)
_SHAREDKEY_RE = re.compile(r"(SharedKey\s+[^:\s]+:)[A-Za-z0-9+/=%]+")
_BEARER_RE = re.compile(r"(?i)(\bBearer\s+)[A-Za-z0-9\-._~+/]+=*")
_ACCOUNT_KEY_RE = re.compile(r"(?i)(\bAccountKey=)[^;\s\"']+")
_CONN_SAS_RE = re.compile(r"(?i)(\bSharedAccessSignature=)[^;\s\"']+")
#: The password of a URL's user information (``https://user:password@host/``).
_URL_PASSWORD_RE = re.compile(r"(://[^/?#@\s\"'<>:]*:)[^/?#@\s\"'<>]+(?=@)")


def _encodings(secret: str) -> set[str]:
    """The spellings of ``secret`` that can reach a message, a URL or a JSON document."""
    once = quote(secret, safe="")
    forms = {
        secret,
        once,
        once.lower(),  # percent-encoding with lower-case hex digits
        quote_plus(secret, safe=""),
        quote(once, safe=""),  # twice
        secret.replace("/", "\\/"),  # JSON with escaped slashes
        secret.replace("+", "-").replace("/", "_"),  # base64url
        secret.replace("+", "-").replace("/", "_").rstrip("="),
        secret.replace("+", " "),  # a '+' that a form decoder turned into a space
    }
    return {f for f in forms if len(f) >= 8}


def register_secret(secret: str) -> None:
    """Make ``redact`` mask this exact string, in every encoding, from now on."""
    if len(secret) >= 8:
        _SECRETS.update(_encodings(secret))


#: Each pattern with the text every match of it holds, lower-cased: in a text whose folded
#: form (``_folded``) lacks that word the pattern cannot match, and a substring search rules
#: it out much quicker than the pattern's own scan (the case-insensitive ones try every
#: position: about 150 ms for a megabyte of ``status --json``).
_PATTERNS: tuple[tuple[re.Pattern[str], bytes], ...] = (
    (_SIG_RE, b"sig"),
    (_SHAREDKEY_RE, b"sharedkey"),
    (_ACCOUNT_KEY_RE, b"accountkey="),
    (_CONN_SAS_RE, b"sharedaccesssignature="),
    (_BEARER_RE, b"bearer"),
    (_URL_PASSWORD_RE, b"://"),
)


def redact(text: str) -> str:
    """Mask secrets in ``text``: ``sig=`` values, signatures, tokens, registered keys."""
    # Each secret is looked for in the text's UTF-8 bytes: a string is in the text exactly
    # when its UTF-8 is in the text's (UTF-8 is self-synchronising), and a search of bytes
    # is several times quicker than one of a text that is not ASCII (status's ``→``).
    data = _utf8(text)
    # Longest first, so a form is never left half-masked by a shorter one inside it.
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if _utf8(secret) in data:
            text = text.replace(secret, REDACTED)
            data = _utf8(text)
    folded = _folded(text, data)
    for pattern, word in _PATTERNS:
        if word in folded:
            text, masked = pattern.subn(rf"\g<1>{REDACTED}", text)
            if masked:
                folded = _folded(text)  # what the next patterns look for, as it now stands
    return text


#: The letters besides ASCII ones that a case-insensitive pattern of Python's ``re`` takes for
#: ASCII letters: capital I with a dot and dotless i for 'i', the long s for 's', the Kelvin
#: sign for 'k' (a test checks every code point).
_LOOKALIKES: Final = {"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"}
_TO_ASCII: Final = str.maketrans(_LOOKALIKES)


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _folded(text: str, data: bytes | None = None) -> bytes:
    """``text`` in UTF-8 with its ASCII letters lower-cased, the look-alikes spelled as the
    ASCII letters they match: where a case-insensitive pattern matches, its word is in this
    text.

    Bytes, not ``str.lower()``: the two hold the same ASCII words (the only code points
    whose lower case is ASCII are two of the look-alikes, spelled as ASCII first; every other
    one is bytes >= 0x80 in UTF-8), and a text that is not ASCII (status's ``→``) is lowered
    by ``str.lower`` a code point at a time: 0.9 s for the 91 MB ``status --json`` of a
    200,000-task job, against 0.1 s for this. ``data``: ``text``'s UTF-8, when at hand."""
    if not text.isascii() and any(c in text for c in _LOOKALIKES):
        data = _utf8(text.translate(_TO_ASCII))
    return (data if data is not None else _utf8(text)).lower()


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message of every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message or record.args:
            record.msg = clean
            record.args = None
        return True


#: Loggers whose records are redacted (a logger's filters do not apply to its children, so
#: each one that can carry a URL or a message from the service is listed).
REDACTED_LOGGERS = (
    "dagbatch",
    "dagbatch.submit.client",
    "dagbatch.submit.submission",
    "dagbatch.submit.journal",
    "dagbatch.submit.progress",
    "dagbatch.emulator",
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
)


def install_log_redaction() -> None:
    """Attach one ``RedactingFilter`` to each of ``REDACTED_LOGGERS`` (idempotent)."""
    redact_loggers(REDACTED_LOGGERS)


def redact_loggers(names: tuple[str, ...]) -> None:
    """Attach a ``RedactingFilter`` to each named logger (idempotent)."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
