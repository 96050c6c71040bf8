"""Renderers, tested on models built by hand: no decorators, no cloud."""

from __future__ import annotations

import json
from typing import Any

import pytest

from adapters.aws.deploy import cloudformation, sam, serverless
from adapters.aws.deploy.policy import POLICY as AWS
from adapters.aws.deploy.policy import Decider
from adapters.aws.deploy.records import RECORD_TYPES, AwsPlan, SqsQueue
from adapters.aws.provision import Creator
from dispatcher.deploy import hcl
from dispatcher.deploy.errors import UnknownFormat, UnsupportedResource
from dispatcher.deploy.graph import ordered
from dispatcher.deploy.model import (
    RESOURCE_TYPES,
    DeadLetterQueue,
    Delays,
    Deployment,
    Grant,
    Identity,
    PayloadStore,
    ProducerAccess,
    Queue,
    Resource,
    ResultStore,
    Schedule,
    TaskIntent,
    Trigger,
    Worker,
)
from dispatcher.deploy.policy import DeploySettings
from dispatcher.deploy.render import Renderer, formats, renderer_for
from dispatcher.envelope import decode
from dispatcher.naming import Name


def _worker(queue: str, memory: int = 256, timeout: int = 30) -> list[Resource]:
    grants = (
        Grant(resource=queue, access="consume"),
        Grant(resource="jobs", access="send"),
        Grant(resource="ordered", access="send"),
        Grant(resource=f"{queue}-dlq", access="send"),
        Grant(resource="results", access="read_write"),
        Grant(resource="claim-checks", access="read_write"),
        Grant(resource="delays", access="schedule"),
        Grant(resource=f"{queue}-worker", access="write_logs"),
    )
    return [
        Identity(name=f"{queue}-identity", worker=f"{queue}-worker", grants=grants),
        Worker(
            name=f"{queue}-worker",
            physical_name=Name("demo", f"{queue}-worker"),
            queue=queue,
            tasks=(f"demo.{queue}_task",),
            memory_mb=memory,
            timeout_seconds=timeout,
            identity=f"{queue}-identity",
        ),
        Trigger(name=f"{queue}-trigger", worker=f"{queue}-worker", queue=queue),
    ]


def hand_model() -> Deployment:
    """A standard queue with a concurrency limit, and an ordered queue with a schedule and a
    concurrency of one."""
    resources: list[Resource] = [
        DeadLetterQueue(name="jobs-dlq", physical_name=Name("demo", "jobs-dlq"), ordered=False),
        Queue(
            name="jobs",
            physical_name=Name("demo", "jobs"),
            queue="jobs",
            ordered=False,
            tasks=("demo.jobs_task",),
            dead_letter="jobs-dlq",
        ),
        DeadLetterQueue(
            name="ordered-dlq", physical_name=Name("demo", "ordered-dlq", ".fifo"), ordered=True
        ),
        Queue(
            name="ordered",
            physical_name=Name("demo", "ordered", ".fifo"),
            queue="ordered",
            ordered=True,
            tasks=("demo.ordered_task",),
            dead_letter="ordered-dlq",
        ),
        ResultStore(name="results", physical_name=Name("demo", "results")),
        PayloadStore(name="claim-checks", physical_name=Name("demo", "claim-checks")),
        Delays(name="delays", queues=("jobs", "ordered")),
        ProducerAccess(
            name="producers",
            grants=(
                Grant(resource="jobs", access="send"),
                Grant(resource="ordered", access="send"),
                Grant(resource="results", access="send"),
                Grant(resource="claim-checks", access="send"),
                Grant(resource="delays", access="schedule"),
            ),
        ),
        *_worker("jobs", memory=1024, timeout=8),
        *_worker("ordered"),
        Schedule(
            name="tick-schedule",
            task="demo.ordered_task",
            queue="ordered",
            schedule="rate",
            expression="every 5 minutes",
            every_seconds=300,
        ),
    ]
    tasks = (
        TaskIntent(
            name="demo.jobs_task",
            queue="jobs",
            timeout_seconds=8,
            memory_mb=1024,
            attempts=3,
            retry_seconds=30,
            concurrency=7,
        ),
        TaskIntent(
            name="demo.ordered_task",
            queue="ordered",
            timeout_seconds=10,
            memory_mb=256,
            attempts=1,
            retry_seconds=0,
            concurrency=1,
        ),
    )
    return Deployment(
        app="demo",
        app_reference="demo:app",
        provider="aws",
        tasks=tasks,
        resources=tuple(ordered(resources)),
    )


