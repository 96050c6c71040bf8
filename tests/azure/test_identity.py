"""Managed identity tokens for the small Table client: the platform's token endpoint (a local
server here, answering as the documented endpoint does) and Azurite checking bearer tokens
over HTTPS (``--oauth basic``: issuer, audience, lifetime), so that a function with no storage
key (what the generated infrastructure makes) claims and records results without the SDK."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from adapters.azure import project
from adapters.azure.azurite import azurite
from adapters.azure.config import AzureConfig, parse_connection_string
from adapters.azure.identity import STORAGE, ManagedIdentityTokens
from adapters.azure.lite import LiteEntities, TableRequestFailed
from adapters.azure.results import TableResults
from dispatcher.backend import Claim
from dispatcher.errors import BackendUnavailable
from tests.azure import apps

SECRET = "identity-header-secret"
CLIENT_ID = "0f1e2d3c-0000-1111-2222-333344445555"
ISSUER = "https://sts.windows.net/72f988bf-0000-0000-0000-000000000000/"


def jwt(audience: str = "https://storage.azure.com", lifetime: int = 3600) -> str:
    """An unsigned token with the claims Azurite checks."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    now = int(time.time())
    claims = {"aud": audience, "iss": ISSUER, "iat": now, "nbf": now - 60, "exp": now + lifetime}
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.signature"


