"""Translate azure-core errors (and the small Tables client's) into dispatcher errors at the
edge, with one clear line each."""

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

#: HTTP statuses the results store and the queues decide on.
NOT_FOUND, CONFLICT, PRECONDITION_FAILED = 404, 409, 412
_THROTTLED = {"ServerBusy", "OperationTimedOut", "TooManyRequests", "InternalError"}
_BAD_CREDENTIALS = {
    "AuthenticationFailed",
    "AuthorizationFailure",
    "AuthorizationPermissionMismatch",
    "InvalidAuthenticationInfo",
    "KeyBasedAuthenticationNotPermitted",
}
_MISSING_STORE = {"TableNotFound", "ContainerNotFound", "ResourceNotFound"}
_TOO_LARGE = {"RequestBodyTooLarge", "MessageTooLarge", "EntityTooLarge", "PropertyValueTooLarge"}


def status_of(error: BaseException) -> int | None:
    """The HTTP status of an azure-core ``HttpResponseError`` or a small-client error."""
    status = getattr(error, "status_code", None)
    return status if isinstance(status, int) else None


def code_of(error: BaseException) -> str:
    """The storage error code (``QueueNotFound``...), read defensively: Azurite leaves it out
    of some answers."""
    code = getattr(error, "error_code", None)
    code = getattr(code, "value", code)  # the SDK's StorageErrorCode is an enum of the codes
    return str(code) if code else ""


def translate(error: BaseException, what: str) -> BackendError | None:
    """The dispatcher error for an Azure SDK exception raised while doing ``what``; ``None``
    when ``error`` is not one of theirs."""
    name = type(error).__name__
    module = type(error).__module__
    if not module.startswith(("azure.", "adapters.azure")):
        return None
    code, status = code_of(error), status_of(error)
    message = (str(error).splitlines() or [name])[0]
    if code in ("QueueNotFound", "QueueBeingDeleted"):
        return QueueNotFound(
            f"{what}: the Storage Queue does not exist (create it, or run "
            "`dispatcher emulate azure APP` locally)"
        )
    if code in _MISSING_STORE:
        return BackendNotConfigured(f"{what}: {code} (deploy the app's storage first)")
    if code in _BAD_CREDENTIALS or name == "ClientAuthenticationError" or status in (401, 403):
        return BackendNotConfigured(f"{what}: Azure rejected the credentials ({code or status})")
    if code in _TOO_LARGE or status == 413:
        return EnvelopeTooLarge(f"{what}: Azure refused it as too large ({code or status})")
    if code in _THROTTLED or status in (429, 503):
        return Throttled(f"{what}: Azure throttled the request ({code or status})")
    if name in ("ServiceRequestError", "ServiceRequestTimeoutError", "ServiceResponseError") or (
        "ConnectionError" in name
    ):
        return BackendUnavailable(f"{what}: cannot reach Azure Storage: {message}")
    if name == "CredentialUnavailableError":
        return BackendNotConfigured(
            f"{what}: no Azure credentials (set AZURE_STORAGE_CONNECTION_STRING, or "
            "AZURE_STORAGE_KEY, or sign in with an Azure AD identity)"
        )
    return BackendError(f"{what}: {message}")


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Re-raise Azure SDK errors raised in the block as dispatcher errors (``from`` them)."""
    try:
        yield
    except Exception as error:
        mapped = translate(error, what)
        if mapped is None:
            raise
        raise mapped from error
