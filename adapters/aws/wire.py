"""A small HTTP/1.1 client connection for :mod:`adapters.aws.lite`.

``http.client`` imports the ``email`` package to parse headers, about 15 ms of every Lambda
cold start; AWS's JSON answers need only a status line, a few headers and a body framed by
Content-Length or chunked encoding. ``ssl`` is imported only for an ``https`` endpoint.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    import ssl

_MAX_LINE = 65_536
_MAX_HEADERS = 200


class ProtocolError(ConnectionError):
    """The server's answer is not HTTP/1.x as this client reads it, or it hung up."""


@dataclass(frozen=True, slots=True)
class Response:
    """A whole response: status, headers (lowercase names) and body."""

    status: int
    headers: dict[str, str]
    body: bytes


class Connection:
    """One keep-alive connection to ``host:port``, opened on first use, reopened after
    :meth:`close`. Not thread-safe: callers serialise their requests."""

    def __init__(
        self,
        scheme: str,
        host: str,
        port: int | None,
        *,
        timeout: float,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if scheme not in ("http", "https"):
            raise ValueError(f"unsupported URL scheme {scheme!r} (use http or https)")
        self.scheme, self.host, self.timeout = scheme, host, timeout
        self.port = port or (443 if scheme == "https" else 80)
        self.ssl_context = ssl_context
        self._socket: socket.socket | None = None
        self._reader: BinaryIO | None = None

    def request(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        """Send one request and read its whole response."""
        if self._reader is None:
            self._open()
        assert self._socket is not None and self._reader is not None
        lines = [f"{method} {path} HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items())]
        lines.append(f"Content-Length: {len(body)}")
        self._socket.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        response = _read_response(self._reader, method)
        if response.headers.get("connection", "").lower() == "close":
            self.close()
        return response

    def close(self) -> None:
        """Close the socket (the next request opens a new one)."""
        if self._reader is not None:
            self._reader.close()
        if self._socket is not None:
            self._socket.close()
        self._socket = self._reader = None

    def _open(self) -> None:
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.scheme == "https":
            import ssl

            context = self.ssl_context or ssl.create_default_context()
            sock = context.wrap_socket(sock, server_hostname=self.host)
        self._socket, self._reader = sock, sock.makefile("rb")


def _read_response(reader: BinaryIO, method: str) -> Response:
    status, headers = _read_head(reader)
    while 100 <= status < 200:  # interim answers (100 Continue...) precede the real one
        status, headers = _read_head(reader)
    if method == "HEAD" or status in (204, 304):
        return Response(status, headers, b"")
    if headers.get("transfer-encoding", "").lower() == "chunked":
        return Response(status, headers, _chunked(reader))
    length = headers.get("content-length")
    if length is None:
        headers["connection"] = "close"  # the body ends when the server hangs up
        return Response(status, headers, reader.read())
    if not length.isdigit():
        raise ProtocolError(f"bad Content-Length {length!r}")
    return Response(status, headers, _exactly(reader, int(length)))


def _read_head(reader: BinaryIO) -> tuple[int, dict[str, str]]:
    status_line = _line(reader)
    if not status_line:
        raise ProtocolError("the server closed the connection before answering")
    version, _, rest = status_line.partition(" ")
    code = rest[:3]
    if not version.startswith("HTTP/1.") or not code.isdigit():
        raise ProtocolError(f"not an HTTP/1.x status line: {status_line[:80]!r}")
    headers: dict[str, str] = {}
    for _ in range(_MAX_HEADERS):
        line = _line(reader)
        if not line:
            return int(code), headers
        name, colon, value = line.partition(":")
        if not colon:
            raise ProtocolError(f"malformed header line: {line[:80]!r}")
        headers[name.strip().lower()] = value.strip()
    raise ProtocolError(f"more than {_MAX_HEADERS} headers")


def _chunked(reader: BinaryIO) -> bytes:
    parts: list[bytes] = []
    while True:
        size_text = _line(reader).split(";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise ProtocolError(f"bad chunk size {size_text[:20]!r}") from None
        if size == 0:
            while _line(reader):  # trailers, up to the blank line
                pass
            return b"".join(parts)
        parts.append(_exactly(reader, size))
        _line(reader)


def _exactly(reader: BinaryIO, size: int) -> bytes:
    data = reader.read(size)
    if len(data) != size:
        raise ProtocolError(f"the body ended after {len(data)} of {size} bytes")
    return data


def _line(reader: BinaryIO) -> str:
    raw = reader.readline(_MAX_LINE + 1)
    if len(raw) > _MAX_LINE:
        raise ProtocolError("a response line is too long")
    return raw.decode("latin-1").rstrip("\r\n")
