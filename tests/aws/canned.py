"""A real socket server on 127.0.0.1 that answers HTTP requests with canned bytes, for the
handler's HTTP client: each request gets the next answer; an empty answer hangs up after
reading the request (a lost answer), and the client may connect again."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.utils import formatdate

HANG_UP = b""


def ok(body: bytes = b"{}", *headers: str) -> bytes:
    """A 200 answer with ``body`` and extra ``Name: value`` headers."""
    extra = "".join(f"{h}\r\n" for h in headers).encode()
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


def answer(status: int, body: bytes, *headers: str) -> bytes:
    """An answer with ``status``, ``body`` and extra headers."""
    extra = "".join(f"{h}\r\n" for h in headers).encode()
    return b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n%s\r\n%s" % (status, len(body), extra, body)


def date_header(epoch: float) -> str:
    """A ``Date`` header for ``epoch``."""
    return f"Date: {formatdate(epoch, usegmt=True)}"


def _read_request(conn: socket.socket) -> bytes | None:
    data = b""
    while b"\r\n\r\n" not in data:
        try:
            chunk = conn.recv(65536)
        except TimeoutError:
            return None
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        body += conn.recv(65536)
    return data[: len(head) + 4] + body


@contextmanager
def serving(
    answers: list[bytes], tls: ssl.SSLContext | None = None
) -> Iterator[tuple[int, list[bytes]]]:
    """Serve ``answers`` in turn (over as many connections as the client opens); yields the
    port and the requests received, each whole."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    requests: list[bytes] = []
    pending = list(answers)
    stop = threading.Event()

    def serve() -> None:
        while pending and not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if tls is not None:
                try:
                    conn = tls.wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError):  # a client that refused our certificate
                    conn.close()
                    continue
            conn.settimeout(5)
            with conn:
                while pending:
                    request = _read_request(conn)
                    if request is None:
                        break
                    requests.append(request)
                    reply = pending.pop(0)
                    if reply == HANG_UP:
                        break
                    conn.sendall(reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], requests
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()
