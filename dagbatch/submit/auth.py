"""Authentication for the Batch data plane: Shared Key (account key) and Microsoft Entra ID.

An ``Auth`` gives the headers of one request attempt (``headers_for``: from the method, the
path and query as sent and the request's headers, so both of ``BatchClient``'s HTTP paths,
httpx and ``dagbatch.submit.http11``, sign the same canonical string); ``BatchClient`` calls
it for every attempt, so each gets a fresh ``ocp-date`` and signature (the signing itself is
``dagbatch.signing``, shared with the emulator). ``apply`` does the same to an
``httpx.Request``. Secrets are registered with
``dagbatch.redact`` as soon as they are known.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from dagbatch import signing
from dagbatch.errors import AuthenticationError, ConfigError
from dagbatch.redact import redact, register_secret

#: Scope of the Batch data plane for Microsoft Entra ID tokens (the double slash is intended).
ENTRA_SCOPE = "https://batch.core.windows.net//.default"


class Auth(Protocol):
    """The authentication headers of a request about to be sent."""

    async def headers_for(
        self,
        method: str,
        path: str,
        query: Iterable[tuple[str, str]],
        headers: Mapping[str, str],
    ) -> dict[str, str]:
        """The headers to add (``ocp-date``, ``Authorization``) to the request ``method``
        ``path`` (as sent, without the query) with ``query`` (name, value as sent) and
        ``headers`` (every other header it carries, ``Content-Length`` included)."""
        ...

    async def apply(self, request: httpx.Request) -> None:
        """Add those headers to an httpx request."""
        ...


async def apply_to(auth: Auth, request: httpx.Request) -> None:
    """Add ``auth``'s headers to an httpx request (signed over its path, query, headers)."""
    path = request.url.raw_path.split(b"?", 1)[0].decode("ascii")
    request.headers.update(
        await auth.headers_for(
            request.method, path, request.url.params.multi_items(), request.headers
        )
    )


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

    async def headers_for(
        self,
        method: str,
        path: str,
        query: Iterable[tuple[str, str]],
        headers: Mapping[str, str],
    ) -> dict[str, str]:
        date = signing.rfc1123_now()
        signed = {**headers, "ocp-date": date}
        return {
            "ocp-date": date,
            "Authorization": signing.authorization_header(
                self.account, self.key, method, path, query, signed
            ),
        }

    async def apply(self, request: httpx.Request) -> None:
        await apply_to(self, request)


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
        self._fetching: asyncio.Future[Any] | None = None  # a get_token begun by prefetch

    def _expiring(self) -> bool:
        return self._token is None or time.time() > self._expires_on - 300

    def _fetch(self) -> asyncio.Future[Any]:
        """``get_token`` in a thread of its own, begun now (the credential's network call, or
        a process such as the Azure CLI: from a fraction of a second to a few). A daemon
        thread, not the loop's executor: a command that fails before it needs the token (a
        plan that does not load) exits at once instead of waiting for it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()

        def settle(outcome: Callable[[Any], None], value: Any) -> None:
            def apply() -> None:
                if not future.done():
                    outcome(value)

            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                loop.call_soon_threadsafe(apply)

        def fetch() -> None:
            try:
                token = self._credential.get_token(self._scope)
            except BaseException as exc:  # raised where the token is awaited
                settle(future.set_exception, exc)
            else:
                settle(future.set_result, token)

        threading.Thread(target=fetch, name="dagbatch-entra-token", daemon=True).start()
        return future

    def prefetch(self) -> None:
        """Begin getting a token now, in a worker thread, when the first request will need
        one: its fetch then overlaps whatever the caller does meanwhile (loading a plan); the
        first ``headers_for`` awaits it instead of starting its own. Needs a running loop."""
        if self._fetching is None and self._expiring():
            self._fetching = self._fetch()
            # Read if nothing else does (the caller may stop before its first request).
            self._fetching.add_done_callback(_retrieved)

    async def headers_for(
        self,
        method: str,
        path: str,
        query: Iterable[tuple[str, str]],
        headers: Mapping[str, str],
    ) -> dict[str, str]:
        async with self._lock:
            if self._expiring():
                fetching, self._fetching = self._fetching, None
                try:
                    token = await (fetching or self._fetch())
                except Exception as exc:
                    raise AuthenticationError(
                        f"could not get a Microsoft Entra ID token: {redact(str(exc))}"
                    ) from exc
                register_secret(token.token)
                self._token = token.token
                self._expires_on = float(token.expires_on)
        return {"ocp-date": signing.rfc1123_now(), "Authorization": f"Bearer {self._token}"}

    async def apply(self, request: httpx.Request) -> None:
        await apply_to(self, request)


def _retrieved(future: asyncio.Future[Any]) -> None:
    """Mark a background fetch's outcome as read: a failure is raised where the token is
    awaited, or not at all when nothing needed it."""
    if not future.cancelled():
        future.exception()
