"""Where the handler's own calls find credentials: the environment, else the container
credentials endpoint (SnapStart, ECS, EKS), served here by a real socket server on 127.0.0.1
with the endpoint's answer; its address rules, its token, and refreshing before expiry."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.aws import credentials
from adapters.aws.config import AwsConfig
from adapters.aws.credentials import ContainerCredentials, Credentials, check_endpoint
from adapters.aws.lite import DynamoDBClient, LiteClients
from dispatcher import BackendNotConfigured, BackendUnavailable
from tests.aws.canned import answer, ok, serving

EXPIRES = 1_900_000_000.0


def _document(key: str, expires: float = EXPIRES) -> bytes:
    expiration = datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return json.dumps(
        {
            "AccessKeyId": key,
            "SecretAccessKey": "secret",
            "Token": "session-token",
            "Expiration": expiration,
        }
    ).encode()


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        credentials.FULL_URI_ENV,
        credentials.RELATIVE_URI_ENV,
        credentials.TOKEN_ENV,
        credentials.TOKEN_FILE_ENV,
    ):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_environment_comes_first(no_credentials: pytest.MonkeyPatch) -> None:
    no_credentials.setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
    no_credentials.setenv("AWS_SECRET_ACCESS_KEY", "s")
    no_credentials.setenv(credentials.FULL_URI_ENV, "http://127.0.0.1:9/creds")
    source = credentials.resolve()
    assert source is not None and source.current() == Credentials("AKIDENV", "s", None)


def test_the_container_endpoint_signs_the_calls(
    no_credentials: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("from-a-file\n")
    with serving([ok(_document("AKIDCONTAINER"))]) as (creds_port, creds_requests):
        no_credentials.setenv(credentials.FULL_URI_ENV, f"http://127.0.0.1:{creds_port}/v1/creds")
        no_credentials.setenv(credentials.TOKEN_FILE_ENV, str(token_file))
        with serving([ok(), ok()]) as (port, requests):
            clients = LiteClients(AwsConfig("eu-west-1", f"http://127.0.0.1:{port}"))
            client = clients.dynamodb
            assert isinstance(client, DynamoDBClient)  # no boto3 needed
            client.get_item(TableName="t", Key={"id": {"S": "a"}})
            client.close()  # the canned server answers one connection at a time
            clients.sqs.get_queue_url(QueueName="q")  # the same credentials: no second fetch
            clients.close()
    [fetch] = creds_requests
    assert fetch.startswith(b"GET /v1/creds HTTP/1.1")
    assert b"\r\nAuthorization: from-a-file\r\n" in fetch
    assert b"Credential=AKIDCONTAINER/" in requests[0]
    assert b"\r\nX-Amz-Security-Token: session-token\r\n" in requests[0]


def test_container_credentials_are_fetched_again_before_they_expire() -> None:
    now = [EXPIRES - 3600]
    documents = [ok(_document("AKIDONE")), ok(_document("AKIDTWO", EXPIRES + 3600))]
    with serving(documents) as (port, requests):
        source = ContainerCredentials(
            f"http://127.0.0.1:{port}/creds", lambda: "t", clock=lambda: now[0]
        )
        assert source.current().key == "AKIDONE"
        now[0] = EXPIRES - credentials.REFRESH_AHEAD - 1
        assert source.current().key == "AKIDONE"  # still valid long enough
        now[0] = EXPIRES - credentials.REFRESH_AHEAD + 1
        assert source.current().key == "AKIDTWO"
    assert len(requests) == 2


def test_a_refusing_endpoint_is_a_clear_error() -> None:
    with serving([answer(403, b"no")]) as (port, _):
        source = ContainerCredentials(f"http://127.0.0.1:{port}/creds", lambda: None)
        with pytest.raises(BackendUnavailable, match="answered HTTP 403"):
            source.current()


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://127.0.0.1:8080/creds", True),
        ("http://[::1]/creds", True),
        ("http://169.254.170.2/v2/credentials/x", True),
        ("http://169.254.170.23/v1/credentials", True),
        ("https://creds.example.com/x", True),
        ("http://creds.example.com/x", False),
        ("http://10.0.0.1/x", False),
        ("file:///etc/passwd", False),
    ],
)
def test_only_the_endpoints_the_sdks_allow(url: str, allowed: bool) -> None:
    if allowed:
        check_endpoint(url)
    else:
        with pytest.raises(BackendNotConfigured):
            check_endpoint(url)


def test_a_relative_uri_is_read_from_the_ecs_host(no_credentials: pytest.MonkeyPatch) -> None:
    no_credentials.setenv(credentials.RELATIVE_URI_ENV, "/v2/credentials/abc")
    source = credentials.resolve()
    assert isinstance(source, ContainerCredentials)
    assert source.url == "http://169.254.170.2/v2/credentials/abc"


def test_nothing_configured_falls_back_to_boto3(no_credentials: pytest.MonkeyPatch) -> None:
    assert credentials.resolve() is None
