"""Access tokens from the managed identity endpoint of Azure Functions (and App Service), for the
small Table client on a function's cold path (:mod:`adapters.azure.lite`).

The generated infrastructure gives the Function App a user-assigned managed identity and no
storage key, so the first message's claim and result need a token. azure-identity's
``ManagedIdentityCredential`` would import azure-core, msal and requests first (the imports
:mod:`adapters.azure.lite` exists to avoid, about 170 ms); the platform's endpoint is one GET:

``GET {IDENTITY_ENDPOINT}?resource=https://storage.azure.com/&api-version=2019-08-01
[&client_id=ID]`` with the header ``X-IDENTITY-HEADER: {IDENTITY_HEADER}``; the answer's
``access_token`` is valid until ``expires_on`` (seconds since the epoch). The platform sets both
environment variables in the app's process.
https://learn.microsoft.com/en-us/azure/app-service/overview-managed-identity#rest-endpoint-reference

Tokens are cached and fetched again five minutes before they expire.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from urllib.parse import urlencode, urlsplit

from dispatcher.errors import BackendUnavailable

ENDPOINT_ENV = "IDENTITY_ENDPOINT"
HEADER_ENV = "IDENTITY_HEADER"
#: The audience of Azure Storage's tokens (blobs, queues and tables alike).
STORAGE = "https://storage.azure.com/"
API_VERSION = "2019-08-01"
#: Seconds before its expiry a token is replaced.
REFRESH_MARGIN = 300.0
TIMEOUT = 10.0


class ManagedIdentityTokens:
    """Storage tokens of the app's managed identity (the user-assigned one ``client_id`` names,
    or the only one), from the endpoint at ``endpoint`` with the secret header value
    ``header``."""

    def __init__(
        self,
        endpoint: str,
        header: str,
        client_id: str | None = None,
        *,
        resource: str = STORAGE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.endpoint, self.header, self.client_id = endpoint, header, client_id
        self.resource, self.clock = resource, clock
        self._token: tuple[str, float] | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_environment(
        cls, client_id: str | None, environ: Mapping[str, str] | None = None
    ) -> ManagedIdentityTokens | None:
        """The platform's endpoint, if this process runs where there is one."""
        env = os.environ if environ is None else environ
        endpoint, header = env.get(ENDPOINT_ENV), env.get(HEADER_ENV)
        if not endpoint or not header:
            return None
        return cls(endpoint, header, client_id)

    def token(self) -> str:
        """A token valid for at least a few more minutes."""
        with self._lock:
            if self._token is None or self._token[1] - REFRESH_MARGIN <= self.clock():
                self._token = self._fetch()
            return self._token[0]

    def _fetch(self) -> tuple[str, float]:
        import http.client

        query = {"resource": self.resource, "api-version": API_VERSION}
        if self.client_id:
            query["client_id"] = self.client_id
        url = urlsplit(self.endpoint)
        kind = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        connection = kind(url.hostname or "", url.port, timeout=TIMEOUT)
        try:
            connection.request(
                "GET",
                f"{url.path or '/'}?{urlencode(query)}",
                headers={"X-IDENTITY-HEADER": self.header, "Accept": "application/json"},
            )
            response = connection.getresponse()
            data = response.read()
        except OSError as error:
            raise BackendUnavailable(
                f"cannot reach the managed identity endpoint {self.endpoint}: {error}"
            ) from error
        finally:
            connection.close()
        if response.status != 200:
            detail = data.decode(errors="replace")[:300]
            raise BackendUnavailable(
                f"the managed identity endpoint refused a storage token "
                f"({response.status}): {detail}"
            )
        try:
            answer = json.loads(data)
            return str(answer["access_token"]), float(answer["expires_on"])
        except (ValueError, KeyError, TypeError) as error:
            raise BackendUnavailable(
                f"the managed identity endpoint answered without a token: {error}"
            ) from error
