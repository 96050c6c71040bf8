"""Where the Azure backend talks to: the storage account, its endpoints and its key, from the
backend spec and the environment.

Specs: ``azure`` (everything from a connection string) or ``azure://ACCOUNT``. The connection
string comes from ``AZURE_STORAGE_CONNECTION_STRING``, else ``AzureWebJobsStorage`` (the setting a
Function App already has, and the one its queue triggers use). Without a connection string,
``azure://ACCOUNT`` reaches ``https://ACCOUNT.<service>.core.windows.net`` with the key in
``AZURE_STORAGE_KEY`` or, without one, an Azure AD identity (``DefaultAzureCredential``: a
managed identity on Azure). Azurite's development account works through its connection string
(``UseDevelopmentStorage=true`` or the full one ``dispatcher emulate azure`` prints).

A Function App whose storage connection is identity-based (what the generated infrastructure
makes: no account key at all) has no ``AzureWebJobsStorage`` but the settings under its prefix,
``AzureWebJobsStorage__accountName`` (or a ``__queueServiceUri`` and the other service URIs)
and, for a user-assigned managed identity, ``AzureWebJobsStorage__clientId``; the spec
``azure`` then reads those, as the Functions host does:
https://learn.microsoft.com/en-us/azure/azure-functions/functions-reference#connecting-to-host-storage-with-an-identity

``DISPATCHER_STAGE`` names the deployment's stage, which every resource name follows
(:mod:`adapters.azure.names`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import NamedTuple
from urllib.parse import urlsplit

from adapters.azure.names import STAGE_ENV, check_stage
from dispatcher.errors import BackendNotConfigured

#: Environment variables holding a connection string, in the order they are read.
CONNECTION_ENVS = ("AZURE_STORAGE_CONNECTION_STRING", "AzureWebJobsStorage")
#: The account key used with ``azure://ACCOUNT`` when there is no connection string.
KEY_ENV = "AZURE_STORAGE_KEY"
#: The app setting the generated queue triggers read their connection from.
FUNCTIONS_CONNECTION = "AzureWebJobsStorage"
#: The settings of an identity-based connection: ``AzureWebJobsStorage__accountName``...
IDENTITY_ACCOUNT = "__accountName"
IDENTITY_CLIENT_ID = "__clientId"
IDENTITY_CREDENTIAL = "__credential"

#: Azurite's well-known development account (public: it is in Microsoft's documentation).
#: https://learn.microsoft.com/en-us/azure/storage/common/storage-use-azurite#well-known-storage-account-and-key
DEVELOPMENT_ACCOUNT = "devstoreaccount1"
DEVELOPMENT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
_DEVELOPMENT_PORTS = {"blob": 10000, "queue": 10001, "table": 10002}
#: Storage account names: 3-24 lower-case letters and digits.
#: https://learn.microsoft.com/en-us/azure/azure-resource-manager/management/resource-name-rules#microsoftstorage
_ACCOUNT = re.compile(r"^[a-z0-9]{3,24}$")
SERVICES = ("queue", "blob", "table")


class AzureConfig(NamedTuple):
    """The account, its service endpoints (``https://ACCOUNT.queue.core.windows.net`` or
    Azurite's ``http://127.0.0.1:PORT/devstoreaccount1``) and how to sign in: a connection
    string, an account key, or neither (an Azure AD identity)."""

    account: str
    queue_url: str
    blob_url: str
    table_url: str
    connection_string: str | None = None
    key: str | None = None
    client_id: str | None = None
    stage: str | None = None

    @classmethod
    def from_spec(cls, spec: str, environ: Mapping[str, str] | None = None) -> AzureConfig:
        """``azure`` or ``azure://ACCOUNT``, completed by the environment (see the module)."""
        env = os.environ if environ is None else environ
        scheme, _, rest = spec.partition(":")
        if scheme.strip().lower() != "azure":
            raise BackendNotConfigured(f"not an Azure backend spec: {spec!r}")
        try:
            stage = check_stage(env.get(STAGE_ENV, "").strip())
        except ValueError as error:  # dispatcher.naming.InvalidStage
            raise BackendNotConfigured(f"{STAGE_ENV}: {error}") from None
        account = rest.removeprefix("//").strip("/ ")
        connection = next((env[name] for name in CONNECTION_ENVS if env.get(name)), None)
        if connection:
            config = cls.from_connection_string(connection)
            if account and account != config.account:
                raise BackendNotConfigured(
                    f"the backend spec names storage account {account!r} but the connection "
                    f"string in the environment is for {config.account!r}"
                )
            return config._replace(stage=stage)
        identity = _identity_connection(env)
        if identity is not None:
            if account and account != identity.account:
                raise BackendNotConfigured(
                    f"the backend spec names storage account {account!r} but "
                    f"{FUNCTIONS_CONNECTION}{IDENTITY_ACCOUNT} is {identity.account!r}"
                )
            return identity._replace(stage=stage)
        if not account:
            raise BackendNotConfigured(
                "no Azure storage account: use the backend spec azure://ACCOUNT or set "
                "AZURE_STORAGE_CONNECTION_STRING"
            )
        _check_account(account)
        urls = {s: f"https://{account}.{s}.core.windows.net" for s in SERVICES}
        return cls(
            account, urls["queue"], urls["blob"], urls["table"], key=env.get(KEY_ENV), stage=stage
        )

    @classmethod
    def from_connection_string(cls, connection: str) -> AzureConfig:
        """Read a storage connection string (``UseDevelopmentStorage=true`` included)."""
        settings = parse_connection_string(connection)
        if settings.get("usedevelopmentstorage", "").lower() == "true":
            proxy = settings.get("developmentstorageproxyuri", "http://127.0.0.1").rstrip("/")
            urls = {
                s: f"{proxy}:{port}/{DEVELOPMENT_ACCOUNT}" for s, port in _DEVELOPMENT_PORTS.items()
            }
            return cls(
                DEVELOPMENT_ACCOUNT,
                urls["queue"],
                urls["blob"],
                urls["table"],
                connection_string=development_connection_string(urls),
                key=DEVELOPMENT_KEY,
            )
        account = settings.get("accountname", "")
        if not account:
            raise BackendNotConfigured("the Azure storage connection string has no AccountName")
        protocol = settings.get("defaultendpointsprotocol", "https")
        suffix = settings.get("endpointsuffix", "core.windows.net")
        urls = {
            s: settings.get(f"{s}endpoint", f"{protocol}://{account}.{s}.{suffix}").rstrip("/")
            for s in SERVICES
        }
        return cls(
            account,
            urls["queue"],
            urls["blob"],
            urls["table"],
            connection_string=connection,
            key=settings.get("accountkey"),
        )


def parse_connection_string(connection: str) -> dict[str, str]:
    """``Key=Value;...`` pairs with lower-cased keys (values may contain ``=``)."""
    settings: dict[str, str] = {}
    for part in connection.split(";"):
        key, sep, value = part.strip().partition("=")
        if not key:
            continue
        if not sep:
            raise BackendNotConfigured(
                f"the Azure storage connection string has a part without '=': {key[:20]!r}"
            )
        settings[key.strip().lower()] = value.strip()
    return settings


def development_connection_string(urls: Mapping[str, str]) -> str:
    """The connection string of Azurite's development account at ``urls`` (by service)."""
    return (
        f"DefaultEndpointsProtocol=http;AccountName={DEVELOPMENT_ACCOUNT};"
        f"AccountKey={DEVELOPMENT_KEY};"
        f"BlobEndpoint={urls['blob']};QueueEndpoint={urls['queue']};TableEndpoint={urls['table']};"
    )


def _identity_connection(env: Mapping[str, str]) -> AzureConfig | None:
    """The Function App's identity-based ``AzureWebJobsStorage__*`` settings, if it has them:
    an account name or service URIs, and the client id of a user-assigned identity."""
    setting = FUNCTIONS_CONNECTION
    account = env.get(setting + IDENTITY_ACCOUNT, "").strip()
    uris = {s: env.get(f"{setting}__{s}ServiceUri", "").strip().rstrip("/") for s in SERVICES}
    if not account and not any(uris.values()):
        return None
    if not account:
        host = urlsplit(next(u for u in uris.values() if u)).hostname or ""
        account = host.split(".", 1)[0]
    _check_account(account)
    urls = {s: uris[s] or f"https://{account}.{s}.core.windows.net" for s in SERVICES}
    client_id = env.get(setting + IDENTITY_CLIENT_ID, "").strip() or None
    return AzureConfig(account, urls["queue"], urls["blob"], urls["table"], client_id=client_id)


def _check_account(account: str) -> None:
    if not _ACCOUNT.match(account):
        raise BackendNotConfigured(
            f"{account!r} is not a storage account name (3 to 24 lower-case letters and digits)"
        )
