"""Fixtures for the AWS backend: the test app deployed into the per-test moto state."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from adapters.aws.producer import AwsBackend
from adapters.aws.provision import Provisioned, provision
from adapters.aws.receiver import SqsEventProcessor
from adapters.aws.runtime import LocalLambdaRuntime, sqs_record
from tests.aws import apps
from tests.aws.shapes import check_request_shapes

REGION = "us-east-1"


@dataclass
class Deployed:
    """The test app on moto: its backend, resources and helpers to move messages by hand."""

    backend: AwsBackend
    made: Provisioned
    arns: dict[str, str] = field(default_factory=dict)

    @property
    def sqs(self) -> Any:
        return self.backend.clients.sqs

    def url(self, queue: str) -> str:
        return self.made.queues[queue]

    def receive(self, queue: str, count: int = 10, *, dlq: bool = False) -> list[dict[str, Any]]:
        """Up to ``count`` messages as Lambda event records (one receive, no wait)."""
        url = self.made.dead_letter_queues[queue] if dlq else self.url(queue)
        response = self.sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=count,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        )
        arn = self.arns.get(url)
        if arn is None:
            arn = self.arns[url] = self.sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["QueueArn"]
            )["Attributes"]["QueueArn"]
        return [sqs_record(m, arn, REGION) for m in response.get("Messages", [])]

    def counts(self, queue: str) -> dict[str, int]:
        """Visible, in-flight and delayed message counts of ``queue``."""
        names = [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ]
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.url(queue), AttributeNames=names)
        return {
            name.removeprefix("ApproximateNumberOfMessages").lower() or "visible": int(value)
            for name, value in attributes["Attributes"].items()
        }

    def send_raw(self, queue: str, body: str, **extra: Any) -> str:
        """Put ``body`` on ``queue`` as it is (no envelope checks)."""
        return str(
            self.sqs.send_message(QueueUrl=self.url(queue), MessageBody=body, **extra)["MessageId"]
        )

    def processor(self, clock: Callable[[], float] | None = None) -> SqsEventProcessor:
        """An in-process handler (the Lambda handler's core) for the test app."""
        if clock is None:
            return SqsEventProcessor(apps.app, self.backend)
        return SqsEventProcessor(apps.app, self.backend, clock=clock)

    def runtime(self, processor: SqsEventProcessor | None = None) -> LocalLambdaRuntime:
        """The local runtime invoking ``processor`` in this process."""
        handler = processor or self.processor()
        return LocalLambdaRuntime(
            self.backend,
            "tests.aws.apps:app",
            invoke=lambda queue, event, context: handler.handle(event, context),
        )


def deploy(visibility: int) -> Deployed:
    """Point the test app at moto (``AWS_ENDPOINT_URL`` is set) and create its resources."""
    apps.app.use(f"aws://{REGION}")
    backend = apps.app.backend
    assert isinstance(backend, AwsBackend)
    check_request_shapes(backend.clients.sqs)
    return Deployed(backend, provision(backend, visibility=visibility))


@pytest.fixture
def aws(moto: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A clean moto endpoint in ``AWS_ENDPOINT_URL``; the test app's calls are forgotten."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto)
    monkeypatch.setenv("AWS_REGION", REGION)
    apps.CALLS.clear()
    yield moto
    apps.app.close()


@pytest.fixture
def deployed(aws: str) -> Deployed:
    """The test app deployed on moto, queues with a 1 s visibility timeout."""
    return deploy(visibility=1)
