"""The error for an Entra ID token that could not be had (``dagbatch.submit.auth.
entra_token_error``), through azure-identity's real credential chain with credentials of the
test's own (no network): none set up is a ``ConfigError`` (exit 2) saying how to give one; a
credential that was found and failed is an ``AuthenticationError`` (exit 3) saying why."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dagbatch.cli.exit_codes import ExitCode, exit_code_of
from dagbatch.errors import AuthenticationError, ConfigError, DagbatchError
from dagbatch.submit.auth import EntraAuth

identity = pytest.importorskip("azure.identity")
core_exceptions = pytest.importorskip("azure.core.exceptions")


class Unavailable:
    """A credential that is not set up here."""

    def __init__(self, why: str) -> None:
        self.why = why

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        raise identity.CredentialUnavailableError(message=self.why)


class Refused:
    """A credential that is set up and whose sign-in fails."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        raise core_exceptions.ClientAuthenticationError(message="AADSTS7000215: invalid secret")


def token_error(credential: Any) -> DagbatchError:
    async def headers() -> None:
        await EntraAuth(credential).headers_for("GET", "/jobs", [], {})

    with pytest.raises(DagbatchError) as info:
        asyncio.run(headers())
    return info.value


def test_a_chain_with_nothing_set_up_is_a_config_error_saying_how() -> None:
    chain = identity.ChainedTokenCredential(
        Unavailable("no environment variables"), Unavailable("Azure CLI not found on path")
    )
    error = token_error(chain)
    assert isinstance(error, ConfigError)
    assert exit_code_of(error) == ExitCode.USAGE
    text = str(error)
    assert text.startswith("no Microsoft Entra ID credential was found (--auth entra)")
    assert "az login" in text and "--auth sharedkey" in text
    assert "tried, none set up here: Unavailable, Unavailable" in text
    assert "\n" not in text


def test_a_credential_that_fails_is_an_authentication_error_naming_why() -> None:
    chain = identity.ChainedTokenCredential(
        Unavailable("no environment variables"), Refused(), Unavailable("never asked")
    )
    error = token_error(chain)
    assert isinstance(error, AuthenticationError)
    assert exit_code_of(error) == ExitCode.INCOMPLETE
    assert str(error) == (
        "could not get a Microsoft Entra ID token: Refused: AADSTS7000215: invalid secret"
    )


def test_a_single_unavailable_credential_is_a_config_error() -> None:
    error = token_error(Unavailable("Azure CLI not found on path"))
    assert isinstance(error, ConfigError)
    assert "az login" in str(error)


def test_any_other_failure_keeps_its_message() -> None:
    class Broken:
        def get_token(self, *scopes: str, **kwargs: Any) -> Any:
            raise RuntimeError("token endpoint said 500")

    error = token_error(Broken())
    assert isinstance(error, AuthenticationError)
    assert str(error) == "could not get a Microsoft Entra ID token: token endpoint said 500"
