"""A small Table storage client for a function's cold path: the five entity operations of
:class:`~adapters.azure.tables.Entities` over ``http.client``, signed with the account key
(Shared Key Lite) or with a managed identity's bearer token
(:class:`~adapters.azure.identity.ManagedIdentityTokens`, what the generated infrastructure
gives the Function App).

Why not azure-data-tables: on a cold start it imports azure-core, requests and urllib3, about
170 ms on our machines, where the Functions worker has already imported ``http.client``,
``ssl`` and ``email`` (through azure-functions); the benchmark
``azure_cold_start_vs_bare_function`` measures the difference. The function uses this client
when its connection string carries an account key or the platform's managed identity endpoint
is there, and the SDK otherwise (another Entra credential). Everything else (queues, blobs,
dead letters) uses the SDKs.

The REST calls, the signature and the bearer token (version 2019-02-02 or later):
https://learn.microsoft.com/en-us/rest/api/storageservices/table-service-rest-api,
https://learn.microsoft.com/en-us/rest/api/storageservices/authorize-with-shared-key#shared-key-lite-and-table-service-format-for-2009-09-19-and-later
and https://learn.microsoft.com/en-us/rest/api/storageservices/authorize-with-azure-active-directory
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Mapping
from email.utils import formatdate
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from adapters.azure.errors import NOT_FOUND

if TYPE_CHECKING:
    from http.client import HTTPConnection

    from adapters.azure.config import AzureConfig
    from adapters.azure.identity import ManagedIdentityTokens

API_VERSION = "2019-02-02"
TIMEOUT = 30.0
_JSON = "application/json;odata=nometadata"


class TableRequestFailed(Exception):
    """A Table storage request answered with an error status (``status_code``, ``error_code``:
    what :mod:`adapters.azure.errors` reads)."""

    def __init__(self, status_code: int, error_code: str, message: str) -> None:
        self.status_code, self.error_code = status_code, error_code
        super().__init__(f"{status_code} {error_code}: {message}")


class TableConnectionError(Exception):
    """Table storage could not be reached (twice)."""


class LiteEntities:
    """:class:`~adapters.azure.tables.Entities` of table ``table``, over one keep-alive
    connection per thread, signed with the account key or, without one, ``tokens``."""

    def __init__(
        self, config: AzureConfig, table: str, tokens: ManagedIdentityTokens | None = None
    ) -> None:
        if not config.key and tokens is None:
            raise ValueError(
                "the small Table client signs with the account key or a managed identity's "
                "token; there is neither"
            )
        self.account, self.table, self.tokens = config.account, table, tokens
        self.key = base64.b64decode(config.key) if config.key else b""
        url = urlsplit(config.table_url)
        self.secure = url.scheme == "https"
        self.host = url.hostname or ""
        self.port = url.port or (443 if self.secure else 80)
        self.base = url.path.rstrip("/")
        self._local = threading.local()

    # --- the five operations -----------------------------------------------------------------

    def insert(self, entity: Mapping[str, Any]) -> None:
        """Insert Entity (409 if it exists)."""
        self._request("POST", f"/{self.table}", body=entity, expect=(201, 204))

    def read(self, partition: str, row: str) -> tuple[dict[str, Any], str] | None:
        """Query Entity by its keys; ``None`` when there is none."""
        try:
            _, headers, data = self._request("GET", self._path(partition, row))
        except TableRequestFailed as error:
            if error.status_code == NOT_FOUND:
                return None
            raise
        return _entity(data), headers.get("etag", "")

    def replace(self, entity: Mapping[str, Any], etag: str | None = None) -> None:
        """Update Entity conditioned on ``etag`` (412 if it changed), or Insert Or Replace."""
        path = self._path(str(entity["PartitionKey"]), str(entity["RowKey"]))
        extra = {"If-Match": etag} if etag is not None else {}
        self._request("PUT", path, body=entity, headers=extra)

    def delete(self, partition: str, row: str) -> None:
        """Delete Entity (a missing one is fine)."""
        try:
            self._request("DELETE", self._path(partition, row), headers={"If-Match": "*"})
        except TableRequestFailed as error:
            if error.status_code != NOT_FOUND:
                raise

    def partition(self, partition: str) -> list[dict[str, Any]]:
        """Query Entities of one partition, following continuation tokens."""
        found: list[dict[str, Any]] = []
        filter_ = quote(f"PartitionKey eq '{_quoted(partition)}'", safe="")
        token: dict[str, str] = {}
        while True:
            query = f"$filter={filter_}" + "".join(
                f"&{name}={quote(value, safe='')}" for name, value in token.items()
            )
            _, headers, data = self._request("GET", f"/{self.table}()?{query}")
            found += [_entity(item) for item in json.loads(data or b"{}").get("value", [])]
            token = {
                name: headers[header]
                for name, header in (
                    ("NextPartitionKey", "x-ms-continuation-nextpartitionkey"),
                    ("NextRowKey", "x-ms-continuation-nextrowkey"),
                )
                if headers.get(header)
            }
            if not token:
                return found

    # --- the wire ----------------------------------------------------------------------------

    def _path(self, partition: str, row: str) -> str:
        keys = f"(PartitionKey='{_quoted(partition)}',RowKey='{_quoted(row)}')"
        return f"/{self.table}" + quote(keys, safe="()=,'")

    def _request(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        expect: tuple[int, ...] = (200, 204),
    ) -> tuple[int, dict[str, str], bytes]:
        full = self.base + path
        date = formatdate(usegmt=True)
        sent = {
            "x-ms-date": date,
            "x-ms-version": API_VERSION,
            "Accept": _JSON,
            "DataServiceVersion": "3.0;NetFx",
            "MaxDataServiceVersion": "3.0;NetFx",
            "Authorization": self._authorization(date, full),
            **(headers or {}),
        }
        payload = None
        if body is not None:
            payload = json.dumps(dict(body), separators=(",", ":")).encode()
            sent["Content-Type"] = "application/json"
            sent["Prefer"] = "return-no-content"
        for attempt in (1, 2):  # a kept-alive connection the server closed: once more, fresh
            connection = self._connection()
            try:
                connection.request(method, full, body=payload, headers=sent)
                response = connection.getresponse()
                data = response.read()
            except (ConnectionError, OSError) as error:
                self._drop()
                if attempt == 2:
                    raise TableConnectionError(
                        f"cannot reach Table storage at {self.host}:{self.port}: {error}"
                    ) from error
                continue
            answer = {name.lower(): value for name, value in response.getheaders()}
            if response.status in expect:
                return response.status, answer, data
            raise _failure(response.status, data)
        raise AssertionError("unreachable")

    def _authorization(self, date: str, full: str) -> str:
        if self.tokens is not None and not self.key:
            return f"Bearer {self.tokens.token()}"
        resource = f"/{self.account}{full.split('?', 1)[0]}"
        signature = hmac.new(self.key, f"{date}\n{resource}".encode(), hashlib.sha256)
        return f"SharedKeyLite {self.account}:" + base64.b64encode(signature.digest()).decode()

    def _connection(self) -> HTTPConnection:
        connection: HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is None:
            import http.client

            kind = http.client.HTTPSConnection if self.secure else http.client.HTTPConnection
            connection = self._local.connection = kind(self.host, self.port, timeout=TIMEOUT)
        return connection

    def _drop(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            connection.close()

    def close(self) -> None:
        """Close this thread's connection."""
        self._drop()


def _quoted(key: str) -> str:
    """A key inside single quotes of an OData literal."""
    return key.replace("'", "''")


def _entity(data: bytes | dict[str, Any]) -> dict[str, Any]:
    found = json.loads(data) if isinstance(data, bytes) else dict(data)
    return {k: v for k, v in found.items() if not k.startswith(("odata.", "@odata"))}


def _failure(status: int, data: bytes) -> TableRequestFailed:
    code, message = "", data.decode(errors="replace")[:300]
    try:
        error = json.loads(data)["odata.error"]
        code, message = str(error.get("code", "")), str(error.get("message", {}).get("value", ""))
    except (ValueError, KeyError, TypeError, AttributeError):
        pass
    return TableRequestFailed(status, code, message.splitlines()[0] if message else "")
