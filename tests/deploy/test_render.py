"""Renderers, tested on models built by hand: no decorators, no cloud."""

from __future__ import annotations

import json
from typing import Any

import pytest

from adapters.aws import infra
from dispatcher.deploy import hcl
from dispatcher.deploy.errors import UnknownFormat, UnsupportedResource
from dispatcher.deploy.graph import ordered
from dispatcher.deploy.model import (
    RESOURCE_TYPES,
    DeadLetterQueue,
    Deployment,
    Grant,
    Identity,
    PayloadStore,
    Queue,
    Resource,
    ResultStore,
    Schedule,
    Trigger,
    Worker,
)
from dispatcher.deploy.render import RENDERERS, Renderer, renderer_for
from dispatcher.envelope import decode


def _worker(queue: str, **changes: Any) -> list[Resource]:
    grants = (
        Grant(resource=queue, access="consume"),
        Grant(resource="jobs", access="send"),
        Grant(resource="ordered", access="send"),
        Grant(resource=f"{queue}-dlq", access="send"),
        Grant(resource="results", access="read_write"),
        Grant(resource="claim-checks", access="read_write"),
        Grant(resource=f"{queue}-worker", access="write_logs"),
    )
    return [
        Identity(name=f"{queue}-identity", worker=f"{queue}-worker", grants=grants),
        Worker(
            name=f"{queue}-worker",
            physical_name=f"demo-{queue}-worker",
            queue=queue,
            tasks=(f"demo.{queue}_task",),
            memory_mb=changes.get("memory", 256),
            timeout_seconds=changes.get("timeout", 30),
            entrypoint="adapters.aws.entrypoint.handler",
            runtime="python3.11",
            environment={"DISPATCHER_APP": "demo:app", "DISPATCHER_BACKEND": "aws"},
            reserved_concurrency=changes.get("reserved"),
            identity=f"{queue}-identity",
        ),
        Trigger(
            name=f"{queue}-trigger",
            worker=f"{queue}-worker",
            queue=queue,
            batch_size=changes.get("batch", 10),
            batching_window_seconds=changes.get("window", 0),
            max_concurrency=changes.get("concurrency"),
        ),
    ]


def hand_model() -> Deployment:
    """A standard queue with a batching window, and an ordered queue with a schedule."""
    resources: list[Resource] = [
        DeadLetterQueue(
            name="jobs-dlq",
            physical_name="demo-jobs-dlq",
            ordered=False,
            retention_seconds=1_209_600,
        ),
        Queue(
            name="jobs",
            physical_name="demo-jobs",
            queue="jobs",
            ordered=False,
            tasks=("demo.jobs_task",),
            visibility_timeout_seconds=180,
            retention_seconds=345_600,
            max_receive_count=8,
            dead_letter="jobs-dlq",
        ),
        DeadLetterQueue(
            name="ordered-dlq",
            physical_name="demo-ordered-dlq.fifo",
            ordered=True,
            retention_seconds=1_209_600,
        ),
        Queue(
            name="ordered",
            physical_name="demo-ordered.fifo",
            queue="ordered",
            ordered=True,
            tasks=("demo.ordered_task",),
            visibility_timeout_seconds=60,
            retention_seconds=345_600,
            max_receive_count=6,
            dead_letter="ordered-dlq",
        ),
        ResultStore(name="results", physical_name="demo-results"),
        PayloadStore(name="claim-checks", physical_name="demo-claim-checks", expire_after_days=5),
        *_worker("jobs", batch=100, window=5, memory=1024, timeout=120, concurrency=7),
        *_worker("ordered", reserved=1),
        Schedule(
            name="tick-schedule",
            task="demo.ordered_task",
            queue="ordered",
            schedule="rate",
            expression="every 5 minutes",
            every_seconds=300,
        ),
    ]
    return Deployment(
        app="demo", app_reference="demo:app", provider="aws", resources=tuple(ordered(resources))
    )


@pytest.mark.parametrize("key", sorted(RENDERERS))
def test_every_renderer_handles_every_resource_type(key: tuple[str, str]) -> None:
    renderer = renderer_for(*key)
    assert isinstance(renderer, Renderer)
    missing = [t.__name__ for t in RESOURCE_TYPES if t not in renderer.handlers()]
    assert not missing, f"{key} has no translation for {missing}"


