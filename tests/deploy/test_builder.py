"""The builder: from declarations to the checked model, and what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.aws.deploy.policy import POLICY as AWS
from adapters.aws.deploy.records import (
    Account,
    Arn,
    AwsPlan,
    EventSourceMapping,
    IamRole,
    LambdaFunction,
    S3Bucket,
    SqsDeadLetterQueue,
    SqsQueue,
    Stage,
)
from dispatcher.cli import cli
from dispatcher.deploy.errors import UndeployableApp
from dispatcher.deploy.graph import build
from dispatcher.deploy.model import Identity, Queue, Schedule, Trigger, Worker
from dispatcher.deploy.policy import DeploySettings, plan
from dispatcher.naming import Name
from samples.shop import app as shop
from tests.deploy import apps


def test_sample_model_follows_the_declarations() -> None:
    decided = plan(shop, AWS, "samples.shop:app")
    model = decided.deployment
    queues = {q.queue: q for q in model.of_type(Queue)}
    assert set(queues) == set(shop.queues)
    for name, spec in shop.queues.items():
        queue = decided.get(SqsQueue, queues[name].name)
        tasks = [shop.tasks[t] for t in spec.tasks]
        worker = next(w for w in model.of_type(Worker) if w.queue == name)
        function = decided.get(LambdaFunction, worker.name)
        mapping = decided.get(EventSourceMapping, f"{name}-trigger")
        assert worker.timeout_seconds == max(t.options.timeout for t in tasks)
        # A full batch, one record after the other, and the reserve to settle it.
        assert function.timeout >= mapping.batch_size * worker.timeout_seconds + 10
        assert function.timeout <= 900
        assert worker.memory_mb == function.memory_mb == max(t.options.memory for t in tasks)
        assert queue.visibility_timeout >= 6 * function.timeout
        longest_retry = max(t.options.retry.max_total_delay() for t in tasks)
        assert queue.retention_seconds > longest_retry
        assert queue.redrive.max_receive_count > max(t.options.retry.attempts for t in tasks)
        dlq = decided.get(SqsDeadLetterQueue, queue.redrive.dead_letter)
        assert dlq.retention_seconds > queue.retention_seconds
    assert queues["inventory"].ordered and queues["inventory"].physical_name.suffix == ".fifo"
    assert decided.get(SqsQueue, "inventory").fifo
    inventory = next(t for t in model.of_type(Trigger) if t.queue == "inventory")
    mapping = decided.get(EventSourceMapping, inventory.name)
    assert mapping.batch_size <= 10 and mapping.batching_window is None
    assert mapping.max_concurrency == 2
    [schedule] = model.of_type(Schedule)
    assert schedule.task == "samples.shop.nightly_stock_report" and schedule.queue == "reports"
    payments = decided.get(LambdaFunction, "payments-worker")
    assert payments.environment == {
        "DISPATCHER_APP": "samples.shop:app",
        "DISPATCHER_BACKEND": "aws",
        "DISPATCHER_STAGE": Stage(),
        "DISPATCHER_AWS_ACCOUNT_ID": Account(),
        "DISPATCHER_AWS_SCHEDULER_GROUP": Name("shop", "delays"),
        "DISPATCHER_AWS_SCHEDULER_ROLE": Arn(IamRole, "delays"),
    }
    assert payments.handler == "adapters.aws.entrypoint.handler"
    [payloads] = decided.of_type(S3Bucket)
    assert payloads.bucket_name.resolve("dev", "123456789012", "eu-west-1") == (
        "shop-dev-claims-123456789012-eu-west-1"
    )
    assert payloads.expire_after_days == 15


def test_the_neutral_model_holds_intent_only() -> None:
    model = build(shop, AWS.limits, "gcp", "samples.shop:app")
    charge = model.task("samples.shop.charge")
    assert charge.attempts == 5 and charge.timeout_seconds == 30 and charge.memory_mb == 512
    assert charge.retry_seconds == shop.tasks["samples.shop.charge"].options.retry.max_total_delay()
    receipt = model.task("samples.shop.send_receipt")
    assert receipt.rate_limit is not None and receipt.rate_limit.count == 50
    assert model.task("samples.shop.update_stock").concurrency == 2
    for resource in model.resources:
        fields = set(type(resource).model_fields)
        assert not fields & {"visibility_timeout_seconds", "batch_size", "retention_seconds"}


def test_identity_touches_only_the_apps_resources() -> None:
    model = plan(shop, AWS, "samples.shop:app").deployment
    identity = model.get("payments-identity")
    assert isinstance(identity, Identity)
    consumed = {g.resource for g in identity.grants if g.access == "consume"}
    dead_letters = {g.resource for g in identity.grants if g.resource.endswith("-dlq")}
    assert consumed == {"payments"} and dead_letters == {"payments-dlq"}


def test_undeployable_declarations_list_every_problem() -> None:
    with pytest.raises(UndeployableApp) as caught:
        plan(apps.undeployable, AWS, "tests.deploy.apps:undeployable")
    problems = caught.value.problems
    text = "\n".join(problems)
    assert "task tests.deploy.apps.crunch: memory: 20480 MB is above the 10240 MB" in text
    assert "task tests.deploy.apps.transcode: timeout: 1200 s is above the 900 s" in text
    assert "task tests.deploy.apps.close_books: schedule:" in text
    assert "task tests.deploy.apps.chase: retry:" in text
    assert len(problems) == 4
    assert str(caught.value).count("\n") == 3


def test_fifo_batching_rules() -> None:
    settings = DeploySettings(
        queues={"inventory": {"batch_size": 20, "batching_window_seconds": 5}}
    )
    with pytest.raises(UndeployableApp) as caught:
        plan(shop, AWS, "samples.shop:app", settings)
    assert caught.value.problems == [
        "task samples.shop.update_stock: batch_size: ordered queue 'inventory' takes at most 10 "
        "messages per batch (got 20)",
        "task samples.shop.update_stock: batching_window: ordered queue 'inventory' cannot have "
        "a batching window (got 5 s)",
    ]


def test_other_overrides_are_checked() -> None:
    settings = DeploySettings(
        queues={
            "payments": {"visibility_timeout_seconds": 60, "retention_seconds": 1_209_600},
            "orders": {"batch_size": 50},
            "nowhere": {"batch_size": 1},
            "shipping": {"concurrency": 3},
        }
    )
    with pytest.raises(UndeployableApp) as caught:
        plan(shop, AWS, "samples.shop:app", settings)
    text = "\n".join(caught.value.problems)
    assert "settings: queue 'shipping': concurrency: not an AWS setting" in text
    assert "settings: queue 'nowhere' is not used by any task" in text
    assert "charge: visibility_timeout: 60 s on queue 'payments' is below 6x" in text
    assert "task samples.shop.charge: retention: messages must expire" in text
    assert "batching_window: queue 'orders' needs a batching window" in text


def test_limits_become_safe_values() -> None:
    decided: AwsPlan = plan(apps.edge, AWS, "tests.deploy.apps:edge")
    steady = decided.get(LambdaFunction, "steady-worker")
    assert steady.reserved_concurrency == 1 and steady.memory_mb == 10_240
    assert decided.get(SqsQueue, "steady").visibility_timeout == 5400
    assert decided.get(EventSourceMapping, "busy-trigger").max_concurrency == 40
    [schedule] = decided.deployment.of_type(Schedule)
    assert schedule.schedule == "rate" and schedule.every_seconds == 7200


def test_cli_writes_nothing_for_an_undeployable_app(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli, ["infra", "tests.deploy.apps:undeployable", "--format", "terraform", "--out", str(out)]
    )
    assert result.exit_code == 2
    assert "crunch: memory: 20480 MB" in result.output
    assert "nothing was written" in result.output
    assert not out.exists()


def test_cli_rejects_a_fifo_batching_window(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "infra",
            "samples.shop",
            "-f",
            "cloudformation",
            "-o",
            str(tmp_path),
            "--batching-window",
            "inventory=5",
        ],
    )
    assert result.exit_code == 2
    assert "update_stock: batching_window: ordered queue 'inventory'" in result.output
    assert list(tmp_path.iterdir()) == []


def test_cli_writes_every_format(tmp_path: Path) -> None:
    for format, name in [
        ("terraform", "main.tf"),
        ("cloudformation", "cloudformation.yaml"),
        ("sam", "sam.yaml"),
        ("serverless", "serverless.yml"),
    ]:
        result = CliRunner().invoke(
            cli, ["infra", "samples.shop", "-f", format, "-o", str(tmp_path)]
        )
        assert result.exit_code == 0, result.output
        assert (tmp_path / name).read_text().startswith("# faas-dispatcher: shop on AWS")
    result = CliRunner().invoke(cli, ["infra", "samples.shop", "-f", "pulumi", "-o", str(tmp_path)])
    assert result.exit_code == 2 and "no 'pulumi' renderer" in result.output
