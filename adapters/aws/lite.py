"""A small signed JSON client for DynamoDB and SQS, for the Lambda handler's cold start.

``import boto3`` and creating a client cost a Lambda cold start about 200 ms; the handler only
needs a few JSON-protocol calls (PutItem, GetItem, SendMessage, ChangeMessageVisibility,
GetQueueUrl). :class:`JsonClient` makes them over :mod:`adapters.aws.wire` (a small HTTP/1.1
client; ``http.client`` alone costs ~15 ms) with Signature Version 4,
takes the same arguments and returns the same dicts as the boto3 client method of the same
name, and raises :class:`AwsError`, which :mod:`adapters.aws.errors` reads like a botocore
``ClientError``. It needs credentials in the environment (Lambda always sets them);
:class:`LiteClients` falls back to boto3 otherwise, and for S3.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from adapters.aws.clients import Clients
from adapters.aws.config import AwsConfig
from adapters.aws.wire import Connection

#: service -> (X-Amz-Target prefix, endpoint prefix)
SERVICES = {
    "dynamodb": ("DynamoDB_20120810", "dynamodb"),
    "sqs": ("AmazonSQS", "sqs"),
}
_CONTENT_TYPE = "application/x-amz-json-1.0"
_ATTEMPTS = 3
_RETRY_CODES = {
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "RequestThrottled",
}


class AwsError(Exception):
    """An error answer from AWS; ``response`` has botocore's shape (``Error.Code``)."""

    def __init__(self, code: str, message: str, status: int) -> None:
        self.code, self.status = code, status
        self.response = {"Error": {"Code": code, "Message": message}, "HTTPStatus": status}
        super().__init__(f"{code}: {message}" if message else code)


class EndpointConnectionError(ConnectionError):
    """The endpoint could not be reached (named like botocore's, for error translation)."""


def env_credentials() -> tuple[str, str, str | None] | None:
    """Access key, secret key and session token from the environment, if set."""
    key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not key or not secret:
        return None
    return key, secret, os.environ.get("AWS_SESSION_TOKEN") or None


def endpoint_for(service: str, config: AwsConfig) -> str:
    """``AWS_ENDPOINT_URL_<SERVICE>``, else the config's endpoint, else the regional one."""
    specific = os.environ.get(f"AWS_ENDPOINT_URL_{service.upper()}")
    if specific:
        return specific
    if config.endpoint:
        return config.endpoint
    suffix = "amazonaws.com.cn" if config.region.startswith("cn-") else "amazonaws.com"
    return f"https://{SERVICES[service][1]}.{config.region}.{suffix}"


def sign(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    service: str,
    region: str,
    credentials: tuple[str, str, str | None],
    now: datetime,
) -> dict[str, str]:
    """``headers`` plus Host, X-Amz-Date, X-Amz-Security-Token and the SigV4 Authorization."""
    key, secret, token = credentials
    parts = urlsplit(url)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    signed = {k.lower(): " ".join(str(v).split()) for k, v in headers.items()}
    signed["host"] = parts.netloc
    signed["x-amz-date"] = amz_date
    if token:
        signed["x-amz-security-token"] = token
    names = sorted(signed)
    query = "&".join(
        sorted(
            f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
            for k, _, v in (pair.partition("=") for pair in parts.query.split("&") if pair)
        )
    )
    canonical = "\n".join(
        [
            method,
            quote(parts.path or "/", safe="/-_.~"),
            query,
            "".join(f"{name}:{signed[name]}\n" for name in names),
            ";".join(names),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    signing_key = ("AWS4" + secret).encode()
    for part in (amz_date[:8], region, service, "aws4_request"):
        signing_key = hmac.new(signing_key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(signing_key, to_sign.encode(), hashlib.sha256).hexdigest()
    result = {**headers, "Host": parts.netloc, "X-Amz-Date": amz_date}
    if token:
        result["X-Amz-Security-Token"] = token
    result["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={key}/{scope}, SignedHeaders={';'.join(names)}, "
        f"Signature={signature}"
    )
    return result


class JsonClient:
    """A boto3-like client for one JSON-protocol service: ``client.put_item(TableName=...)``."""

    def __init__(
        self,
        service: str,
        config: AwsConfig,
        credentials: tuple[str, str, str | None],
        *,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.service, self.config, self.credentials = service, config, credentials
        self.prefix = SERVICES[service][0]
        self.url = endpoint_for(service, config).rstrip("/") + "/"
        self._path = urlsplit(self.url).path or "/"
        self.timeout, self.clock = timeout, clock
        self._connection: Connection | None = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Callable[..., dict[str, Any]]:
        if name.startswith("_"):
            raise AttributeError(name)
        operation = "".join(word.capitalize() for word in name.split("_"))
        return lambda **params: self.call(operation, params)

    def call(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """POST one operation; the decoded answer, or :class:`AwsError`."""
        body = json.dumps(params, separators=(",", ":")).encode()
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                status, data, query_error = self._post(operation, body)
            except OSError as error:
                self.close()
                if attempt == _ATTEMPTS:
                    raise EndpointConnectionError(
                        f"Could not connect to the endpoint URL: {self.url!r}: {error}"
                    ) from None
                time.sleep(0.05 * 2**attempt)
                continue
            answer: dict[str, Any] = json.loads(data) if data else {}
            if status < 300:
                return answer
            failure = _error(status, answer, query_error)
            retryable = status >= 500 or failure.code in _RETRY_CODES
            if attempt == _ATTEMPTS or not retryable:
                raise failure
            time.sleep(0.05 * 2**attempt)
        raise AssertionError("unreachable")

    def _post(self, operation: str, body: bytes) -> tuple[int, bytes, str]:
        headers = sign(
            "POST",
            self.url,
            {"Content-Type": _CONTENT_TYPE, "X-Amz-Target": f"{self.prefix}.{operation}"},
            body,
            service=self.service,
            region=self.config.region,
            credentials=self.credentials,
            now=datetime.fromtimestamp(self.clock(), UTC),
        )
        if self.service == "sqs":
            headers["x-amzn-query-mode"] = "true"
        with self._lock:
            response = self._connect().request("POST", self._path, headers, body)
        return response.status, response.body, response.headers.get("x-amzn-query-error", "")

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


def _error(status: int, answer: Mapping[str, Any], query_error: str) -> AwsError:
    code = str(answer.get("__type") or answer.get("code") or f"HTTP{status}").rsplit("#", 1)[-1]
    if query_error:
        code = query_error.split(";", 1)[0]
    message = str(answer.get("message") or answer.get("Message") or "")
    return AwsError(code, message, status)


class LiteClients(Clients):
    """:class:`Clients` that use :class:`JsonClient` for DynamoDB and SQS when credentials are
    in the environment, and boto3 for anything else."""

    def _create(self, service: str) -> Any:
        credentials = env_credentials()
        if service in SERVICES and credentials is not None:
            return JsonClient(service, self.config, credentials)
        return super()._create(service)
