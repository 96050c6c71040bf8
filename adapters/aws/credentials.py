"""Credentials for the handler's own AWS calls, where the SDKs look for them first: the
environment (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``; Lambda
sets them), else the container credentials endpoint (``AWS_CONTAINER_CREDENTIALS_FULL_URI``
or ``..._RELATIVE_URI``, with ``AWS_CONTAINER_AUTHORIZATION_TOKEN`` or ``..._TOKEN_FILE``),
which Lambda provides instead under SnapStart and ECS/EKS provide to containers.

The endpoint's rules, as the SDKs apply them
(https://docs.aws.amazon.com/sdkref/latest/guide/feature-container-credentials.html,
https://docs.aws.amazon.com/lambda/latest/dg/snapstart-activate.html#snapstart-credentials):
a full URI over plain http must name a loopback address or one of the container hosts
below; the answer is JSON with ``AccessKeyId``, ``SecretAccessKey``, ``Token`` and
``Expiration``. Credentials are fetched again :data:`REFRESH_AHEAD` seconds before they expire.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import NamedTuple, Protocol
from urllib.parse import urlsplit

from dispatcher.errors import BackendNotConfigured, BackendUnavailable

FULL_URI_ENV = "AWS_CONTAINER_CREDENTIALS_FULL_URI"
RELATIVE_URI_ENV = "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"
TOKEN_ENV = "AWS_CONTAINER_AUTHORIZATION_TOKEN"
TOKEN_FILE_ENV = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"
#: The ECS endpoint a relative URI is read from.
ECS_HOST = "169.254.170.2"
#: Hosts a plain-http full URI may name besides loopback addresses (ECS, EKS Pod Identity).
CONTAINER_HOSTS = frozenset({ECS_HOST, "169.254.170.23", "fd00:ec2::23", "localhost"})
#: Seconds before their expiry at which credentials are fetched again.
REFRESH_AHEAD = 300.0
_TIMEOUT = 2.0
_ATTEMPTS = 3


class Credentials(NamedTuple):
    """An access key, its secret, the session token, and when they expire (epoch seconds)."""

    key: str
    secret: str
    token: str | None = None
    expires_at: float | None = None

    def as_tuple(self) -> tuple[str, str, str | None]:
        """``(key, secret, token)``, as :func:`adapters.aws.sigv4.sign` takes them."""
        return self.key, self.secret, self.token


class CredentialSource(Protocol):
    """Where a client gets its current credentials."""

    def current(self) -> Credentials:
        """Credentials valid now (fetched again when they are about to expire)."""
        ...


class Fixed:
    """Credentials that do not change (the environment's)."""

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials

    def current(self) -> Credentials:
        """The credentials."""
        return self.credentials


def from_environment() -> Credentials | None:
    """The access key, secret and session token in the environment, if set."""
    key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not key or not secret:
        return None
    return Credentials(key, secret, os.environ.get("AWS_SESSION_TOKEN") or None)


class ContainerCredentials:
    """Credentials from the container credentials endpoint, fetched again shortly before
    they expire. ``clock`` gives epoch seconds."""

    def __init__(
        self, url: str, token: Callable[[], str | None], *, clock: Callable[[], float] = time.time
    ) -> None:
        check_endpoint(url)
        self.url, self.token, self.clock = url, token, clock
        self._credentials: Credentials | None = None
        self._lock = threading.Lock()

    def current(self) -> Credentials:
        """Valid credentials, fetched when none are held or they expire within
        :data:`REFRESH_AHEAD` seconds."""
        with self._lock:
            held = self._credentials
            if held is None or (
                held.expires_at is not None and held.expires_at - REFRESH_AHEAD <= self.clock()
            ):
                held = self._credentials = self._fetch()
            return held

    def _fetch(self) -> Credentials:
        import http.client

        parts = urlsplit(self.url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = {"Accept": "application/json"}
        token = self.token()
        if token:
            headers["Authorization"] = token
        last: Exception | None = None
        for attempt in range(_ATTEMPTS):
            kind = (
                http.client.HTTPSConnection
                if parts.scheme == "https"
                else http.client.HTTPConnection
            )
            connection = kind(parts.hostname or "", parts.port, timeout=_TIMEOUT)
            try:
                connection.request("GET", path, headers=headers)
                answer = connection.getresponse()
                body = answer.read(65_536)
                if answer.status == 200:
                    return _parse(body)
                last = BackendUnavailable(
                    f"the container credentials endpoint answered HTTP {answer.status}"
                )
                if answer.status < 500:
                    break
            except (OSError, http.client.HTTPException) as error:
                last = BackendUnavailable(
                    f"cannot reach the container credentials endpoint {self.url}: {error}"
                )
            finally:
                connection.close()
            time.sleep(0.1 * (attempt + 1))
        assert last is not None
        raise last


def check_endpoint(url: str) -> None:
    """Refuse a credentials URL the SDKs would refuse: plain http to anything but a loopback
    address or a known container host."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return
    if parts.scheme != "http":
        raise BackendNotConfigured(f"{FULL_URI_ENV} must be an http or https URL, not {url!r}")
    host = parts.hostname or ""
    if host in CONTAINER_HOSTS:
        return
    import ipaddress  # only here: the cold path of a handler with keys in its environment

    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise BackendNotConfigured(
        f"{FULL_URI_ENV} names {host!r}: over plain http only a loopback address or one of "
        f"{', '.join(sorted(CONTAINER_HOSTS))} is allowed"
    )


def _parse(body: bytes) -> Credentials:
    try:
        data = json.loads(body)
        expiration = data.get("Expiration")
        return Credentials(
            key=str(data["AccessKeyId"]),
            secret=str(data["SecretAccessKey"]),
            token=str(data["Token"]) if data.get("Token") else None,
            expires_at=(
                datetime.fromisoformat(str(expiration).replace("Z", "+00:00")).timestamp()
                if expiration
                else None
            ),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise BackendUnavailable(
            f"the container credentials endpoint gave no usable credentials ({error})"
        ) from None


def _container_token() -> str | None:
    path = os.environ.get(TOKEN_FILE_ENV)
    if path:
        with open(path) as file:
            return file.read().strip()
    return os.environ.get(TOKEN_ENV) or None


def resolve() -> CredentialSource | None:
    """The environment's credentials, else the container endpoint's; ``None`` when neither
    is configured (boto3's own chain is used then)."""
    found = from_environment()
    if found is not None:
        return Fixed(found)
    full = os.environ.get(FULL_URI_ENV)
    if full:
        return ContainerCredentials(full, _container_token)
    relative = os.environ.get(RELATIVE_URI_ENV)
    if relative:
        return ContainerCredentials(f"http://{ECS_HOST}{relative}", _container_token)
    return None
