"""A small client for the Cloud Storage JSON API, on the standard library.

The receiver's cold start is what a push waits for when Cloud Run starts an instance, and
``import google.cloud.storage`` alone costs it about 250 ms (it pulls google-api-core,
google-resumable-media, requests and their dependencies), more than the rest of the receiver;
the backend needs five object calls (download, upload with a generation precondition, delete,
list by prefix, read the metadata) and, to provision, creating a bucket with lifecycle rules.
:class:`StorageApi` makes exactly those over ``http.client`` with keep-alive connections (one
per thread), a timeout on every request, and retries only where a retry cannot change the
outcome (reads and listings, after a dropped connection, 429 or 5xx). Errors become
dispatcher errors, one line each; 412 becomes :class:`PreconditionFailed`.

Credentials: none on an emulator (``STORAGE_EMULATOR_HOST``); on Cloud Run (``K_SERVICE`` is
set) an access token from the metadata server, cached until shortly before it expires
(https://cloud.google.com/run/docs/securing/service-identity#access_tokens); elsewhere
google-auth's application default credentials, imported only then.

API reference: https://cloud.google.com/storage/docs/json_api/v1 (objects: get with
``alt=media``, insert with ``uploadType=multipart``, delete, list; buckets: insert, patch, get);
preconditions: https://cloud.google.com/storage/docs/request-preconditions.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import select
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, urlencode, urlsplit

from dispatcher.errors import (
    BackendError,
    BackendNotConfigured,
    BackendUnavailable,
    Throttled,
)

GOOGLE_STORAGE = "https://storage.googleapis.com"
#: Cloud Run's metadata server (``GCE_METADATA_HOST`` overrides it, as google-auth allows).
METADATA_HOST = "metadata.google.internal"
TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"
SCOPE = "https://www.googleapis.com/auth/devstorage.read_write"
#: Seconds a request may take (connecting, sending, each read).
TIMEOUT = 30.0
#: Attempts of a request that may be repeated, and the wait before each repeat.
ATTEMPTS = 3
BACKOFF = (0.1, 0.4)
#: A token is fetched again this many seconds before it expires.
TOKEN_MARGIN = 60.0
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: What a request on a connection the server had already closed fails with, before any answer.
_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


class PreconditionFailed(Exception):
    """The object exists (for a create-only write) or changed since it was read (412)."""


class AccessTokens(Protocol):
    """Where the ``Authorization`` header comes from."""

    def token(self) -> str | None:
        """A bearer token, or ``None`` to send none."""
        ...


class Anonymous:
    """No credentials (the GCS emulator)."""

    def token(self) -> str | None:
        """Nothing to send."""
        return None


class MetadataServer:
    """Access tokens of the service's own account, from the metadata server."""

    def __init__(self, host: str | None = None, *, clock: Callable[[], float] = time.monotonic):
        self.host = host or os.environ.get("GCE_METADATA_HOST") or METADATA_HOST
        self.clock = clock
        self._token: str | None = None
        self._until = 0.0
        self._lock = threading.Lock()

    def token(self) -> str | None:
        """The cached token, fetched again when it is about to expire."""
        if self._token is None or self.clock() >= self._until:
            with self._lock:
                if self._token is None or self.clock() >= self._until:
                    self._fetch()
        return self._token

    def _fetch(self) -> None:
        connection = http.client.HTTPConnection(self.host, timeout=5)
        try:
            connection.request("GET", TOKEN_PATH, headers={"Metadata-Flavor": "Google"})
            response = connection.getresponse()
            body = response.read()
        except OSError as error:
            raise BackendNotConfigured(f"cannot reach the metadata server: {error}") from None
        finally:
            connection.close()
        if response.status != 200:
            raise BackendNotConfigured(f"the metadata server answered {response.status}")
        answer = json.loads(body)
        self._token = str(answer["access_token"])
        self._until = self.clock() + float(answer.get("expires_in", 0)) - TOKEN_MARGIN


class ApplicationDefault:
    """google-auth's application default credentials (a developer's machine, a VM)."""

    def __init__(self) -> None:
        self._credentials: Any = None
        self._lock = threading.Lock()

    def token(self) -> str | None:
        """A valid token, refreshed by google-auth when needed."""
        with self._lock:
            if self._credentials is None:
                import google.auth

                self._credentials, _ = google.auth.default(scopes=[SCOPE])
            if not self._credentials.valid:
                from google.auth.transport.requests import Request

                self._credentials.refresh(Request())
            return str(self._credentials.token)


