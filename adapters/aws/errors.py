"""Translate botocore errors into dispatcher errors at the edge, with one clear line each."""

from __future__ import annotations

from typing import Any

from dispatcher.errors import (
    BackendError,
    BackendNotConfigured,
    BackendUnavailable,
    QueueNotFound,
    Throttled,
)

_MISSING_QUEUE = {
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
    "NonExistentQueue",
}
_THROTTLED = {
    "Throttling",
    "ThrottlingException",
    "RequestThrottled",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "SlowDown",
    "KMS.ThrottlingException",
}
_BAD_CREDENTIALS = {
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "AccessDenied",
    "AccessDeniedException",
    "InvalidAccessKeyId",
}


class AmbiguousWrite(ConnectionError):
    """A conditional write was sent but its answer was lost (or was a 5xx): it may or may not
    have been carried out. It is not sent again blindly; the caller reads the item to know."""


#: botocore's names for an answer lost after the request went out (its retries are spent).
_LOST_ANSWER = {"ReadTimeoutError", "ConnectionClosedError"}


def is_ambiguous(error: BaseException) -> bool:
    """Whether ``error`` leaves a write's fate unknown (sent, no answer)."""
    return isinstance(error, AmbiguousWrite) or type(error).__name__ in _LOST_ANSWER


def error_code(error: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError`` (empty for anything else)."""
    response: Any = getattr(error, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Code", ""))


def translate(error: BaseException, what: str) -> BackendError | None:
    """The dispatcher error for a botocore/boto3 exception raised while doing ``what``;
    ``None`` when ``error`` is not one of theirs."""
    name = type(error).__name__
    module = type(error).__module__
    if not module.startswith(("botocore", "boto3", "urllib3", "adapters.aws")):
        return None
    code = error_code(error)
    message = str(error).splitlines()[0] if str(error) else name
    if code in _MISSING_QUEUE:
        return QueueNotFound(
            f"{what}: the SQS queue does not exist (create it, or run "
            "`dispatcher emulate aws APP` locally)"
        )
    if code in _THROTTLED:
        return Throttled(f"{what}: AWS throttled the request ({code})")
    if code in _BAD_CREDENTIALS:
        return BackendNotConfigured(f"{what}: AWS rejected the credentials ({code})")
    if code == "ResourceNotFoundException":
        return BackendNotConfigured(f"{what}: {message}")
    if code == "NoSuchBucket":
        return BackendNotConfigured(f"{what}: the S3 bucket does not exist")
    if name == "NoCredentialsError":
        return BackendNotConfigured(
            f"{what}: no AWS credentials found (set AWS_PROFILE or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY)"
        )
    if name == "NoRegionError":
        return BackendNotConfigured(
            f"{what}: no AWS region (use the spec aws://REGION or set AWS_REGION)"
        )
    if name in ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError") or (
        "ConnectionError" in name or isinstance(error, ConnectionError)
    ):
        return BackendUnavailable(f"{what}: cannot reach AWS: {message}")
    if name == "InvalidRegionError" or "Could not connect to the endpoint URL" in message:
        return BackendNotConfigured(f"{what}: {message}")
    return BackendError(f"{what}: {message}")


class translated:
    """Re-raise botocore errors raised in the block as dispatcher errors (``from`` the
    original). A class rather than ``contextlib.contextmanager``: it is on the Lambda
    handler's cold path, and contextlib need not be."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: object
    ) -> None:
        if isinstance(error, Exception):
            mapped = translate(error, self.what)
            if mapped is not None:
                raise mapped from error