def test_unknown_format_and_missing_handler_are_errors() -> None:
    with pytest.raises(UnknownFormat, match="no 'pulumi' renderer"):
        renderer_for("pulumi", "aws")

    class Partial(infra.CloudFormationRenderer):
        def handlers(self) -> Any:
            return {Queue: self.resources.queue}

    with pytest.raises(UnsupportedResource, match="DeadLetterQueue 'jobs-dlq'"):
        Partial().render(hand_model())


def test_ordered_puts_dependencies_first() -> None:
    names = [r.name for r in hand_model().resources]
    for resource in hand_model().resources:
        for dependency in resource.dependencies():
            assert names.index(dependency) < names.index(resource.name)


def _cfn(format: str = "cloudformation") -> dict[str, Any]:
    renderer = renderer_for(format, "aws")
    assert isinstance(renderer, infra.CloudFormationRenderer)
    resources: dict[str, Any] = renderer.template(hand_model())["Resources"]
    return resources


def test_cloudformation_queues_redrive_and_fifo() -> None:
    resources = _cfn()
    jobs = resources["JobsQueue"]["Properties"]
    assert jobs["VisibilityTimeout"] == 180
    assert jobs["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["JobsDlq", "Arn"]},
        "maxReceiveCount": 8,
    }
    assert "FifoQueue" not in jobs
    fifo = resources["OrderedQueue"]["Properties"]
    assert fifo["QueueName"] == "demo-ordered.fifo" and fifo["FifoQueue"] is True
    assert resources["OrderedDlq"]["Properties"]["FifoQueue"] is True