def default_tokens(emulated: bool) -> AccessTokens:
    """The credentials for where this runs (see the module)."""
    if emulated:
        return Anonymous()
    if os.environ.get("K_SERVICE"):
        return MetadataServer()
    return ApplicationDefault()


@dataclass(frozen=True, slots=True)
class Answer:
    """One response: status, headers (lowercase names) and body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class StorageApi:
    """The calls the backend makes to Cloud Storage (see the module)."""

    def __init__(
        self,
        endpoint: str = GOOGLE_STORAGE,
        tokens: AccessTokens | None = None,
        *,
        timeout: float = TIMEOUT,
    ) -> None:
        if "://" not in endpoint:
            endpoint = f"http://{endpoint}"
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BackendNotConfigured(f"{endpoint!r} is not a Cloud Storage endpoint URL")
        self.endpoint = endpoint.rstrip("/")
        self.scheme, self.host, self.port = parts.scheme, parts.hostname, parts.port
        self.tokens = tokens or Anonymous()
        self.timeout = timeout
        self._local = threading.local()
        self._connections: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    # --- objects ------------------------------------------------------------------------------

    def download(self, bucket: str, key: str) -> tuple[bytes, int | None] | None:
        """The object's bytes and generation (``None`` where the server does not say it), or
        ``None`` if there is no such object."""
        answer = self._call(
            "GET", _object(bucket, key), {"alt": "media"}, missing=404, what=f"reading {key}"
        )
        if answer.status == 404:
            return None
        generation = answer.headers.get("x-goog-generation")
        return answer.body, int(generation) if generation and generation.isdigit() else None

    def metadata(self, bucket: str, key: str) -> dict[str, Any] | None:
        """The object's metadata, or ``None`` if there is no such object."""
        answer = self._call("GET", _object(bucket, key), {}, missing=404, what=f"reading {key}")
        return None if answer.status == 404 else _json(answer)

    def upload(
        self,
        bucket: str,
        key: str,
        data: bytes,
        *,
        content_type: str = "application/json",
        if_generation_match: int | None = None,
    ) -> dict[str, Any]:
        """Write the object (a multipart upload: its metadata, then its bytes); with
        ``if_generation_match``, only if that precondition holds (:class:`PreconditionFailed`
        otherwise)."""
        query: dict[str, str] = {"uploadType": "multipart"}
        if if_generation_match is not None:
            query["ifGenerationMatch"] = str(if_generation_match)
        boundary = secrets.token_hex(16)
        while boundary.encode() in data:
            boundary = secrets.token_hex(16)
        metadata = json.dumps({"name": key, "contentType": content_type})
        body = b"".join(
            [
                f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n"
                f"{metadata}\r\n--{boundary}\r\nContent-Type: {content_type}\r\n\r\n".encode(),
                data,
                f"\r\n--{boundary}--\r\n".encode(),
            ]
        )
        answer = self._call(
            "POST",
            f"/upload/storage/v1/b/{quote(bucket, safe='')}/o",
            query,
            body=body,
            content_type=f"multipart/related; boundary={boundary}",
            missing=412,
            what=f"writing {key}",
        )
        if answer.status == 412:
            raise PreconditionFailed(key)
        return _json(answer)

    def delete(self, bucket: str, key: str, *, if_generation_match: int | None = None) -> bool:
        """Delete the object; ``False`` if there was none."""
        query = {}
        if if_generation_match is not None:
            query["ifGenerationMatch"] = str(if_generation_match)
        answer = self._call(
            "DELETE", _object(bucket, key), query, missing=(404, 412), what=f"deleting {key}"
        )
        if answer.status == 404:
            return False
        if answer.status == 412:
            raise PreconditionFailed(key)
        return True

    def names(self, bucket: str, prefix: str) -> list[str]:
        """The names of the objects under ``prefix`` (every page), in name order."""
        found: list[str] = []
        query = {"prefix": prefix, "fields": "items(name),nextPageToken"}
        while True:
            path = f"/storage/v1/b/{quote(bucket, safe='')}/o"
            answer = _json(self._call("GET", path, query, what=f"listing {prefix}"))
            found += [str(item["name"]) for item in answer.get("items", [])]
            if not answer.get("nextPageToken"):
                return sorted(found)
            query = {**query, "pageToken": str(answer["nextPageToken"])}

    # --- buckets ------------------------------------------------------------------------------

    def create_bucket(self, project: str, name: str, settings: Mapping[str, Any]) -> bool:
        """Create the bucket, then set ``settings`` (lifecycle...) on it, whether it was new
        (an emulator ignores them at creation) or not. Whether it was created."""
        body = json.dumps({"name": name, **settings}).encode()
        answer = self._call(
            "POST",
            "/storage/v1/b",
            {"project": project},
            body=body,
            missing=409,
            what=f"creating {name}",
        )
        if settings:
            patch = json.dumps(dict(settings)).encode()
            path = f"/storage/v1/b/{quote(name, safe='')}"
            self._call("PATCH", path, {}, body=patch, what=f"updating {name}")
        return answer.status != 409

    def bucket(self, name: str) -> dict[str, Any]:
        """The bucket's metadata."""
        path = f"/storage/v1/b/{quote(name, safe='')}"
        return _json(self._call("GET", path, {}, what=f"reading bucket {name}"))

    # --- the wire -----------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        *,
        body: bytes | None = None,
        content_type: str = "application/json",
        missing: int | tuple[int, ...] = (),
        what: str,
    ) -> Answer:
        """One request; a GET is repeated after a dropped connection, 429 or 5xx. The error
        statuses in ``missing`` (404 "no such object", 409 "exists", 412 "changed") are
        returned for the caller to read; every other error raises."""
        expected = (missing,) if isinstance(missing, int) else missing
        target = f"{path}?{urlencode(query)}" if query else path
        headers = {"Content-Type": content_type} if body is not None else {}
        token = self.tokens.token()
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        attempts = ATTEMPTS if method == "GET" else 1
        attempt = 0
        while True:
            reused = self._has_connection()
            try:
                answer = self._send(method, target, headers, body)
            except (OSError, http.client.HTTPException) as error:
                self._drop()
                if reused and isinstance(error, _STALE):
                    continue  # the server had closed the idle connection: nothing was sent
                attempt += 1
                if attempt < attempts:
                    time.sleep(BACKOFF[attempt - 1])
                    continue
                raise BackendUnavailable(
                    f"{what}: cannot reach Cloud Storage at {self.endpoint}: {error}"
                ) from None
            attempt += 1
            if answer.status in _RETRY_STATUSES and attempt < attempts:
                time.sleep(BACKOFF[attempt - 1])
                continue
            if answer.status < 400 or answer.status in expected:
                return answer
            raise _error(answer, what)

    def _send(
        self, method: str, target: str, headers: dict[str, str], body: bytes | None
    ) -> Answer:
        connection = self._connection()
        connection.request(method, target, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        answer = Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
        if response.will_close:
            self._drop()
        return answer

    def _has_connection(self) -> bool:
        return getattr(self._local, "connection", None) is not None

    def _connection(self) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is not None and _closed_by_peer(connection):
            self._drop()
            connection = None
        if connection is None:
            kind = (
                http.client.HTTPSConnection
                if self.scheme == "https"
                else (http.client.HTTPConnection)
            )
            connection = kind(self.host, self.port, timeout=self.timeout)
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    def _drop(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    def close(self) -> None:
        """Close every connection (the next request opens a new one)."""
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()
        self._local = threading.local()


def _closed_by_peer(connection: http.client.HTTPConnection) -> bool:
    """Whether an idle keep-alive connection was closed by the server (its socket reads as
    ready: end of file), as urllib3 checks before reusing one."""
    sock = connection.sock
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _object(bucket: str, key: str) -> str:
    return f"/storage/v1/b/{quote(bucket, safe='')}/o/{quote(key, safe='')}"


def _json(answer: Answer) -> dict[str, Any]:
    if not answer.body:
        return {}
    document = json.loads(answer.body)
    return document if isinstance(document, dict) else {}


def _error(answer: Answer, what: str) -> BackendError:
    """The dispatcher error for an error answer."""
    try:
        message = str(json.loads(answer.body)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        message = answer.body[:200].decode("utf-8", "replace") or f"HTTP {answer.status}"
    text = f"{what}: Cloud Storage answered {answer.status}: {message.splitlines()[0]}"
    if answer.status in (401, 403):
        return BackendNotConfigured(text)
    if answer.status == 429:
        return Throttled(text)
    if answer.status >= 500:
        return BackendUnavailable(text)
    return BackendError(text)
