"""The Azure deploy policy: what it decides from the declarations, what it refuses (one line
each), what it leaves out and says so, and that the Terraform writer, the project files and
the emulator's provisioning follow the same plan."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.azure import project
from adapters.azure.deploy.policy import (
    HOST_BLOB_ROLE,
    POLICY,
    PRODUCER,
    QUEUE_ROLE,
    QUEUE_SENDER_ROLE,
    Decider,
)
from adapters.azure.deploy.records import (
    RECORD_TYPES,
    AppInsights,
    AzurePlan,
    FunctionApp,
    RoleAssignment,
    StorageContainer,
    StorageQueue,
    StorageTable,
    TimerFunction,
)
from adapters.azure.deploy.terraform import TerraformRenderer
from dispatcher import Dispatcher, Retry
from dispatcher.cli import cli
from dispatcher.deploy.errors import UndeployableApp
from dispatcher.deploy.graph import collect
from dispatcher.deploy.model import RESOURCE_TYPES
from dispatcher.deploy.policy import DeploySettings, plan
from samples.shop import app as shop
from tests.deploy import apps


def _plan(app: Dispatcher = shop, settings: DeploySettings | None = None) -> AzurePlan:
    return plan(app, POLICY, "x:app", settings)


def test_the_policy_decides_every_resource_type() -> None:
    deployment, _ = collect(shop, POLICY.limits, "azure", "samples.shop:app", DeploySettings())
    assert set(Decider(deployment, DeploySettings()).handlers()) == set(RESOURCE_TYPES)


def test_the_writer_handles_every_record_type() -> None:
    assert set(TerraformRenderer().handlers()) == set(RECORD_TYPES)


def test_an_ordered_queue_is_left_out_and_said_so() -> None:
    decided = _plan()
    assert decided.unserved == {
        "inventory": "ordered (group_by), but Azure Storage Queues deliver in no particular order"
    }
    queues = {q.task_queue for q in decided.of_type(StorageQueue)}
    assert "inventory" not in queues and "payments" in queues
    scopes = {r.scope.name for r in decided.of_type(RoleAssignment)}
    assert not any(s.startswith("inventory") for s in scopes)
    assert any(
        w.startswith("task queue inventory: not deployed: ordered") for w in decided.warnings
    )
    # update_stock's concurrency=2 is on the ordered queue: it caps nothing that is deployed
    [app] = decided.of_type(FunctionApp)
    assert app.maximum_instances == 100


def test_every_queue_has_its_poison_queue_and_the_app_its_stores() -> None:
    decided = _plan()
    queues = {q.name: q for q in decided.of_type(StorageQueue)}
    for name in ("notifications", "orders", "payments", "reports", "shipping"):
        poison = queues[f"{name}-poison"]
        assert (poison.poison_of, poison.queue.part) == (name, f"{name}-poison")
    [table] = decided.of_type(StorageTable)
    assert (table.table.style, table.table.part) == ("compact", "results")
    containers = {c.name: c.container for c in decided.of_type(StorageContainer)}
    assert containers["claim-checks"].part == "claim-checks"
    assert containers["webjobs-hosts"].part == "azure-webjobs-hosts"


def test_the_identity_gets_one_role_per_resource_it_uses() -> None:
    decided = _plan()
    roles = [r for r in decided.of_type(RoleAssignment) if r.identity == "identity"]
    by_scope = {(r.scope.kind, r.scope.name): r.role for r in roles}
    assert len(by_scope) == len(roles)  # one role per resource
    for queue in ("payments", "payments-poison", "orders", "shipping-poison"):
        assert by_scope[StorageQueue, queue] == QUEUE_ROLE
    assert by_scope[StorageTable, "results"] == "Storage Table Data Contributor"
    assert by_scope[StorageContainer, "claim-checks"] == "Storage Blob Data Contributor"
    assert by_scope[StorageContainer, "webjobs-hosts"] == HOST_BLOB_ROLE
    assert by_scope[AppInsights, "insights"] == "Monitoring Metrics Publisher"
    # the account, the group and the subscription get no role at all
    kinds = {r.scope.kind for r in decided.of_type(RoleAssignment)}
    assert kinds <= {StorageQueue, StorageTable, StorageContainer, AppInsights}


def test_a_producer_may_only_send_and_use_the_stores() -> None:
    roles = [r for r in _plan().of_type(RoleAssignment) if r.identity == PRODUCER]
    assert {r.role for r in roles if r.scope.kind is StorageQueue} == {QUEUE_SENDER_ROLE}
    assert not any(r.scope.name.endswith("-poison") for r in roles)
    assert {r.scope.name for r in roles if r.scope.kind is not StorageQueue} == {
        "results",
        "claim-checks",
    }


def test_the_function_app_signs_in_with_its_identity() -> None:
    [app] = _plan().of_type(FunctionApp)
    settings = app.settings
    assert settings["AzureWebJobsStorage__credential"].attribute == "managedidentity"  # type: ignore[union-attr]
    assert "AzureWebJobsStorage" not in settings  # no connection string, no key
    assert "DISPATCHER_STAGE" in settings
    assert (app.runtime, app.runtime_version, app.instance_memory_mb) == ("python", "3.11", 2048)


def test_host_json_and_the_functions_come_from_the_plan() -> None:
    decided = _plan()
    host = decided.host
    # charge declares 512 MB: a 2,048 MB instance runs 4 messages at once
    assert (host.batch_size, host.new_batch_threshold) == (4, 0)
    assert host.max_dequeue_count == 5 + 5  # charge's attempts and the margin
    assert host.function_timeout == 120 + 30  # the nightly report's 120 s and the margin
    [timer] = decided.of_type(TimerFunction)
    assert (timer.schedule, timer.task) == ("0 0 3 * * *", "samples.shop.nightly_stock_report")
    files = project.files(decided)
    assert '"batchSize": 4' in files["host.json"]
    assert 'schedule="0 0 3 * * *"' in files["function_app.py"]


def test_a_rate_limit_is_named_as_not_honoured() -> None:
    assert any(
        w.startswith("task samples.shop.send_receipt: rate_limit 50/s is not honoured")
        for w in _plan().warnings
    )


def test_every_problem_gets_its_own_line() -> None:
    with pytest.raises(UndeployableApp) as caught:
        _plan(apps.undeployable)
    problems = caught.value.problems
    assert any("crunch: memory: 20480 MB is above the 4096 MB maximum" in p for p in problems)
    assert not any("transcode" in p for p in problems)  # 1,200 s fits Azure's hour
    assert not any("close_books" in p for p in problems)  # ordered: left out, said so


def test_long_timeouts_names_and_schedules_are_refused() -> None:
    app = Dispatcher("toolong")

    @app.task(queue="q" * 45, timeout=7200, schedule="every 7 minutes")
    def slow() -> None:
        return None

    with pytest.raises(UndeployableApp) as caught:
        _plan(app)
    problems = caught.value.problems
    assert len(problems) == 3, problems
    assert "7200 s is above the 3600 s maximum of an Azure Functions app" in problems[0]
    assert "Azure queue name" in problems[1] and "at most 56 characters" in problems[1]
    assert "schedule 'every 7 minutes' has no exact Azure timer" in problems[2]


def test_per_queue_settings_are_refused() -> None:
    with pytest.raises(UndeployableApp, match="Azure takes no per-queue settings"):
        _plan(settings=DeploySettings(queues={"payments": {"batch_size": 5}}))


def test_concurrency_caps_instances_and_says_so() -> None:
    app = Dispatcher("capped")

    @app.task(queue="slow", concurrency=2, retry=Retry(attempts=2))
    def careful() -> None:
        return None

    @app.task(queue="fast")
    def quick() -> None:
        return None

    decided = _plan(app)
    [function_app] = decided.of_type(FunctionApp)
    assert function_app.maximum_instances == 1
    assert (decided.host.batch_size, decided.host.new_batch_threshold) == (2, 0)
    assert any(
        "concurrency 2: the Function App runs at most 1 instance" in w for w in decided.warnings
    )


def test_the_cli_writes_terraform_and_prints_what_is_left_out(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["infra", "samples.shop", "--provider", "azure", "-f", "terraform", "-o", str(tmp_path)],
    )
    assert result.exit_code == 0, result.output
    assert "warning: task queue inventory: not deployed" in result.output
    assert (tmp_path / "main.tf").read_text().count("azurerm_storage_queue") >= 10


def test_the_cli_writes_nothing_for_an_undeployable_app(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "infra",
            "tests.deploy.apps:undeployable",
            "--provider",
            "azure",
            "-f",
            "terraform",
            "-o",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 2
    assert "crunch: memory" in result.output and "nothing was written" in result.output
    assert not list(tmp_path.iterdir())
