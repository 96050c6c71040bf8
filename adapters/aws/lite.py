"""Small signed JSON clients for DynamoDB and SQS, for the Lambda handler's cold start.

``import boto3`` and creating a client cost a Lambda cold start about 200 ms; the handler needs
a few JSON-protocol calls. :class:`DynamoDBClient` and :class:`SqsClient` name each call they
make (a typo is an ``AttributeError`` that mypy sees, never a request), take the same
arguments and return the same dicts as the boto3 method of the same name, and raise
:class:`AwsError`, which :mod:`adapters.aws.errors` reads like a botocore ``ClientError``.
They run over :mod:`adapters.aws.wire` (``http.client``), signed with
:mod:`adapters.aws.sigv4`, with credentials from :mod:`adapters.aws.credentials`;
:class:`LiteClients` falls back to boto3 when no credentials are found that way, and for S3.

Retries (at most :data:`ATTEMPTS` sends, full-jitter exponential backoff,
https://aws.amazon.com/builders-library/timeouts-retries-and-backoff-with-jitter/):

* throttling answers and requests that never left (no connection) are sent again: AWS did
  not carry them out;
* a call that may be repeated (reads, unconditional puts and deletes, visibility changes,
  sends, whose duplicates the idempotency claim absorbs) is sent again after a lost answer
  or a 5xx too;
* a conditional write is never sent again once it may have been carried out (a lost answer,
  a 5xx): :class:`AmbiguousWrite` is raised, and the caller reads what happened (the claim
  recognises its own token);
* a request rejected for clock skew (the ``Date`` of the answer more than a minute from our
  clock) is signed again with the server's time, and the offset is kept for later calls.
"""

from __future__ import annotations

import functools
import json
import random
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from adapters.aws import credentials as creds
from adapters.aws.clients import Clients
from adapters.aws.config import AwsConfig
from adapters.aws.errors import AmbiguousWrite
from adapters.aws.sigv4 import sign
from adapters.aws.wire import AnswerLost, ConnectFailed, Connection

#: service -> (X-Amz-Target prefix, endpoint prefix)
SERVICES = {
    "dynamodb": ("DynamoDB_20120810", "dynamodb"),
    "sqs": ("AmazonSQS", "sqs"),
}
#: Sends of one call at most.
ATTEMPTS = 3
_BACKOFF = 0.05
_BACKOFF_CAP = 1.0
_CONTENT_TYPE = "application/x-amz-json-1.0"
#: Answers that say AWS did not carry the request out: always safe to send again.
THROTTLED = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
    }
)
#: Answers to a request signed with a clock too far from AWS's.
CLOCK_SKEWED = frozenset(
    {
        "RequestTimeTooSkewed",
        "RequestExpired",
        "RequestInTheFuture",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
    }
)
#: Seconds between our clock and an answer's ``Date`` above which a signature error is
#: taken for clock skew (AWS allows five minutes).
SKEW_THRESHOLD = 60.0


class AwsError(Exception):
    """An error answer from AWS; ``response`` has botocore's shape (``Error.Code``, and the
    answer's other fields, such as ``Item`` of a failed conditional write)."""

    def __init__(
        self, code: str, message: str, status: int, extra: Mapping[str, Any] | None = None
    ) -> None:
        self.code, self.status = code, status
        self.response: dict[str, Any] = {
            **(extra or {}),
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }
        super().__init__(f"{code}: {message}" if message else code)


class EndpointConnectionError(ConnectionError):
    """The endpoint could not be reached (named like botocore's, for error translation)."""


def endpoint_for(service: str, config: AwsConfig) -> str:
    """``AWS_ENDPOINT_URL_<SERVICE>``, else the config's endpoint, else the regional one."""
    import os

    specific = os.environ.get(f"AWS_ENDPOINT_URL_{service.upper()}")
    if specific:
        return specific
    if config.endpoint:
        return config.endpoint
    suffix = "amazonaws.com.cn" if config.region.startswith("cn-") else "amazonaws.com"
    return f"https://{SERVICES[service][1]}.{config.region}.{suffix}"


