"""The connection under the Lambda handler's AWS calls (``http.client``), against canned
answers from a real socket server on 127.0.0.1 (plain and TLS): kept alive, bounded, no CR/LF
in headers, ``AWS_CA_BUNDLE`` honoured, and errors that say whether a request went out."""

from __future__ import annotations

import datetime
import socket
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from adapters.aws.wire import AnswerLost, ConnectFailed, Connection
from tests.aws.canned import HANG_UP, ok, serving


def test_content_length_bodies_on_one_kept_alive_connection() -> None:
    answers = [
        ok(b'{"ok":true}', "X-Amzn-Query-Error: A;B"),
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\n\r\n{}",
    ]
    with serving(answers) as (port, requests):
        connection = Connection("http", "127.0.0.1", port, timeout=5)
        first = connection.request("POST", "/", {"Host": "h", "X-Amz-Target": "T.Op"}, b'{"a":1}')
        second = connection.request("POST", "/", {"Host": "h"}, b"{}")
        connection.close()
    assert (first.status, first.body) == (200, b'{"ok":true}')
    assert first.headers["x-amzn-query-error"] == "A;B"
    assert (second.status, second.body) == (400, b"{}")
    assert requests[0].startswith(b"POST / HTTP/1.1\r\nHost: h\r\nX-Amz-Target: T.Op\r\n")
    assert requests[0].endswith(b'Content-Length: 7\r\n\r\n{"a":1}')
    assert len(requests) == 2


def test_chunked_bodies_are_read() -> None:
    answer = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4\r\nWiki\r\n6;x=y\r\npedia \r\n0\r\nT: 1\r\n\r\n"
    )
    with serving([answer]) as (port, _):
        response = Connection("http", "127.0.0.1", port, timeout=5).request("GET", "/", {}, b"")
    assert response.body == b"Wikipedia "


@pytest.mark.parametrize("value", ["a\r\nX-Injected: 1", "a\nb", "a\rb"])
def test_a_header_with_cr_or_lf_is_refused_before_anything_is_sent(value: str) -> None:
    with serving([ok()]) as (port, requests):
        connection = Connection("http", "127.0.0.1", port, timeout=5)
        with pytest.raises(ValueError, match="Invalid header value"):
            connection.request("POST", "/", {"X-Amz-Security-Token": value}, b"{}")
        connection.close()
    assert requests == []


def test_a_huge_content_length_is_refused_not_an_overflow() -> None:
    huge = b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999999\r\n\r\n{}"
    with serving([huge]) as (port, _):
        connection = Connection("http", "127.0.0.1", port, timeout=5)
        with pytest.raises(AnswerLost, match="above"):
            connection.request("GET", "/", {}, b"")


def test_an_answer_above_the_limit_is_refused() -> None:
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n" + b"x" * 32
    with serving([chunked + b"\r\n0\r\n\r\n"]) as (port, _):
        connection = Connection("http", "127.0.0.1", port, timeout=5, max_answer=16)
        with pytest.raises(AnswerLost, match="more than 16 bytes"):
            connection.request("GET", "/", {}, b"")


def test_no_connection_means_not_sent_and_a_hang_up_means_the_answer_was_lost() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    with pytest.raises(ConnectFailed):
        Connection("http", "127.0.0.1", closed_port, timeout=1).request("GET", "/", {}, b"")
    with serving([HANG_UP, ok(b"again")]) as (port, requests):
        connection = Connection("http", "127.0.0.1", port, timeout=5)
        with pytest.raises(AnswerLost):
            connection.request("POST", "/", {}, b"{}")
        assert connection.request("POST", "/", {}, b"{}").body == b"again"  # reopened
    assert len(requests) == 2


def test_connection_close_reopens() -> None:
    answers = [ok(b"one", "Connection: close"), ok(b"two")]
    with serving(answers) as (port, requests):
        connection = Connection("http", "127.0.0.1", port, timeout=5)
        assert connection.request("GET", "/", {}, b"").body == b"one"
        assert connection.request("GET", "/", {}, b"").body == b"two"
    assert len(requests) == 2


def test_https_verifies_the_server_certificate_with_aws_ca_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = _self_signed(tmp_path)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    with serving([ok(b"ok")], tls=server) as (port, _):
        untrusting = Connection("https", "localhost", port, timeout=5)  # system CAs only
        with pytest.raises(ConnectFailed, match="CERTIFICATE_VERIFY_FAILED"):
            untrusting.request("POST", "/", {}, b"")
    monkeypatch.setenv("AWS_CA_BUNDLE", str(cert))
    with serving([ok(b"ok")], tls=server) as (port, _):
        trusting = Connection("https", "localhost", port, timeout=5)
        assert trusting.request("POST", "/", {}, b"").body == b"ok"
        trusting.close()


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
