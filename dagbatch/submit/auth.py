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
from dagbatch.errors import AuthenticationError, ConfigError, DagbatchError
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
                    raise entra_token_error(exc, self._credential) from exc
                register_secret(token.token)
                self._token = token.token
                self._expires_on = float(token.expires_on)
        return {"ocp-date": signing.rfc1123_now(), "Authorization": f"Bearer {self._token}"}

    async def apply(self, request: httpx.Request) -> None:
        await apply_to(self, request)


#: How to give ``--auth entra`` a credential: the end of the error when none was found.
ENTRA_HOW = (
    "sign in with `az login` (the Azure CLI), or set AZURE_TENANT_ID, AZURE_CLIENT_ID and "
    "AZURE_CLIENT_SECRET for a service principal, or run on Azure with a managed identity; "
    "or use --auth sharedkey with AZURE_BATCH_ACCOUNT and AZURE_BATCH_ACCESS_KEY"
)

#: The line before the list of credentials a failed azure-identity chain tried.
_CHAIN_ATTEMPTS = "Attempted credentials:"


def chain_attempts(message: str) -> list[str]:
    """The credentials a failed azure-identity chain (``DefaultAzureCredential``) tried, as
    its error lists them: one ``Name: why`` for each (the first line of the reason)."""
    _, found, listing = message.partition(_CHAIN_ATTEMPTS)
    if not found:
        return []
    return [line.strip() for line in listing.splitlines() if line.startswith("\t")]


def entra_token_error(exc: BaseException, credential: Any) -> DagbatchError:
    """The one error for a credential's ``get_token`` that failed: what to do about it,
    without the chain's full text (azure-identity also logs that text; the CLI keeps its log
    off the screen, so it is not printed twice).

    ``ConfigError`` (exit 2, like a missing account key) when there is no credential to use:
    the credential said it is unavailable (``CredentialUnavailableError``), or a chain such as
    ``DefaultAzureCredential`` tried every one of its credentials (a chain stops at the first
    that fails for any other reason). ``AuthenticationError`` (exit 3) when a credential was
    found and failed: the chain's last attempt says why. (The chain's error does not say
    which attempts were "unavailable": a failure of its very last credential reads as none
    set up. For ``DefaultAzureCredential`` that is the Windows broker.)"""
    text = redact(str(exc))
    attempts = chain_attempts(text)
    chain = getattr(credential, "credentials", None)
    unavailable = type(exc).__name__ == "CredentialUnavailableError" or (
        isinstance(chain, tuple | list) and attempts and len(attempts) >= len(chain)
    )
    if unavailable:
        names = ", ".join(line.split(":", 1)[0] for line in attempts)
        return ConfigError(
            f"no Microsoft Entra ID credential was found (--auth entra): {ENTRA_HOW}"
            + (f" (tried, none set up here: {names})" if names else "")
        )
    why = attempts[-1] if attempts else text
    return AuthenticationError(f"could not get a Microsoft Entra ID token: {why}")


def _retrieved(future: asyncio.Future[Any]) -> None:
    """Mark a background fetch's outcome as read: a failure is raised where the token is
    awaited, or not at all when nothing needed it."""
    if not future.cancelled():
        future.exception()
