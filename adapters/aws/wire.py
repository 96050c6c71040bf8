"""One keep-alive HTTP/1.1 connection to an AWS endpoint, for :mod:`adapters.aws.lite`.

The standard library's ``http.client`` does the protocol (it refuses CR/LF in header names and
values, and frames bodies); this module adds what a Lambda handler needs around it: a bound on
the size of an answer, ``AWS_CA_BUNDLE`` for https, and errors that say whether the request
can have reached the server (:class:`ConnectFailed`: it cannot; :class:`AnswerLost`: it may
have been carried out), which decides whether a write may be sent again.
"""

from __future__ import annotations

import http.client
import os
import socket
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import ssl

#: The largest answer read (an SQS ReceiveMessage of ten 1 MiB messages is about 14 MiB).
MAX_ANSWER = 32 * 1024 * 1024
#: The environment variable naming a CA bundle for https endpoints, as the AWS SDKs read it
#: (https://docs.aws.amazon.com/sdkref/latest/guide/feature-gen-config.html).
CA_BUNDLE_ENV = "AWS_CA_BUNDLE"


class ConnectFailed(ConnectionError):
    """No connection could be opened: the request was not sent."""


class AnswerLost(ConnectionError):
    """The request was sent (or partly sent) but no whole answer came back: the server may
    have carried it out."""


class Response(NamedTuple):
    """A whole response: status, headers (lowercase names) and body."""

    status: int
    headers: dict[str, str]
    body: bytes


class Connection:
    """One keep-alive connection to ``host:port``, opened on first use, reopened after an
    error or :meth:`close`. Not thread-safe: callers serialise their requests."""

    def __init__(
        self,
        scheme: str,
        host: str,
        port: int | None,
        *,
        timeout: float,
        ssl_context: ssl.SSLContext | None = None,
        max_answer: int = MAX_ANSWER,
    ) -> None:
        if scheme not in ("http", "https"):
            raise ValueError(f"unsupported URL scheme {scheme!r} (use http or https)")
        self.scheme, self.host, self.port, self.timeout = scheme, host, port, timeout
        self.ssl_context, self.max_answer = ssl_context, max_answer
        self._connection: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        """Send one request and read its whole answer. A header with CR or LF raises
        ``ValueError`` before anything is sent."""
        connection = self._open()
        try:
            connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers.items():
                connection.putheader(name, value)
            connection.putheader("Content-Length", str(len(body)))
        except ValueError:
            self.close()  # http.client refused a header: nothing was sent
            raise
        try:
            connection.endheaders(body)
            answer = connection.getresponse()
            return self._read(answer)
        except (OSError, http.client.HTTPException) as error:
            self.close()
            raise AnswerLost(f"{type(error).__name__}: {error}") from error

    def _read(self, answer: http.client.HTTPResponse) -> Response:
        headers = {name.lower(): value for name, value in answer.getheaders()}
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_answer:
            self.close()
            raise AnswerLost(f"an answer of {length} bytes is above {self.max_answer}")
        body = answer.read(self.max_answer + 1)
        if len(body) > self.max_answer:
            self.close()
            raise AnswerLost(f"an answer of more than {self.max_answer} bytes")
        if answer.will_close:
            self.close()
        return Response(answer.status, headers, body)

    def _open(self) -> http.client.HTTPConnection:
        if self._connection is not None:
            return self._connection
        connection: http.client.HTTPConnection
        if self.scheme == "https":
            connection = http.client.HTTPSConnection(
                self.host, self.port, timeout=self.timeout, context=self.ssl_context or tls()
            )
        else:
            connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            connection.connect()
        except OSError as error:
            connection.close()
            raise ConnectFailed(f"{type(error).__name__}: {error}") from error
        if connection.sock is not None:
            connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._connection = connection
        return connection

    def close(self) -> None:
        """Close the connection (the next request opens a new one)."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def tls() -> ssl.SSLContext:
    """The default TLS context, trusting ``AWS_CA_BUNDLE`` when it is set."""
    import ssl

    return ssl.create_default_context(cafile=os.environ.get(CA_BUNDLE_ENV) or None)
