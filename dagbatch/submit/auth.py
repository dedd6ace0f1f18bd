"""Authentication for the Batch data plane: Shared Key (account key) and Microsoft Entra ID.

An ``Auth`` adds the headers to one request attempt; ``BatchClient`` calls it for every
attempt, so each gets a fresh ``ocp-date`` and signature (the signing itself is
``dagbatch.signing``, shared with the emulator). Secrets are registered with
``dagbatch.redact`` as soon as they are known.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from dagbatch import signing
from dagbatch.errors import AuthenticationError, ConfigError
from dagbatch.redact import redact, register_secret

#: Scope of the Batch data plane for Microsoft Entra ID tokens (the double slash is intended).
ENTRA_SCOPE = "https://batch.core.windows.net//.default"


class Auth(Protocol):
    """Adds the authentication headers to a request about to be sent."""

    async def apply(self, request: httpx.Request) -> None: ...


@dataclass(frozen=True)
class SharedKeyAuth:
    """Shared Key: ``Authorization: SharedKey {account}:{signature}``, signed per attempt."""

    account: str
    key: str = field(repr=False)

    def __post_init__(self) -> None:
        register_secret(self.key)
        try:
            signing.signature(self.key, "")
        except ValueError as exc:
            raise ConfigError(
                "the account key is not valid base64: check AZURE_BATCH_ACCESS_KEY"
            ) from exc

    async def apply(self, request: httpx.Request) -> None:
        request.headers["ocp-date"] = signing.rfc1123_now()
        path = request.url.raw_path.split(b"?", 1)[0].decode("ascii")
        query = request.url.params.multi_items()
        request.headers["Authorization"] = signing.authorization_header(
            self.account, self.key, request.method, path, query, dict(request.headers)
        )


class EntraAuth:
    """Microsoft Entra ID bearer tokens from azure-identity (the ``dagbatch[entra]`` extra)."""

    def __init__(self, credential: Any = None, *, scope: str = ENTRA_SCOPE):
        if credential is None:
            try:
                from azure.identity import DefaultAzureCredential
            except ImportError as exc:
                raise ConfigError(
                    "--auth entra needs azure-identity: pip install 'dagbatch[entra]'"
                ) from exc
            credential = DefaultAzureCredential()
        self._credential = credential
        self._scope = scope
        self._token: str | None = None
        self._expires_on = 0.0
        self._lock = asyncio.Lock()

    async def apply(self, request: httpx.Request) -> None:
        async with self._lock:
            if self._token is None or time.time() > self._expires_on - 300:
                try:
                    token = await asyncio.to_thread(self._credential.get_token, self._scope)
                except Exception as exc:
                    raise AuthenticationError(
                        f"could not get a Microsoft Entra ID token: {redact(str(exc))}"
                    ) from exc
                register_secret(token.token)
                self._token = token.token
                self._expires_on = float(token.expires_on)
        request.headers["ocp-date"] = signing.rfc1123_now()
        request.headers["Authorization"] = f"Bearer {self._token}"
