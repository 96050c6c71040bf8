"""The GCP deploy policy: what it decides from the declarations, what it refuses (one line each),
and that the Terraform writer and the emulator's provisioning carry out every record type."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.gcp.config import CONCURRENCY_ENV
from adapters.gcp.deploy.policy import POLICY, Decider, cpus
from adapters.gcp.deploy.records import (
    RECORD_TYPES,
    AccountEmail,
    Bucket,
    BucketGrant,
    CloudRunService,
    GcpPlan,
    QueueGrant,
    SchedulerJob,
    ServiceAccount,
    TasksQueue,
    Text,
)
from adapters.gcp.deploy.terraform import TerraformRenderer
from adapters.gcp.provision import Creator
from dispatcher import Dispatcher
from dispatcher.cli import cli
from dispatcher.deploy.errors import UndeployableApp
from dispatcher.deploy.graph import collect
from dispatcher.deploy.model import RESOURCE_TYPES
from dispatcher.deploy.policy import DeploySettings, plan
from samples.shop import app as shop
from tests.deploy import gcp_apps


def _plan(app: Dispatcher = shop) -> GcpPlan:
    return plan(app, POLICY, "x:app")


def test_the_policy_decides_every_resource_type() -> None:
    deployment, _ = collect(shop, POLICY.limits, "gcp", "samples.shop:app", DeploySettings())
    assert set(Decider(deployment, DeploySettings()).handlers()) == set(RESOURCE_TYPES)


def test_the_writer_and_the_emulator_carry_out_every_record_type() -> None:
    assert set(TerraformRenderer().handlers()) == set(RECORD_TYPES)
    assert set(Creator.__new__(Creator).handlers()) == set(RECORD_TYPES)


def test_queues_take_their_tasks_rate_concurrency_and_order() -> None:
    decided = _plan()
    notifications = decided.get(TasksQueue, "notifications")
    assert notifications.max_dispatches_per_second == 50.0  # rate_limit="50/s"
    inventory = decided.get(TasksQueue, "inventory")  # group_by + concurrency=2
    assert inventory.max_concurrent_dispatches == 1
    service = decided.get(CloudRunService, "inventory-worker")
    assert (service.concurrency, service.max_instances) == (1, 1)
    # each service's receiver learns it (and runs the tasks on its event loop at 1)
    for each in decided.of_type(CloudRunService):
        assert each.environment[CONCURRENCY_ENV] == Text(str(each.concurrency))
    orders = decided.get(TasksQueue, "orders")
    assert (orders.max_dispatches_per_second, orders.max_concurrent_dispatches) == (500.0, 1000)
    # charge's schedule has jitter: Cloud Tasks cannot follow it, the receiver re-creates
    # retries and the queue keeps the backstop, with attempts to spare.
    payments = decided.get(TasksQueue, "payments").retry
    assert (payments.min_backoff, payments.max_backoff, payments.max_attempts) == (1.0, 600.0, 10)


def test_a_schedule_cloud_tasks_can_follow_becomes_the_queues() -> None:
    decided = _plan(gcp_apps.edge)
    retry = decided.get(TasksQueue, "native").retry
    assert (retry.min_backoff, retry.max_backoff, retry.max_doublings) == (2, 30, 16)
    assert retry.max_attempts == 6 + 5  # the most attempts, and five for unanswered pushes
    paced = decided.get(TasksQueue, "paced")
    assert paced.max_dispatches_per_second == 500.0  # Cloud Tasks' maximum holds 1000/s


def test_services_follow_memory_timeout_and_concurrency() -> None:
    decided = _plan(gcp_apps.edge)
    steady = decided.get(CloudRunService, "steady-worker")
    assert (steady.memory_mb, steady.cpu, steady.timeout_seconds) == (16_384, "4", 1_800)
    assert (steady.concurrency, steady.max_instances) == (40, 3)  # 100 at a time, 40 each
    assert steady.environment["DISPATCHER_GCP_SERVICE_ACCOUNT"] == AccountEmail("invoker")
    job = decided.get(SchedulerJob, "paced-schedule")
    assert (job.schedule, job.path) == ("0 */2 * * *", "/schedules/tests.deploy.gcp_apps.paced")
    assert (job.service, job.account) == ("paced-worker", "invoker")


@pytest.mark.parametrize(
    ("memory", "expected"),
    [(128, "1"), (4_096, "1"), (4_097, "2"), (8_193, "4"), (16_385, "6"), (32_768, "8")],
)
def test_cpus_follow_cloud_runs_minimums(memory: int, expected: str) -> None:
    assert cpus(memory) == expected


def test_least_privilege() -> None:
    decided = _plan()
    accounts = {a.name for a in decided.of_type(ServiceAccount)}
    assert accounts == {"invoker", "enqueuer"} | {f"{q}-identity" for q in shop.queues}
    grants = {g.name: g for g in decided.of_type(QueueGrant)}
    assert grants["enqueuer-send"].role == "roles/cloudtasks.enqueuer"
    assert set(grants["enqueuer-send"].queues) == set(shop.queues)
    assert grants["payments-identity-read"].queues == ("payments",)
    assert grants["payments-identity-read"].role == "roles/cloudtasks.viewer"
    holds = decided.get(BucketGrant, "enqueuer-holds")
    assert holds.prefixes == ("dedup/", "payloads/")
    assert decided.get(BucketGrant, "enqueuer-results").role == "roles/storage.objectViewer"
    [bucket] = decided.of_type(Bucket)
    assert {r.prefix: r.age_days for r in bucket.rules} == {
        "results/": 7,
        "dead-letters/": 30,
        "dedup/": 367,
        "payloads/": 367,
    }


def test_undeployable_declarations_list_every_problem() -> None:
    with pytest.raises(UndeployableApp) as refused:
        plan(gcp_apps.undeployable, POLICY, "tests.deploy.gcp_apps:undeployable")
    problems = refused.value.problems
    assert (
        "task tests.deploy.gcp_apps.render: timeout: 2400s is longer than the 30 minutes Cloud "
        "Tasks allows an HTTP task (dispatch_deadline 15 s to 30 min)"
    ) in problems
    assert (
        "task tests.deploy.gcp_apps.crunch: memory: 40960 MB is above the 32768 MB maximum of "
        "a Cloud Run service"
    ) in problems
    assert any(p.startswith("task tests.deploy.gcp_apps.close_books: schedule:") for p in problems)
    digest = "task tests.deploy.gcp_apps.digest: schedule: every 420 s"
    assert any(p.startswith(digest) for p in problems)
    assert any("wordy: queue: the Cloud Run service name would be" in p for p in problems)
    assert len(problems) == 5, problems


def test_cli_lists_the_problems_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli,
        [
            "infra",
            "tests.deploy.gcp_apps:undeployable",
            "--provider",
            "gcp",
            "--format",
            "terraform",
            "--out",
            str(out),
        ],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 2
    assert "render: timeout: 2400s is longer than the 30 minutes" in result.output
    assert "cannot be deployed (5 problem(s)); nothing was written" in result.output
    assert not out.exists()


def test_settings_it_does_not_know_are_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            *("infra", "samples.shop", "--provider", "gcp", "-f", "terraform"),
            *("-o", str(tmp_path), "--batch-size", "orders=5"),
        ],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 2
    assert "settings: queue 'orders': batch_size: not a GCP setting" in result.output
    assert list(tmp_path.iterdir()) == []
    refused = [
        DeploySettings(snapstart=True),
        DeploySettings(runtime="python2.7"),
        DeploySettings(architecture="arm64"),
    ]
    for settings in refused:
        with pytest.raises(UndeployableApp, match="settings: "):
            plan(shop, POLICY, "samples.shop:app", settings)
    plan(shop, POLICY, "samples.shop:app", DeploySettings(runtime="python3.13"))


def test_cli_writes_the_terraform(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["infra", "samples.shop", "--provider", "gcp", "-f", "terraform", "-o", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "main.tf").read_text().startswith("# faas-dispatcher: shop on Google Cloud")
