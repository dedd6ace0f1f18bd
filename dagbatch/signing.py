"""Shared Key signing for the Batch data plane, used by the client and checked by the emulator.

The string to sign, per BATCH_FACTS.md (reference implementations: azure-batch 14.x
``azure/batch/batch_auth.py`` and 15.x ``BatchSharedKeyAuthPolicy``)::

    VERB\\n
    Content-Encoding\\n Content-Language\\n Content-Length\\n Content-MD5\\n Content-Type\\n
    Date\\n If-Modified-Since\\n If-Match\\n If-None-Match\\n If-Unmodified-Since\\n Range\\n
    ocp-* headers, lower-cased, sorted, as "name:value\\n"
    /{account}{path}
    "\\n{name}:{value}" for each query parameter with a value, sorted by name

The path is signed as it appears on the wire; query values are percent-decoded; a parameter
given twice is signed with its first value (azure-batch 15.x ``BatchSharedKeyAuthPolicy``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from email.utils import formatdate
from urllib.parse import unquote

_SIGNED_HEADERS = (
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
)


def rfc1123_now() -> str:
    """The current time as the service wants it in ``ocp-date``."""
    return formatdate(usegmt=True)


def string_to_sign(
    method: str,
    account: str,
    path: str,
    query: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
) -> str:
    """Build the canonical string. ``headers`` keys may be any case; ``path`` is as sent."""
    lower = {k.lower(): v for k, v in headers.items()}
    parts = [method.upper()]
    for name in _SIGNED_HEADERS:
        parts.append(lower.get(name, ""))
    head = "\n".join(parts) + "\n"
    ocp = sorted((k, v) for k, v in lower.items() if k.startswith("ocp-"))
    head += "".join(f"{k}:{v}\n" for k, v in ocp)
    head += f"/{account}{path or '/'}"
    params: dict[str, str] = {}
    for name, value in query:
        params.setdefault(name, unquote(value))
    for name in sorted(params):
        if params[name]:
            head += f"\n{name}:{params[name]}"
    return head


def signature(key_b64: str, text: str) -> str:
    """base64(HMAC-SHA256(base64decode(key), text))."""
    try:
        key = base64.b64decode(key_b64, validate=True)
    except ValueError as exc:
        raise ValueError("the account key is not valid base64") from exc
    digest = hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def authorization_header(
    account: str,
    key_b64: str,
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
) -> str:
    """The value of the ``Authorization`` header for this request."""
    text = string_to_sign(method, account, path, query, headers)
    return f"SharedKey {account}:{signature(key_b64, text)}"


def verify(
    authorization: str | None,
    accounts: Mapping[str, str],
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
) -> bool:
    """True when ``authorization`` is a valid Shared Key signature by a known account."""
    if not authorization or not authorization.startswith("SharedKey "):
        return False
    account, _, sig = authorization[len("SharedKey ") :].partition(":")
    key = accounts.get(account)
    if key is None or not sig:
        return False
    expected = signature(key, string_to_sign(method, account, path, query, headers))
    # Headers arrive latin-1 decoded: a signature with other characters is simply wrong
    # (compare_digest refuses non-ASCII str, so compare bytes).
    return hmac.compare_digest(expected.encode(), sig.encode("utf-8", "surrogateescape"))
