"""The builder: from declarations to the checked model, and what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.aws.infra import AWS
from dispatcher.cli import cli
from dispatcher.deploy.errors import UndeployableApp
from dispatcher.deploy.graph import DeploySettings, QueueSettings, build
from dispatcher.deploy.model import Identity, PayloadStore, Queue, Schedule, Trigger, Worker
from samples.shop import app as shop
from tests.deploy import apps


def test_sample_model_follows_the_declarations() -> None:
    model = build(shop, AWS, "samples.shop:app")
    queues = {q.queue: q for q in model.of_type(Queue)}
    assert set(queues) == set(shop.queues)
    for name, spec in shop.queues.items():
        queue = queues[name]
        tasks = [shop.tasks[t] for t in spec.tasks]
        worker = next(w for w in model.of_type(Worker) if w.queue == name)
        assert worker.timeout_seconds == max(t.options.timeout for t in tasks)
        assert worker.memory_mb == max(t.options.memory for t in tasks)
        assert queue.visibility_timeout_seconds >= 6 * worker.timeout_seconds
        longest_retry = max(t.options.retry.max_total_delay() for t in tasks)
        assert queue.retention_seconds > longest_retry
        assert queue.max_receive_count > max(t.options.retry.attempts for t in tasks)
        dlq = model.get(queue.dead_letter)
        assert dlq.retention_seconds > queue.retention_seconds  # type: ignore[attr-defined]
    assert queues["inventory"].ordered and queues["inventory"].physical_name.endswith(".fifo")
    inventory = next(t for t in model.of_type(Trigger) if t.queue == "inventory")
    assert inventory.batch_size <= 10 and inventory.batching_window_seconds == 0
    assert inventory.max_concurrency == 2
    [schedule] = model.of_type(Schedule)
    assert schedule.task == "samples.shop.nightly_stock_report" and schedule.queue == "reports"
    payments = model.get("payments-worker")
    assert isinstance(payments, Worker)
    assert payments.environment == {
        "DISPATCHER_APP": "samples.shop:app",
        "DISPATCHER_BACKEND": "aws",
    }
    assert payments.entrypoint == "adapters.aws.entrypoint.handler"
    payloads = model.of_type(PayloadStore)[0]
    assert payloads.physical_name == "shop-claim-checks" and payloads.expire_after_days == 15


def test_identity_touches_only_the_apps_resources() -> None:
    model = build(shop, AWS, "samples.shop:app")
    identity = model.get("payments-identity")
    assert isinstance(identity, Identity)
    consumed = {g.resource for g in identity.grants if g.access == "consume"}
    dead_letters = {g.resource for g in identity.grants if g.resource.endswith("-dlq")}
    assert consumed == {"payments"} and dead_letters == {"payments-dlq"}


def test_undeployable_declarations_list_every_problem() -> None:
    with pytest.raises(UndeployableApp) as caught:
        build(apps.undeployable, AWS, "tests.deploy.apps:undeployable")
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
        queues={"inventory": QueueSettings(batch_size=20, batching_window_seconds=5)}
    )
    with pytest.raises(UndeployableApp) as caught:
        build(shop, AWS, "samples.shop:app", settings)
    assert caught.value.problems == [
        "task samples.shop.update_stock: batch_size: ordered queue 'inventory' takes at most 10 "
        "messages per batch (got 20)",
        "task samples.shop.update_stock: batching_window: ordered queue 'inventory' cannot have "
        "a batching window (got 5 s)",
    ]


def test_other_overrides_are_checked() -> None:
    settings = DeploySettings(
        queues={
            "payments": QueueSettings(visibility_timeout_seconds=60, retention_seconds=1_209_600),
            "orders": QueueSettings(batch_size=50),
            "nowhere": QueueSettings(batch_size=1),
        }
    )
    with pytest.raises(UndeployableApp) as caught:
        build(shop, AWS, "samples.shop:app", settings)
    text = "\n".join(caught.value.problems)
    assert "settings: queue 'nowhere' is not used by any task" in text
    assert "charge: visibility_timeout: 60 s on queue 'payments' is below 6x" in text
    assert "task samples.shop.charge: retention: messages must expire" in text
    assert "batching_window: queue 'orders' needs a batching window" in text


def test_limits_become_safe_values() -> None:
    model = build(apps.edge, AWS, "tests.deploy.apps:edge")
    steady = model.get("steady-worker")
    assert isinstance(steady, Worker)
    assert steady.reserved_concurrency == 1 and steady.memory_mb == 10_240
    queue = model.get("steady")
    assert isinstance(queue, Queue) and queue.visibility_timeout_seconds == 5400
    busy = model.get("busy-trigger")
    assert isinstance(busy, Trigger) and busy.max_concurrency == 40
    [schedule] = model.of_type(Schedule)
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
