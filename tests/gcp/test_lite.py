"""The Cloud Storage JSON API client: its requests on the GCS emulator, and against a small
scripted server on 127.0.0.1 what the emulator never does (5xx and 429 answers, refused
credentials, a dropped idle connection, the metadata server's tokens)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from adapters.gcp.lite import (
    Anonymous,
    ApplicationDefault,
    MetadataServer,
    PreconditionFailed,
    StorageApi,
    default_tokens,
)
from dispatcher.errors import BackendNotConfigured, BackendUnavailable, Throttled
from tests.conftest import GcsEmulator


class Scripted(ThreadingHTTPServer):
    """Answers each request with the next scripted ``(status, headers, body)`` and records
    ``(method, path, headers)``; ``close_after`` hangs up after each answer."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.script: list[tuple[int, dict[str, str], bytes]] = []
        self.seen: list[tuple[str, str, dict[str, str]]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Scripted

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.server.seen.append((self.command, self.path, dict(self.headers)))
        status, headers, body = self.server.script.pop(0)
        self.send_response(status)
        for name, value in {"Content-Length": str(len(body)), **headers}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = do_PATCH = _answer

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def scripted() -> Iterator[Scripted]:
    server = Scripted()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _ok(body: dict[str, object]) -> tuple[int, dict[str, str], bytes]:
    return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()


def _error(status: int, message: str) -> tuple[int, dict[str, str], bytes]:
    return status, {}, json.dumps({"error": {"code": status, "message": message}}).encode()


def test_reads_are_retried_after_5xx_and_429(scripted: Scripted) -> None:
    scripted.script = [_error(503, "busy"), _error(429, "slow down"), (200, {}, b"data")]
    api = StorageApi(scripted.url)
    assert api.download("b", "results/x.json") == (b"data", None)
    assert [seen[1] for seen in scripted.seen] == [
        "/storage/v1/b/b/o/results%2Fx.json?alt=media"
    ] * 3


def test_writes_are_not_retried_and_errors_say_what_failed(scripted: Scripted) -> None:
    scripted.script = [_error(503, "backend error")]
    with pytest.raises(BackendUnavailable, match=r"writing k: Cloud Storage answered 503: backend"):
        StorageApi(scripted.url).upload("b", "k", b"{}")
    assert len(scripted.seen) == 1
    scripted.script = [_error(429, "rate")]
    with pytest.raises(Throttled):
        StorageApi(scripted.url).delete("b", "k")
    scripted.script = [_error(403, "no access to b")]
    with pytest.raises(BackendNotConfigured, match="403: no access to b"):
        StorageApi(scripted.url).names("b", "dead-letters/")


def test_missing_exists_and_changed_are_answers_not_errors(scripted: Scripted) -> None:
    scripted.script = [_error(404, "gone"), _error(404, "gone"), _error(412, "changed")]
    api = StorageApi(scripted.url)
    assert api.download("b", "k") is None
    assert api.delete("b", "k") is False
    with pytest.raises(PreconditionFailed):
        api.upload("b", "k", b"{}", if_generation_match=0)
    assert "ifGenerationMatch=0" in scripted.seen[-1][1]


def test_listing_follows_every_page(scripted: Scripted) -> None:
    scripted.script = [
        _ok({"items": [{"name": "p/b"}], "nextPageToken": "t1"}),
        _ok({"items": [{"name": "p/a"}]}),
    ]
    assert StorageApi(scripted.url).names("b", "p/") == ["p/a", "p/b"]
    assert "pageToken=t1" in scripted.seen[1][1]


def test_a_connection_the_server_closed_is_replaced(scripted: Scripted) -> None:
    scripted.script = [(200, {"Connection": "close"}, b"one"), (200, {}, b"two")]
    api = StorageApi(scripted.url)
    assert api.download("b", "one") == (b"one", None)
    assert api.download("b", "two") == (b"two", None)


def test_an_unreachable_endpoint_is_unavailable() -> None:
    with pytest.raises(BackendUnavailable, match="cannot reach Cloud Storage"):
        StorageApi("http://127.0.0.1:9", timeout=1).download("b", "k")


def test_tokens_come_from_the_metadata_server_and_are_cached(
    scripted: Scripted, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GCE_METADATA_HOST", scripted.url.removeprefix("http://"))
    scripted.script = [_ok({"access_token": "tok-1", "expires_in": 3599}), (200, {}, b"x")]
    scripted.script.append((200, {}, b"y"))
    api = StorageApi(scripted.url, MetadataServer())
    api.download("b", "x")
    api.download("b", "y")
    token_request, *reads = scripted.seen
    assert token_request[1].endswith("/service-accounts/default/token")
    assert token_request[2]["Metadata-Flavor"] == "Google"
    assert [r[2]["Authorization"] for r in reads] == ["Bearer tok-1", "Bearer tok-1"]


@pytest.mark.emulator
def test_on_the_emulator(gcs: GcsEmulator) -> None:
    api = StorageApi(gcs.url)
    bucket = "lite-test-bucket"
    api.create_bucket("p-lite", bucket, {"lifecycle": {"rule": []}})
    assert api.create_bucket("p-lite", bucket, {}) is False  # it exists
    api.upload(bucket, "a/b.json", b'{"x": 1}', if_generation_match=0)
    request = [r for r in gcs.requests() if r.startswith("POST /upload/")][-1]
    assert "uploadType=multipart" in request and "ifGenerationMatch=0" in request
    data, _ = api.download(bucket, "a/b.json") or (b"", None)
    assert data == b'{"x": 1}'
    metadata = api.metadata(bucket, "a/b.json")
    assert metadata is not None and metadata["contentType"] == "application/json"
    payload = bytes(range(256)) * 12_000  # 3 MB, every byte value
    api.upload(bucket, "a/big", payload, content_type="application/octet-stream")
    assert (api.download(bucket, "a/big") or (b"", None))[0] == payload
    assert api.names(bucket, "a/") == ["a/b.json", "a/big"]
    assert api.delete(bucket, "a/big") and not api.delete(bucket, "a/big")


def test_elsewhere_application_default_credentials_are_used(
    scripted: Scripted, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    account = {
        "type": "service_account",
        "project_id": "p-lite",
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": "producer@p-lite.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": f"{scripted.url}/token",
    }
    path = tmp_path / "account.json"
    path.write_text(json.dumps(account))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    monkeypatch.delenv("K_SERVICE", raising=False)
    scripted.script = [_ok({"access_token": "adc-1", "expires_in": 3600}), (200, {}, b"x")]
    tokens = default_tokens(emulated=False)
    assert isinstance(tokens, ApplicationDefault)
    StorageApi(scripted.url, tokens).download("b", "x")
    (method, target, _), (_, _, read) = scripted.seen
    assert (method, target) == ("POST", "/token")  # google-auth's JWT grant, to our server
    assert read["Authorization"] == "Bearer adc-1"


def test_on_cloud_run_the_metadata_server_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("K_SERVICE", "shop-payments-worker")
    assert isinstance(default_tokens(emulated=False), MetadataServer)
    assert isinstance(default_tokens(emulated=True), Anonymous)