def hand_plan() -> AwsPlan:
    """The AWS policy's decisions for :func:`hand_model`, with a batching window on jobs."""
    settings = DeploySettings(queues={"jobs": {"batch_size": 100, "batching_window_seconds": 5}})
    return AWS.decide(hand_model(), settings)


def test_the_policy_decides_every_resource_type() -> None:
    table = Decider(hand_model(), DeploySettings()).handlers()
    assert [t.__name__ for t in RESOURCE_TYPES if t not in table] == []


def test_the_emulator_carries_out_every_record_type() -> None:
    table = Creator(backend=None).handlers()  # type: ignore[arg-type]
    assert [t.__name__ for t in RECORD_TYPES if t not in table] == []


@pytest.mark.parametrize("format", formats("aws"))
def test_every_renderer_handles_every_record_type(format: str) -> None:
    renderer = renderer_for(format, "aws")
    assert isinstance(renderer, Renderer)
    missing = [t.__name__ for t in RECORD_TYPES if t not in renderer.handlers()]
    assert not missing, f"{format} has no translation for {missing}"


def test_unknown_format_and_missing_handler_are_errors() -> None:
    with pytest.raises(UnknownFormat, match="no 'pulumi' renderer"):
        renderer_for("pulumi", "aws")
    with pytest.raises(UnknownFormat, match=r"no provider 'nimbus'.*known: aws"):
        renderer_for("terraform", "nimbus")

    class Partial(cloudformation.CloudFormationRenderer):
        def handlers(self) -> Any:
            return {SqsQueue: self.resources.queue}

    with pytest.raises(UnsupportedResource, match="SqsDeadLetterQueue 'jobs-dlq'"):
        Partial().render(hand_plan())


def test_ordered_puts_dependencies_first() -> None:
    names = [r.name for r in hand_model().resources]
    for resource in hand_model().resources:
        for dependency in resource.dependencies():
            assert names.index(dependency) < names.index(resource.name)


def _cfn(format: str = "cloudformation") -> dict[str, Any]:
    renderer = renderer_for(format, "aws")
    assert isinstance(renderer, cloudformation.CloudFormationRenderer)
    resources: dict[str, Any] = renderer.template(hand_plan())["Resources"]
    return resources


def test_cloudformation_queues_redrive_and_fifo() -> None:
    resources = _cfn()
    jobs = resources["JobsQueue"]["Properties"]
    assert jobs["VisibilityTimeout"] == 6 * (100 * 8 + 10)
    assert jobs["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["JobsDlq", "Arn"]},
        "maxReceiveCount": 8,
    }
    assert "FifoQueue" not in jobs
    fifo = resources["OrderedQueue"]["Properties"]
    assert fifo["QueueName"] == {"Fn::Sub": "demo-${Stage}-ordered.fifo"}
    assert fifo["FifoQueue"] is True
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
    assert resources["JobsWorker"]["Properties"]["Timeout"] == 100 * 8 + 10


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
    assert isinstance(renderer, sam.SamRenderer)
    template = renderer.template(hand_plan())
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
    assert isinstance(renderer, serverless.ServerlessRenderer)
    config = renderer.config(hand_plan())
    jobs = config["functions"]["jobs"]
    assert jobs["name"] == "demo-${sls:stage}-jobs-worker" and jobs["memorySize"] == 1024
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
    text = renderer_for("terraform", "aws").render(hand_plan())["main.tf"]
    assert 'resource "aws_lambda_event_source_mapping" "jobs_trigger" {' in text
    assert "maximum_batching_window_in_seconds = 5" in text
    assert "maximum_concurrency = 7" in text
    assert 'message_group_id = "demo.ordered_task"' in text
    assert "reserved_concurrent_executions = 1" in text
    assert "# checkov:skip=CKV_AWS_117:" in text


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
