"""Translate google-api-core, google-auth and gRPC errors into dispatcher errors at the edge,
with one clear line each."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from dispatcher.errors import (
    BackendError,
    BackendNotConfigured,
    BackendUnavailable,
    EnvelopeTooLarge,
    QueueNotFound,
    Throttled,
)

_OURS = ("google.api_core", "google.auth", "google.cloud", "grpc", "requests", "urllib3")
_THROTTLED = {"TooManyRequests", "ResourceExhausted"}
_DENIED = {
    "PermissionDenied",
    "Forbidden",
    "Unauthenticated",
    "Unauthorized",
    "DefaultCredentialsError",
    "RefreshError",
}
_UNAVAILABLE = {
    "ServiceUnavailable",
    "DeadlineExceeded",
    "GatewayTimeout",
    "RetryError",
    "InternalServerError",
    "ConnectionError",
    "ConnectTimeout",
    "ReadTimeout",
    "TransportError",
}


def is_sdk_error(error: BaseException) -> bool:
    """Whether ``error`` comes from a Google SDK or its transports."""
    return type(error).__module__.startswith(_OURS)


def first_line(error: BaseException) -> str:
    """The error's message, first line only."""
    text = str(error)
    return text.splitlines()[0] if text else type(error).__name__


def translate(error: BaseException, what: str) -> BackendError | None:
    """The dispatcher error for a Google SDK exception raised while doing ``what``;
    ``None`` when ``error`` is not one of theirs."""
    if not is_sdk_error(error):
        return None
    name = type(error).__name__
    message = first_line(error)
    if name == "NotFound" or (name == "FailedPrecondition" and "does not exist" in message):
        if "queue" in what.lower() or "queue" in message.lower():
            return QueueNotFound(
                f"{what}: the Cloud Tasks queue does not exist (deploy the app's "
                "infrastructure, or run `dispatcher emulate gcp APP`)"
            )
        return BackendNotConfigured(f"{what}: not found: {message}")
    if name in _THROTTLED:
        return Throttled(f"{what}: Google Cloud throttled the request ({message})")
    if name in _DENIED:
        return BackendNotConfigured(f"{what}: Google Cloud refused the credentials ({message})")
    if name == "InvalidArgument" and "size" in message.lower():
        return EnvelopeTooLarge(f"{what}: {message}")
    if name in _UNAVAILABLE or "Connection" in name:
        return BackendUnavailable(f"{what}: cannot reach Google Cloud: {message}")
    return BackendError(f"{what}: {message}")


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Re-raise Google SDK errors raised in the block as dispatcher errors (``from`` the
    original)."""
    try:
        yield
    except Exception as error:
        mapped = translate(error, what)
        if mapped is None:
            raise
        raise mapped from error
