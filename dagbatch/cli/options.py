"""Options shared by the commands that talk to a Batch account (`submit`, `status`, `watch`,
`rerun`, `finish`): the endpoint and credentials, declared once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from dagbatch.submit.client import BatchClient, connect

F = TypeVar("F", bound=Callable[..., Any])


def service_options(command: F) -> F:
    """Add ``--endpoint``, ``--account``, ``--account-key`` and ``--auth`` (as ``auth_kind``)."""
    decorators = [
        click.option(
            "--endpoint",
            envvar="AZURE_BATCH_ENDPOINT",
            help="Batch account URL, e.g. https://acct.region.batch.azure.com "
            "[env AZURE_BATCH_ENDPOINT].",
        ),
        click.option(
            "--account",
            envvar="AZURE_BATCH_ACCOUNT",
            help="Account name [env AZURE_BATCH_ACCOUNT].",
        ),
        click.option(
            "--account-key",
            envvar="AZURE_BATCH_ACCESS_KEY",
            show_default=False,
            help="Account key; prefer the environment variable AZURE_BATCH_ACCESS_KEY.",
        ),
        click.option(
            "--auth",
            "auth_kind",
            type=click.Choice(["sharedkey", "entra"]),
            default="sharedkey",
            show_default=True,
            help="Shared Key (account key) or Microsoft Entra ID (needs dagbatch[entra]).",
        ),
    ]
    for decorate in reversed(decorators):
        command = decorate(command)
    return command


def client_from_options(
    endpoint: str | None,
    account: str | None,
    account_key: str | None,
    auth_kind: str,
    **options: Any,
) -> BatchClient:
    """The client the service options describe (``ConfigError`` says what is missing)."""
    return connect(endpoint, account, account_key, auth=auth_kind, **options)