def test_cloudformation_event_source_mappings() -> None:
    resources = _cfn()
    jobs = resources["JobsTrigger"]["Properties"]
    assert jobs["BatchSize"] == 100
    assert jobs["MaximumBatchingWindowInSeconds"] == 5
    assert jobs["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert jobs["ScalingConfig"] == {"MaximumConcurrency": 7}
    fifo = resources["OrderedTrigger"]["Properties"]
    assert "MaximumBatchingWindowInSeconds" not in fifo and "ScalingConfig" not in fifo
    function = resources["OrderedWorker"]["Properties"]
    assert function["ReservedConcurrentExecutions"] == 1
    assert resources["JobsWorker"]["Properties"]["MemorySize"] == 1024
    assert resources["JobsWorker"]["Properties"]["Timeout"] == 120


def test_cloudformation_role_is_least_privilege() -> None:
    statements = _cfn()["JobsIdentityRole"]["Properties"]["Policies"][0]["PolicyDocument"][
        "Statement"
    ]
    by_action = {s["Action"][0]: s["Resource"] for s in statements}
    assert by_action["sqs:ReceiveMessage"] == [{"Fn::GetAtt": ["JobsQueue", "Arn"]}]
    sent = by_action["sqs:SendMessage"]
    assert {"Fn::GetAtt": ["OrderedQueue", "Arn"]} in sent
    assert {"Fn::GetAtt": ["JobsDlq", "Arn"]} in sent
    assert {"Fn::GetAtt": ["OrderedDlq", "Arn"]} not in sent
    assert by_action["dynamodb:GetItem"] == [{"Fn::GetAtt": ["ResultsTable", "Arn"]}]
    assert all(r != "*" for resources in by_action.values() for r in resources)


def test_schedule_puts_an_envelope_on_the_queue() -> None:
    resources = _cfn()
    rule = resources["TickSchedule"]["Properties"]
    assert rule["ScheduleExpression"] == "rate(5 minutes)"
    target = rule["Targets"][0]
    assert target["SqsParameters"] == {"MessageGroupId": "demo.ordered_task"}
    body = json.loads(
        target["InputTransformer"]["InputTemplate"]
        .replace('"<id>"', '"x"')
        .replace('"<time>"', '"2026-01-01T00:00:00Z"')
    )
    assert body == {
        "version": 1,
        "id": "x",
        "task": "demo.ordered_task",
        "created_at": "2026-01-01T00:00:00Z",
    }
    event = {"id": "5b2f7a0e-1c0d-4f5e-9a8b-7c6d5e4f3a2b", "time": "2026-11-25T03:00:00Z"}
    filled = target["InputTransformer"]["InputTemplate"]
    for key, path in target["InputTransformer"]["InputPathsMap"].items():
        filled = filled.replace(f"<{key}>", event[path.removeprefix("$.")])
    envelope = decode(filled)
    assert envelope.task == "demo.ordered_task" and envelope.id == event["id"]
    policy = resources["OrderedQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert policy["Principal"] == {"Service": "events.amazonaws.com"}


def test_sam_folds_triggers_into_functions() -> None:
    renderer = renderer_for("sam", "aws")
    assert isinstance(renderer, infra.SamRenderer)
    template = renderer.template(hand_model())
    assert template["Transform"] == "AWS::Serverless-2016-10-31"
    function = template["Resources"]["JobsWorker"]
    assert function["Type"] == "AWS::Serverless::Function"
    event = function["Properties"]["Events"]["Queue"]
    assert event["Type"] == "SQS" and event["Properties"]["BatchSize"] == 100
    assert not any(
        r["Type"] == "AWS::Lambda::EventSourceMapping" for r in template["Resources"].values()
    )


def test_serverless_functions_and_events() -> None:
    renderer = renderer_for("serverless", "aws")
    assert isinstance(renderer, infra.ServerlessRenderer)
    config = renderer.config(hand_model())
    jobs = config["functions"]["jobs"]
    assert jobs["name"] == "demo-jobs-worker" and jobs["memorySize"] == 1024
    assert jobs["events"] == [
        {
            "sqs": {
                "arn": {"Fn::GetAtt": ["JobsQueue", "Arn"]},
                "batchSize": 100,
                "maximumBatchingWindow": 5,
                "functionResponseType": "ReportBatchItemFailures",
                "maximumConcurrency": 7,
            }
        }
    ]
    assert config["functions"]["ordered"]["reservedConcurrency"] == 1
    assert "JobsQueue" in config["resources"]["Resources"]
    assert config["package"]["artifact"] == "build/demo-lambda.zip"


def test_terraform_text() -> None:
    text = renderer_for("terraform", "aws").render(hand_model())["main.tf"]
    assert 'resource "aws_lambda_event_source_mapping" "jobs_trigger" {' in text
    assert "maximum_batching_window_in_seconds = 5" in text
    assert "maximum_concurrency = 7" in text
    assert 'message_group_id = "demo.ordered_task"' in text
    assert "reserved_concurrent_executions = 1" in text
    assert "# checkov:skip=CKV_AWS_117:" in text


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("0 3 * * *", "cron(0 3 * * ? *)"),
        ("*/15 * * * 1-5", "cron(*/15 * ? * 2-6 *)"),
        ("0 12 1 * *", "cron(0 12 1 * ? *)"),
        ("0 0 * * 0,6", "cron(0 0 ? * 1,7 *)"),
        ("0 0 * * MON", "cron(0 0 ? * MON *)"),
    ],
)
def test_cron_translation(expression: str, expected: str) -> None:
    schedule = Schedule(name="s", task="t", queue="q", schedule="cron", expression=expression)
    assert infra.schedule_expression(schedule) == expected


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(60, "rate(1 minute)"), (7200, "rate(2 hours)"), (86_400, "rate(1 day)")],
)
def test_rate_translation(seconds: int, expected: str) -> None:
    schedule = Schedule(
        name="s", task="t", queue="q", schedule="rate", expression="x", every_seconds=seconds
    )
    assert infra.schedule_expression(schedule) == expected


def test_hcl_values_and_alignment() -> None:
    block = hcl.Block(
        "resource",
        ("a", "b"),
        [
            hcl.Attribute("name", 'say "${hi}"'),
            hcl.Attribute("long_name", hcl.Expr("var.x")),
            hcl.Attribute("tags", {"k": True, "key-2": None}),
            hcl.Attribute("after", [1, "two"]),
        ],
    )
    assert hcl.document([block]) == (
        'resource "a" "b" {\n'
        '  name      = "say \\"$${hi}\\""\n'
        "  long_name = var.x\n"
        "  tags = {\n"
        "    k       = true\n"
        '    "key-2" = null\n'
        "  }\n"
        '  after = [1, "two"]\n'
        "}\n"
    )