class TokenEndpoint:
    """The platform's managed identity endpoint: checks the secret header, the API version,
    the resource and the client id, and answers with a token; counts its requests."""

    def __init__(self, audience: str = "https://storage.azure.com") -> None:
        self.audience, self.requests, self.status = audience, 0, 200
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                endpoint.requests += 1
                query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
                wanted = {"resource": STORAGE, "api-version": "2019-08-01", "client_id": CLIENT_ID}
                if self.headers.get("X-IDENTITY-HEADER") != SECRET or query != wanted:
                    self.send_response(400)
                    self.end_headers()
                    self.wfile.write(b'{"error":"bad request"}')
                    return
                body = json.dumps(
                    {
                        "access_token": jwt(endpoint.audience),
                        "expires_on": str(int(time.time()) + 3600),
                        "resource": STORAGE,
                        "token_type": "Bearer",
                        "client_id": CLIENT_ID,
                    }
                ).encode()
                self.send_response(endpoint.status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/msi/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint() -> Iterator[TokenEndpoint]:
    served = TokenEndpoint()
    yield served
    served.close()


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert, key_file = folder / "azurite.pem", folder / "azurite-key.pem"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert, key_file


@pytest.fixture(scope="module")
def oauth_azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """Azurite over HTTPS, checking bearer tokens; its connection string and certificate."""
    cert, key = _certificate(tmp_path_factory.mktemp("tls"))
    with azurite(tls=(cert, key), oauth=True) as connection:
        yield connection, cert


def _table(connection: str, cert: Path, name: str) -> None:
    """Create a table with the account key (Azurite still takes it)."""
    from azure.data.tables import TableServiceClient

    with TableServiceClient.from_connection_string(connection, connection_verify=str(cert)) as s:
        s.create_table_if_not_exists(name)


def test_tokens_are_cached_until_five_minutes_before_they_expire(
    endpoint: TokenEndpoint,
) -> None:
    now = [time.time()]
    tokens = ManagedIdentityTokens(endpoint.url, SECRET, CLIENT_ID, clock=lambda: now[0])
    first = tokens.token()
    assert tokens.token() == first and endpoint.requests == 1
    now[0] += 3600 - 299  # within the last five minutes
    tokens.token()
    assert endpoint.requests == 2


def test_a_refused_or_unreachable_endpoint_is_named(endpoint: TokenEndpoint) -> None:
    with pytest.raises(BackendUnavailable, match=r"refused a storage token \(400\)"):
        ManagedIdentityTokens(endpoint.url, "wrong secret", CLIENT_ID).token()
    endpoint.close()
    with pytest.raises(BackendUnavailable, match="cannot reach the managed identity endpoint"):
        ManagedIdentityTokens(endpoint.url, SECRET, CLIENT_ID).token()


def test_the_endpoint_is_found_in_the_environment() -> None:
    env = {"IDENTITY_ENDPOINT": "http://127.0.0.1:1/msi/token", "IDENTITY_HEADER": SECRET}
    found = ManagedIdentityTokens.from_environment(CLIENT_ID, env)
    assert found is not None and (found.endpoint, found.client_id) == (
        env["IDENTITY_ENDPOINT"],
        CLIENT_ID,
    )
    assert ManagedIdentityTokens.from_environment(CLIENT_ID, {}) is None


@pytest.mark.emulator
@pytest.mark.slow
def test_the_small_client_claims_and_records_with_a_bearer_token(
    oauth_azurite: tuple[str, Path],
    endpoint: TokenEndpoint,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    connection, cert = oauth_azurite
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    _table(connection, cert, "bearerresults")
    keyless = AzureConfig.from_connection_string(connection)._replace(key=None)
    tokens = ManagedIdentityTokens(endpoint.url, SECRET, CLIENT_ID)
    entities = LiteEntities(keyless, "bearerresults", tokens)
    results = TableResults(entities, "bearerresults")
    assert results.claim("m-1", "t", 1, lease=30) is Claim.GRANTED
    assert results.claim("m-1", "t", 1, lease=30) is Claim.BUSY
    assert endpoint.requests == 1  # one token for every request
    entities.close()
    # Azurite checks what it can of a token: a token for another audience is refused
    wrong = TokenEndpoint(audience="https://management.azure.com")
    try:
        other = LiteEntities(
            keyless, "bearerresults", ManagedIdentityTokens(wrong.url, SECRET, CLIENT_ID)
        )
        with pytest.raises(TableRequestFailed) as refused:
            other.read("m-1", "claim")
        assert refused.value.status_code in (401, 403)
    finally:
        wrong.close()


@pytest.mark.emulator
@pytest.mark.slow
def test_a_keyless_functions_first_message_imports_no_azure_sdk(
    oauth_azurite: tuple[str, Path],
    endpoint: TokenEndpoint,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The cold path with the settings the generated infrastructure gives the Function App:
    AzureWebJobsStorage__accountName/__clientId (service URIs here, for Azurite) and the
    platform's IDENTITY_ENDPOINT/IDENTITY_HEADER."""
    connection, cert = oauth_azurite
    settings = parse_connection_string(connection)
    _table(connection, cert, "aztestresults")
    project.write(project.plan_for(apps.app, "tests.azure.apps:app"), tmp_path)
    body = apps.add.message((20, 22)).body
    script = (
        "import base64, sys\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "from function_app import app\n"
        "from azure.functions import queue\n"
        "[f] = [f for f in app.get_functions() if f.get_function_name() == 'queue_default']\n"
        f"body = base64.b64decode({base64.b64encode(body).decode()!r})\n"
        "f.get_user_function()(queue.QueueMessage(id='m', body=body, dequeue_count=1))\n"
        "heavy = ['azure.core', 'azure.identity', 'azure.data.tables', 'msal', 'requests']\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "AzureWebJobs"))}
    env |= {
        "AzureWebJobsStorage__accountName": "devstoreaccount1",
        "AzureWebJobsStorage__clientId": CLIENT_ID,
        "AzureWebJobsStorage__credential": "managedidentity",
        **{
            f"AzureWebJobsStorage__{s}ServiceUri": settings[f"{s}endpoint"]
            for s in ("queue", "blob", "table")
        },
        "IDENTITY_ENDPOINT": endpoint.url,
        "IDENTITY_HEADER": SECRET,
        "SSL_CERT_FILE": str(cert),
    }
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=root, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
    assert endpoint.requests == 1
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    keyed = LiteEntities(AzureConfig.from_connection_string(connection), "aztestresults")
    record = TableResults(keyed, "aztestresults").get(json.loads(body)["id"])
    assert record is not None and record.value == 42
