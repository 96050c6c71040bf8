"""The small HTTP/1.1 client under the Lambda handler's AWS calls, against canned answers from
a real socket server on 127.0.0.1 (plain and TLS)."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from adapters.aws.wire import Connection, ProtocolError


@contextmanager
def serving(
    answers: list[bytes], tls: ssl.SSLContext | None = None
) -> Iterator[tuple[int, list[bytes]]]:
    """Accept one connection on 127.0.0.1, answer each request with the next canned bytes
    (the connection is closed after the last), and record the requests."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)
    requests: list[bytes] = []

    def serve() -> None:
        conn, _ = listener.accept()
        if tls is not None:
            try:
                conn = tls.wrap_socket(conn, server_side=True)
            except ssl.SSLError:  # a client that refused our certificate
                conn.close()
                return
        conn.settimeout(5)
        with conn:
            for answer in answers:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                while len(body) < length:
                    body += conn.recv(65536)
                requests.append(data)
                conn.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], requests
    finally:
        thread.join(timeout=5)
        listener.close()


def test_content_length_bodies_on_one_kept_alive_connection() -> None:
    answers = [
        b'HTTP/1.1 200 OK\r\nContent-Length: 11\r\nX-Amzn-Query-Error: A;B\r\n\r\n{"ok":true}',
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\n\r\n{}",
    ]
    with serving(answers) as (port, requests):
        connection = Connection("http", "127.0.0.1", port, timeout=5)
        first = connection.request("POST", "/", {"X-Amz-Target": "T.Op"}, b'{"a":1}')
        second = connection.request("POST", "/", {}, b"{}")
        connection.close()
    assert (first.status, first.body) == (200, b'{"ok":true}')
    assert first.headers["x-amzn-query-error"] == "A;B"
    assert (second.status, second.body) == (400, b"{}")
    assert requests[0].startswith(b"POST / HTTP/1.1\r\nX-Amz-Target: T.Op\r\n")
    assert requests[0].endswith(b'Content-Length: 7\r\n\r\n{"a":1}')


def test_chunked_body_with_trailers() -> None:
    answer = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4\r\nWiki\r\n6;x=y\r\npedia \r\n0\r\nT: 1\r\n\r\n"
    )
    with serving([answer]) as (port, _):
        response = Connection("http", "127.0.0.1", port, timeout=5).request("GET", "/", {}, b"")
    assert response.body == b"Wikipedia "


def test_interim_answers_are_skipped() -> None:
    answer = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nx"
    with serving([answer]) as (port, _):
        response = Connection("http", "127.0.0.1", port, timeout=5).request("PUT", "/", {}, b"")
    assert (response.status, response.body) == (201, b"x")


def test_body_until_close_and_connection_close_reopens() -> None:
    answer = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it"
    with serving([answer]) as (port, _):
        connection = Connection("http", "127.0.0.1", port, timeout=5)
        assert connection.request("GET", "/", {}, b"").body == b"all of it"
        assert connection._reader is None  # closed; the next request opens a new socket


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        (b"", "closed the connection before answering"),
        (b"SMTP ready\r\n\r\n", "not an HTTP/1.x status line"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "malformed header line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "after 5 of 10 bytes"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
    ],
)
def test_broken_answers_raise_a_connection_error(answer: bytes, fragment: str) -> None:
    with serving([answer]) as (port, _):
        connection = Connection("http", "127.0.0.1", port, timeout=5)
        with pytest.raises(ProtocolError, match=fragment):
            connection.request("GET", "/", {}, b"")
        connection.close()


def test_https_verifies_the_server_certificate(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    trusting = ssl.create_default_context(cafile=str(cert))
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    with serving([answer], tls=server) as (port, _):
        connection = Connection("https", "localhost", port, timeout=5, ssl_context=trusting)
        assert connection.request("POST", "/", {}, b"").body == b"ok"
        connection.close()
    with serving([answer], tls=server) as (port, _):
        untrusting = Connection("https", "localhost", port, timeout=5)  # system CAs only
        with pytest.raises(ssl.SSLCertVerificationError):
            untrusting.request("POST", "/", {}, b"")


def test_only_http_and_https() -> None:
    with pytest.raises(ValueError, match="unsupported URL scheme 'ftp'"):
        Connection("ftp", "example.com", None, timeout=1)


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path
