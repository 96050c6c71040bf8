"""The handler's small signed JSON client: the same signatures as botocore, the same answers
and errors as boto3 against moto, and a cold path without boto3."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from adapters.aws.config import AwsConfig
from adapters.aws.lite import JsonClient, LiteClients
from adapters.aws.producer import AwsBackend
from adapters.aws.results import DynamoResults
from adapters.aws.sigv4 import sign
from dispatcher import BackendUnavailable, Claim, Granted, QueueNotFound
from tests.aws import apps
from tests.aws.conftest import REGION, Deployed

pytestmark = pytest.mark.emulator


@pytest.mark.parametrize(
    ("service", "url", "token"),
    [
        ("dynamodb", "https://dynamodb.eu-west-1.amazonaws.com/", None),
        ("sqs", "https://sqs.eu-west-1.amazonaws.com/", "session-token"),
        ("sqs", "http://127.0.0.1:4566/", None),
    ],
)
def test_signatures_match_botocore(service: str, url: str, token: str | None) -> None:
    body = json.dumps({"TableName": "t", "Key": {"id": {"S": "a b"}}}).encode()
    now = datetime(2026, 11, 25, 12, 30, 5, tzinfo=UTC)
    headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "X.Op"}
    ours = sign(
        "POST", url, headers, body, service=service, region="eu-west-1",
        credentials=("AKIDEXAMPLE", "secret/key", token), now=now,
    )  # fmt: skip
    request = AWSRequest(
        method="POST", url=url, data=body, headers={**headers, "X-Amz-Date": "20261125T123005Z"}
    )
    if token:
        request.headers["X-Amz-Security-Token"] = token
    request.context["timestamp"] = "20261125T123005Z"
    auth = SigV4Auth(Credentials("AKIDEXAMPLE", "secret/key", token), service, "eu-west-1")
    canonical = auth.canonical_request(request)
    signature = auth.signature(auth.string_to_sign(request, canonical), request)
    assert ours["Authorization"].endswith(f"Signature={signature}")
    assert (
        f"SignedHeaders={auth.signed_headers(auth.headers_to_sign(request))},"
        in (ours["Authorization"])
    )


def _lite_backend() -> AwsBackend:
    config = AwsConfig.from_spec(f"aws://{REGION}")
    return AwsBackend(apps.app, config, clients=LiteClients(config))


def test_lite_clients_claim_like_boto3(deployed: Deployed) -> None:
    backend = _lite_backend()
    assert isinstance(backend.clients.dynamodb, JsonClient)
    results: DynamoResults = backend.results
    assert results.claim("t1", "task", 1, lease=60) == Granted(1)
    assert results.claim("t1", "task", 1, lease=60) is Claim.BUSY
    assert deployed.backend.results.claim("t1", "task", 1, lease=60) is Claim.BUSY  # boto3 agrees
    record = results.get("t1")
    assert record is not None and record.status.value == "running"
    assert results.get("nope") is None


def test_lite_clients_run_the_handler_path(deployed: Deployed) -> None:
    from adapters.aws.receiver import SqsEventProcessor

    handle = apps.refuse.delay("XX")
    ok = apps.add.delay(1, 2)
    processor = SqsEventProcessor(apps.app, _lite_backend())
    assert processor.handle({"Records": deployed.receive("default")}) == {"batchItemFailures": []}
    assert ok.result(timeout=1) == 3
    assert handle.status().status.value == "failed"  # type: ignore[union-attr]
    assert len(deployed.receive("default", dlq=True)) == 1


def test_lite_clients_name_a_missing_queue(deployed: Deployed) -> None:
    with pytest.raises(QueueNotFound, match="'nowhere' does not exist"):
        _lite_backend().queue_url("nowhere")


def test_lite_clients_say_when_the_endpoint_is_unreachable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    with pytest.raises(BackendUnavailable, match="cannot reach AWS"):
        _lite_backend().results.get("x")


def test_the_cold_path_imports_neither_boto3_nor_pydantic_nor_other_providers(
    deployed: Deployed,
) -> None:
    message = apps.add.message((20, 22))
    record = {
        "messageId": "m1",
        "receiptHandle": "rh",
        "body": message.body.decode(),
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:awstest-default",
        "awsRegion": REGION,
    }
    code = (
        "import json, sys\n"
        "from adapters.aws.entrypoint import handler\n"
        "print(json.dumps(handler(json.loads(sys.argv[1]))))\n"
        "heavy = ('boto3', 'botocore', 'pydantic', 'logging', 'adapters.local')\n"
        "print([name for name in heavy if name in sys.modules])\n"
        "from dispatcher.plugins import plugins\n"
        "print(plugins.cache_info().currsize)  # the entry points were never read\n"
    )
    env = {"DISPATCHER_APP": "tests.aws.apps:app", "DISPATCHER_BACKEND": f"aws://{REGION}"}
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps({"Records": [record]})],
        capture_output=True, text=True, check=True, env={**os.environ, **env},
    )  # fmt: skip
    assert out.stdout.splitlines() == ['{"batchItemFailures": []}', "[]", "0"]
    assert deployed.backend.results.get(message.envelope.id).value == 42  # type: ignore[union-attr]
