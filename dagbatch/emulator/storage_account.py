"""The local pool's auto-storage account: the storage account a local run's
``autoStorageContainerName`` resource files read from (``local_pool_storage``), Azurite's
well-known development account, and the parsing of Azure Storage connection strings."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from dagbatch.redact import register_secret

#: Azurite's well-known development account (public, documented by Microsoft for the storage
#: emulator; local use only, never a secret).
AZURITE_ACCOUNT_NAME = "devstoreaccount1"
AZURITE_ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
#: Azurite's default blob port on 127.0.0.1.
AZURITE_BLOB_PORT = 10000


@dataclass(frozen=True)
class StorageAccount:
    """A storage account reached with its name and key: the "auto storage" account of the
    local pool, which ``autoStorageContainerName`` resource files read from.

    ``blob_endpoint`` is the account's blob service URL, e.g.
    ``https://NAME.blob.core.windows.net`` or Azurite's ``http://127.0.0.1:10000/devstoreaccount1``.
    The key is never shown (``repr`` leaves it out and ``redact`` masks it).
    """

    name: str
    key: str = field(repr=False)
    blob_endpoint: str

    def __post_init__(self) -> None:
        register_secret(self.key)

    @classmethod
    def from_connection_string(cls, connection_string: str) -> StorageAccount:
        """Parse an Azure Storage connection string (``AccountName``, ``AccountKey`` and
        ``BlobEndpoint`` or ``DefaultEndpointsProtocol`` + ``EndpointSuffix``), or
        ``UseDevelopmentStorage=true`` for Azurite on its default port.

        Raises ``ValueError`` saying what is missing; the message never holds the key.
        """
        parts: dict[str, str] = {}
        for number, item in enumerate(connection_string.strip().split(";"), 1):
            if not item.strip():
                continue
            name, sep, value = item.partition("=")
            if not sep:
                # The item itself is not shown: it may be (part of) the key.
                raise ValueError(f"connection string item {number} is not NAME=VALUE")
            parts[name.strip().lower()] = value.strip()
        if parts.get("usedevelopmentstorage", "").lower() == "true":
            return cls.azurite()
        name = parts.get("accountname", "")
        key = parts.get("accountkey", "")
        if not name or not key:
            raise ValueError(
                "the connection string needs AccountName and AccountKey (a SAS-only "
                "connection string cannot list an auto-storage container)"
            )
        endpoint = parts.get("blobendpoint", "")
        if not endpoint:
            protocol = parts.get("defaultendpointsprotocol", "https")
            suffix = parts.get("endpointsuffix", "core.windows.net")
            endpoint = f"{protocol}://{name}.blob.{suffix}"
        scheme = urlsplit(endpoint).scheme
        if scheme not in ("http", "https") or not urlsplit(endpoint).netloc:
            raise ValueError(f"BlobEndpoint must be an http(s) URL, got {endpoint!r}")
        return cls(name=name, key=key, blob_endpoint=endpoint.rstrip("/"))

    @classmethod
    def azurite(cls, blob_endpoint: str | None = None) -> StorageAccount:
        """Azurite's well-known development account at ``blob_endpoint`` (default
        ``http://127.0.0.1:10000/devstoreaccount1``)."""
        endpoint = blob_endpoint or f"http://127.0.0.1:{AZURITE_BLOB_PORT}/{AZURITE_ACCOUNT_NAME}"
        return cls(name=AZURITE_ACCOUNT_NAME, key=AZURITE_ACCOUNT_KEY, blob_endpoint=endpoint)

    @property
    def connection_string(self) -> str:
        """The connection string for this account (holds the key: never print it)."""
        scheme = urlsplit(self.blob_endpoint).scheme
        return (
            f"DefaultEndpointsProtocol={scheme};AccountName={self.name};"
            f"AccountKey={self.key};BlobEndpoint={self.blob_endpoint};"
        )

    def container_url(self, container: str) -> str:
        """The container's URL (no SAS)."""
        return f"{self.blob_endpoint}/{container}"


def azurite_blob_endpoint(port: int = AZURITE_BLOB_PORT, host: str = "127.0.0.1") -> str:
    """Azurite's blob endpoint for its development account (path-style URL)."""
    return f"http://{host}:{port}/{AZURITE_ACCOUNT_NAME}"


def detect_azurite(port: int = AZURITE_BLOB_PORT, timeout_s: float = 0.2) -> StorageAccount | None:
    """Azurite's development account if something listens on 127.0.0.1:``port``, else None:
    the local pool's auto storage when no connection string was given."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s):
            return StorageAccount.azurite(azurite_blob_endpoint(port))
    except OSError:
        return None


#: The environment variable of the Azure CLI (and the SDK samples) for a storage account.
CONNECTION_STRING_ENV = "AZURE_STORAGE_CONNECTION_STRING"


def local_pool_storage(configured: StorageAccount | None) -> StorageAccount | None:
    """The auto-storage account a local run uses: the configured one (``dagbatch emulator
    --storage-connection-string``), else the account of ``$AZURE_STORAGE_CONNECTION_STRING``,
    else Azurite's development account when Azurite listens on its default port, else None
    (then ``autoStorageContainerName`` fails the task). Raises ``ValueError`` for a malformed
    connection string in the environment."""
    if configured is not None:
        return configured
    from_env = os.environ.get(CONNECTION_STRING_ENV, "").strip()
    if from_env:
        return StorageAccount.from_connection_string(from_env)
    return detect_azurite()


__all__ = [
    "AZURITE_ACCOUNT_KEY",
    "AZURITE_ACCOUNT_NAME",
    "AZURITE_BLOB_PORT",
    "CONNECTION_STRING_ENV",
    "StorageAccount",
    "azurite_blob_endpoint",
    "detect_azurite",
    "local_pool_storage",
]
