"""What the handler's JSON clients send again, and when, against canned answers from a real
socket server: never a conditional write that may have been carried out, always a throttled
one; jittered backoff; an HTML error page is an AWS error; a skewed clock is corrected."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from adapters.aws.config import AwsConfig
from adapters.aws.credentials import Credentials, Fixed
from adapters.aws.errors import AmbiguousWrite, translate
from adapters.aws.lite import (
    ATTEMPTS,
    AwsError,
    DynamoDBClient,
    SqsClient,
)
from dispatcher import BackendUnavailable
from tests.aws.canned import HANG_UP, answer, date_header, ok, serving

CONDITIONAL = {
    "TableName": "t",
    "Item": {"id": {"S": "a"}},
    "ConditionExpression": "attribute_not_exists(id)",
}


@contextmanager
def dynamodb(answers: list[bytes]) -> Iterator[tuple[DynamoDBClient, list[bytes], list[float]]]:
    """A DynamoDB client on canned answers; the requests it made and the pauses it took."""
    with serving(answers) as (port, requests):
        pauses: list[float] = []
        client = DynamoDBClient(
            AwsConfig("eu-west-1", f"http://127.0.0.1:{port}"),
            Fixed(Credentials("AKIDEXAMPLE", "secret")),
            timeout=5,
            sleep=pauses.append,
        )
        try:
            yield client, requests, pauses
        finally:
            client.close()


def _error(code: str, status: int = 400, *headers: str) -> bytes:
    body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "m"})
    return answer(status, body.encode(), *headers)


def test_calls_are_named_and_a_typo_is_not_a_request() -> None:
    client = DynamoDBClient(AwsConfig("eu-west-1"), Fixed(Credentials("k", "s")))
    assert callable(client.put_item) and callable(client.update_item)
    assert not hasattr(client, "put_itme")
    assert not hasattr(client, "scan")  # not one of the backend's calls
    assert not hasattr(SqsClient(AwsConfig("eu-west-1"), Fixed(Credentials("k", "s"))), "foo")


def test_a_conditional_write_whose_answer_was_lost_is_not_sent_again() -> None:
    with (
        dynamodb([HANG_UP, ok()]) as (client, requests, _),
        pytest.raises(AmbiguousWrite, match="may or may not have been carried out"),
    ):
        client.put_item(**CONDITIONAL)
    assert len(requests) == 1


def test_a_conditional_write_answered_with_a_5xx_is_not_sent_again() -> None:
    with (
        dynamodb([_error("InternalServerError", 500), ok()]) as (client, requests, _),
        pytest.raises(AmbiguousWrite),
    ):
        client.update_item(TableName="t", Key={"id": {"S": "a"}}, UpdateExpression="SET x = :y")
    assert len(requests) == 1


def test_a_throttled_conditional_write_is_sent_again() -> None:
    answers = [_error("ProvisionedThroughputExceededException"), ok(b'{"Attributes":{}}')]
    with dynamodb(answers) as (client, requests, pauses):
        assert client.put_item(**CONDITIONAL) == {"Attributes": {}}
    assert len(requests) == 2 and len(pauses) == 1


def test_a_read_or_an_unconditional_write_is_sent_again_after_a_lost_answer() -> None:
    with dynamodb([HANG_UP, ok(b'{"Item":{"id":{"S":"a"}}}')]) as (client, requests, _):
        assert client.get_item(TableName="t", Key={"id": {"S": "a"}})["Item"]["id"]["S"] == "a"
    assert len(requests) == 2
    with dynamodb([HANG_UP, HANG_UP, ok()]) as (client, requests, _):
        client.put_item(TableName="t", Item={"id": {"S": "a"}})
    assert len(requests) == 3


def test_an_html_page_from_aws_is_a_retried_aws_error_not_a_json_error() -> None:
    page = answer(503, b"<html><body>Service Unavailable</body></html>", "Content-Type: text/html")
    with dynamodb([page, ok(b"{}")]) as (client, requests, _):
        assert client.get_item(TableName="t", Key={"id": {"S": "a"}}) == {}
    assert len(requests) == 2
    with (
        dynamodb([page] * ATTEMPTS) as (client, requests, _),
        pytest.raises(AwsError, match="HTTP503: <html><body>Service Unavailable") as raised,
    ):
        client.get_item(TableName="t", Key={"id": {"S": "a"}})
    assert raised.value.status == 503 and len(requests) == ATTEMPTS


def test_a_client_error_is_not_sent_again_and_keeps_the_answers_fields() -> None:
    body = json.dumps(
        {
            "__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
            "message": "The conditional request failed",
            "Item": {"id": {"S": "a"}, "token": {"S": "t1"}},
        }
    ).encode()
    with dynamodb([answer(400, body)]) as (client, requests, _), pytest.raises(AwsError) as raised:
        client.put_item(**CONDITIONAL)
    assert raised.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert raised.value.response["Item"]["token"] == {"S": "t1"}  # as boto3 shows it
    assert len(requests) == 1


def test_backoff_is_jittered_and_capped() -> None:
    with dynamodb([_error("ThrottlingException")] * (ATTEMPTS * 20)) as (client, _, pauses):
        for _ in range(20):
            with pytest.raises(AwsError, match="ThrottlingException"):
                client.get_item(TableName="t", Key={"id": {"S": "a"}})
    assert len(pauses) == 20 * (ATTEMPTS - 1)
    assert all(0 <= p <= 1.0 for p in pauses)
    assert len(set(pauses)) > 10  # full jitter: no two clients retry in step


def test_a_skewed_clock_is_corrected_from_the_answers_date() -> None:
    ahead = time.time() + 3600
    skewed = _error("InvalidSignatureException", 400, date_header(ahead))
    with dynamodb([skewed, ok(), ok()]) as (client, requests, pauses):
        client.get_item(TableName="t", Key={"id": {"S": "a"}})
        client.get_item(TableName="t", Key={"id": {"S": "b"}})  # keeps the offset
    assert pauses == [] and abs(client.skew - 3600) < 5

    def amz_date(request: bytes) -> float:
        line = next(x for x in request.split(b"\r\n") if x.lower().startswith(b"x-amz-date"))
        stamp = line.split(b":", 1)[1].strip().decode()
        return time.mktime(time.strptime(stamp, "%Y%m%dT%H%M%SZ")) - time.timezone

    assert abs(amz_date(requests[0]) - time.time()) < 60
    assert abs(amz_date(requests[1]) - ahead) < 60 and abs(amz_date(requests[2]) - ahead) < 60


def test_a_signature_error_with_a_close_clock_is_not_taken_for_skew() -> None:
    wrong = _error("InvalidSignatureException", 400, date_header(time.time()))
    with (
        dynamodb([wrong]) as (client, requests, _),
        pytest.raises(AwsError, match="InvalidSignatureException"),
    ):
        client.get_item(TableName="t", Key={"id": {"S": "a"}})
    assert len(requests) == 1 and client.skew == 0


def test_an_ambiguous_write_reads_as_an_unavailable_backend() -> None:
    mapped = translate(AmbiguousWrite("lost"), "claiming x")
    assert isinstance(mapped, BackendUnavailable)