class JsonClient:
    """Calls one JSON-protocol service; subclasses name the calls."""

    service = ""

    def __init__(
        self,
        config: AwsConfig,
        credentials: creds.CredentialSource,
        *,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config, self.credentials = config, credentials
        self.prefix = SERVICES[self.service][0]
        self.url = endpoint_for(self.service, config).rstrip("/") + "/"
        self._path = urlsplit(self.url).path or "/"
        self.timeout, self.clock, self.sleep = timeout, clock, sleep
        #: Seconds AWS's clock is ahead of ours (learnt from a skewed-clock answer).
        self.skew = 0.0
        self._connection: Connection | None = None
        self._lock = threading.Lock()

    def call(self, operation: str, params: Mapping[str, Any], *, repeatable: bool) -> Any:
        """POST one operation; the decoded answer, or :class:`AwsError`. ``repeatable``: it
        may be sent again after it may have been carried out."""
        body = json.dumps(params, separators=(",", ":")).encode()
        corrected = False
        for attempt in range(1, ATTEMPTS + 1):
            last = attempt == ATTEMPTS
            try:
                status, headers, data = self._post(operation, body)
            except ConnectFailed as error:
                if last:
                    raise EndpointConnectionError(
                        f"Could not connect to the endpoint URL: {self.url!r}: {error}"
                    ) from None
                self._backoff(attempt)
                continue
            except AnswerLost as error:
                if not repeatable:
                    raise AmbiguousWrite(
                        f"{operation} to {self.url!r} may or may not have been carried out: {error}"
                    ) from None
                if last:
                    raise EndpointConnectionError(
                        f"Connection error on the endpoint URL: {self.url!r}: {error}"
                    ) from None
                self._backoff(attempt)
                continue
            answer = _decode(data)
            if status < 300 and answer is not None:
                return answer
            failure = _error(status, answer, headers, data)
            if failure.code in CLOCK_SKEWED and not corrected and self._learn_skew(headers):
                corrected = True
                continue
            if status >= 500 and not repeatable:
                raise AmbiguousWrite(f"{operation} to {self.url!r} answered {failure}")
            if last or not (failure.code in THROTTLED or status >= 500):
                raise failure
            self._backoff(attempt)
        raise AssertionError("unreachable")

    def _backoff(self, attempt: int) -> None:
        self.sleep(random.uniform(0, min(_BACKOFF_CAP, _BACKOFF * 2**attempt)))

    def _learn_skew(self, headers: Mapping[str, str]) -> bool:
        """Keep the offset to the answer's ``Date``; whether it explains a rejected signature."""
        try:
            server = parsedate_to_datetime(headers["date"]).timestamp()
        except (KeyError, TypeError, ValueError):
            return False
        offset = server - self.clock()
        if abs(offset) <= SKEW_THRESHOLD:
            return False
        self.skew = offset
        return True

    def _post(self, operation: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        headers = sign(
            "POST",
            self.url,
            {"Content-Type": _CONTENT_TYPE, "X-Amz-Target": f"{self.prefix}.{operation}"},
            body,
            service=self.service,
            region=self.config.region,
            credentials=self.credentials.current().as_tuple(),
            now=datetime.fromtimestamp(self.clock() + self.skew, UTC),
        )
        if self.service == "sqs":
            headers["x-amzn-query-mode"] = "true"
        with self._lock:
            response = self._connect().request("POST", self._path, headers, body)
        return response.status, response.headers, response.body

    def _connect(self) -> Connection:
        if self._connection is None:
            parts = urlsplit(self.url)
            self._connection = Connection(
                parts.scheme, parts.hostname or "", parts.port, timeout=self.timeout
            )
        return self._connection

    def close(self) -> None:
        """Close the connection (the next call opens a new one)."""
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None


class DynamoDBClient(JsonClient):
    """The DynamoDB calls the backend makes, as boto3 names them."""

    service = "dynamodb"

    def get_item(self, **params: Any) -> dict[str, Any]:
        """GetItem."""
        return self.call("GetItem", params, repeatable=True)  # type: ignore[no-any-return]

    def put_item(self, **params: Any) -> dict[str, Any]:
        """PutItem; sent again only when it has no condition."""
        repeatable = "ConditionExpression" not in params
        return self.call("PutItem", params, repeatable=repeatable)  # type: ignore[no-any-return]

    def update_item(self, **params: Any) -> dict[str, Any]:
        """UpdateItem; never sent again (an update may count)."""
        return self.call("UpdateItem", params, repeatable=False)  # type: ignore[no-any-return]

    def delete_item(self, **params: Any) -> dict[str, Any]:
        """DeleteItem; sent again only when it has no condition."""
        repeatable = "ConditionExpression" not in params
        return self.call("DeleteItem", params, repeatable=repeatable)  # type: ignore[no-any-return]

    def batch_write_item(self, **params: Any) -> dict[str, Any]:
        """BatchWriteItem (unconditional puts and deletes)."""
        return self.call("BatchWriteItem", params, repeatable=True)  # type: ignore[no-any-return]


class SqsClient(JsonClient):
    """The SQS calls the backend makes, as boto3 names them. Sends are sent again after a
    lost answer: a duplicate message runs once, by its idempotency claim."""

    service = "sqs"

    def _repeat(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        return self.call(operation, params, repeatable=True)  # type: ignore[no-any-return]

    def send_message(self, **params: Any) -> dict[str, Any]:
        """SendMessage."""
        return self._repeat("SendMessage", params)

    def send_message_batch(self, **params: Any) -> dict[str, Any]:
        """SendMessageBatch."""
        return self._repeat("SendMessageBatch", params)

    def change_message_visibility(self, **params: Any) -> dict[str, Any]:
        """ChangeMessageVisibility."""
        return self._repeat("ChangeMessageVisibility", params)

    def change_message_visibility_batch(self, **params: Any) -> dict[str, Any]:
        """ChangeMessageVisibilityBatch."""
        return self._repeat("ChangeMessageVisibilityBatch", params)

    def delete_message(self, **params: Any) -> dict[str, Any]:
        """DeleteMessage."""
        return self._repeat("DeleteMessage", params)

    def delete_message_batch(self, **params: Any) -> dict[str, Any]:
        """DeleteMessageBatch."""
        return self._repeat("DeleteMessageBatch", params)

    def receive_message(self, **params: Any) -> dict[str, Any]:
        """ReceiveMessage."""
        return self._repeat("ReceiveMessage", params)

    def get_queue_url(self, **params: Any) -> dict[str, Any]:
        """GetQueueUrl."""
        return self._repeat("GetQueueUrl", params)

    def get_queue_attributes(self, **params: Any) -> dict[str, Any]:
        """GetQueueAttributes."""
        return self._repeat("GetQueueAttributes", params)

    def purge_queue(self, **params: Any) -> dict[str, Any]:
        """PurgeQueue."""
        return self._repeat("PurgeQueue", params)


def _decode(data: bytes) -> Any:
    """The JSON answer (``{}`` for an empty one), or ``None`` when it is not JSON."""
    if not data:
        return {}
    try:
        return json.loads(data)
    except ValueError:
        return None


def _error(status: int, answer: Any, headers: Mapping[str, str], data: bytes) -> AwsError:
    if not isinstance(answer, dict):  # an HTML page from a proxy or a load balancer
        text = data[:200].decode("utf-8", "replace").strip()
        return AwsError(f"HTTP{status}", text, status)
    code = str(answer.get("__type") or answer.get("code") or f"HTTP{status}").rsplit("#", 1)[-1]
    query_error = headers.get("x-amzn-query-error", "")
    if query_error:
        code = query_error.split(";", 1)[0]
    message = str(answer.get("message") or answer.get("Message") or "")
    extra = {k: v for k, v in answer.items() if k not in ("__type", "message", "Message")}
    return AwsError(code, message, status, extra)


_CLIENTS: dict[str, type[JsonClient]] = {"dynamodb": DynamoDBClient, "sqs": SqsClient}


class LiteClients(Clients):
    """:class:`Clients` that use the small clients for DynamoDB and SQS when credentials are
    in the environment or at the container endpoint (one source for both), and boto3 for
    anything else."""

    @functools.cached_property
    def credentials(self) -> creds.CredentialSource | None:
        """Where the small clients get their credentials (``None``: boto3's own chain)."""
        return creds.resolve()

    def _create(self, service: str) -> Any:
        kind = _CLIENTS.get(service)
        if kind is not None and self.credentials is not None:
            return kind(self.config, self.credentials)
        return super()._create(service)


__all__ = [
    "AmbiguousWrite",
    "AwsError",
    "DynamoDBClient",
    "EndpointConnectionError",
    "JsonClient",
    "LiteClients",
    "SqsClient",
]
