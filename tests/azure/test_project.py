"""The generated Functions project: host.json from the declarations, NCRONTAB schedules, and
function_app.py rendered for the test app, imported, its bindings read back with
get_function_json() and its functions called with built QueueMessages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.azure import entrypoint, project
from adapters.azure.deploy import schedules
from adapters.azure.deploy.records import AzurePlan, FunctionApp, QueueFunction
from adapters.azure.encoding import decode
from adapters.azure.host import load_function_app
from dispatcher import Dispatcher, Retry
from dispatcher.deploy.errors import UndeployableApp
from dispatcher.envelope import decode as decode_envelope
from dispatcher.errors import Unsupported
from dispatcher.options import Schedule
from tests.azure import apps
from tests.azure.conftest import Deployed

REFERENCE = "tests.azure.apps:app"


def _plan(app: Dispatcher) -> AzurePlan:
    return project.plan_for(app, f"x:{app.name}")


def test_host_json_is_derived_from_the_declarations() -> None:
    data = project.host_json(project.plan_for(apps.app, REFERENCE))
    assert data["extensions"]["queues"] == {
        "batchSize": 8,  # a 2,048 MB instance holds 8 messages of tasks declaring 256 MB
        "newBatchThreshold": 0,
        "maxDequeueCount": 4 + 5,  # the most attempts a task declares, plus the margin
        "visibilityTimeout": "00:00:00",  # always_fails retries after 0 s
        "messageEncoding": "base64",
    }
    assert data["functionTimeout"] == "00:00:40"  # the longest timeout (10 s) and 30 s
    assert data["version"] == "2.0"


def test_concurrency_caps_what_an_instance_runs_at_once() -> None:
    app = Dispatcher("capped")

    @app.task(concurrency=3, retry=Retry(delay=90), timeout=1800)
    def one() -> None:
        return None

    @app.task(concurrency=50)
    def two() -> None:
        return None

    data = project.host_json(_plan(app))
    queues = data["extensions"]["queues"]
    assert (queues["batchSize"], queues["newBatchThreshold"]) == (3, 0)
    assert queues["visibilityTimeout"] == "00:00:01"  # the shortest first retry: Retry()'s 1 s
    assert data["functionTimeout"] == "00:30:30"
    app2 = Dispatcher("wide")

    @app2.task(concurrency=100, memory=64)
    def three() -> None:
        return None

    plan = _plan(app2)
    # 2,048 MB hold 32 messages of 64 MB (below the concurrency of 100): 3 instances of 32
    assert (plan.host.batch_size, plan.host.new_batch_threshold) == (32, 0)
    [function_app] = plan.of_type(FunctionApp)
    assert function_app.maximum_instances == 3
    assert any("concurrency 100: the Function App runs at most 3" in w for w in plan.warnings)


def test_an_instance_runs_what_fits_its_memory() -> None:
    app = Dispatcher("hungry")

    @app.task(memory=1024)
    def big() -> None:
        return None

    queues = project.host_json(_plan(app))["extensions"]["queues"]
    assert (queues["batchSize"], queues["newBatchThreshold"]) == (2, 0)

    @app.task(memory=3000)
    def bigger() -> None:
        return None

    plan = _plan(app)
    assert (plan.host.batch_size, plan.host.new_batch_threshold) == (1, 0)
    [function_app] = plan.of_type(FunctionApp)
    assert function_app.instance_memory_mb == 4096


@pytest.mark.parametrize(
    ("text", "ncrontab"),
    [
        ("every 1 minutes", "0 * * * * *"),
        ("every 5 minutes", "0 */5 * * * *"),
        ("every 2 hours", "0 0 */2 * * *"),
        ("every 120 minutes", "0 0 */2 * * *"),
        ("every 1 days", "0 0 0 * * *"),
        ("0 3 * * *", "0 0 3 * * *"),
        ("*/15 9-17 * * MON-FRI", "0 0,15,30,45 9-17 * * 1-5"),
        ("0 0 1 JAN,JUL *", "0 0 0 1 1,7 *"),
        ("30 6 * * 7", "0 30 6 * * 0"),
    ],
)
def test_schedules_become_ncrontab(text: str, ncrontab: str) -> None:
    assert schedules.ncrontab(Schedule.parse(text)) == ncrontab


@pytest.mark.parametrize(
    "text", ["every 7 minutes", "every 5 hours", "every 2 days", "0 0 1 * MON"]
)
def test_schedules_without_an_exact_ncrontab_are_refused(text: str) -> None:
    with pytest.raises(Unsupported, match="NCRONTAB"):
        schedules.ncrontab(Schedule.parse(text), "t")


def test_durations() -> None:
    assert project.timespan(59) == "00:00:59"
    assert project.timespan(90_061) == "1.01:01:01"
    for text in ("00:00:59", "1.01:01:01", "00:10:00"):
        assert project.timespan(round(project.parse_timespan(text))) == text


def test_ordered_queues_have_no_function() -> None:
    app = Dispatcher("lines")

    @app.task(queue="stock", group_by="sku", schedule="every 5 minutes")
    def restock(sku: str = "all") -> None:
        return None

    @app.task(queue="mail")
    def notify(to: str) -> None:
        return None

    plan = _plan(app)
    assert plan.unserved == {
        "stock": "ordered (group_by), but Azure Storage Queues deliver in no particular order"
    }
    source = project.function_app_source(plan)
    assert [f.task_queue for f in plan.of_type(QueueFunction)] == ["mail"]
    assert "Not served: task queue stock:\n    ordered (group_by)" in source
    assert "schedule_" not in source and "queue_stock" not in source
    compile(source, "function_app.py", "exec")


def test_an_app_azure_cannot_run_is_refused_with_every_problem() -> None:
    app = Dispatcher("odd")

    @app.task(queue="stock", group_by="sku")
    def restock(sku: str) -> None:
        return None

    with pytest.raises(UndeployableApp, match="no task queue Azure can serve"):
        _plan(app)


@pytest.fixture
def functions(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The test app's function_app.py, written and imported: its functions by name."""
    plan = project.plan_for(apps.app, REFERENCE)
    written = project.write(plan, tmp_path)
    assert [p.name for p in written] == ["function_app.py", "host.json"]
    assert json.loads((tmp_path / "host.json").read_text()) == project.host_json(plan)
    function_app = load_function_app(tmp_path / "function_app.py")
    yield {f.get_function_name(): f for f in function_app.get_functions()}
    entrypoint.reset()


def test_the_generated_functions_bind_one_trigger_each(functions: dict[str, Any]) -> None:
    bindings = {
        name: json.loads(f.get_function_json())["bindings"] for name, f in functions.items()
    }
    assert bindings == {
        name: [
            {
                "direction": "IN",
                "type": "queueTrigger",
                "name": "msg",
                "queueName": f"aztest-{queue}",
                "connection": "AzureWebJobsStorage",
            }
        ]
        for name, queue in [
            ("queue_default", "default"),
            ("queue_reports", "reports"),
            ("queue_slow", "slow"),
        ]
    } | {
        "schedule_tests_azure_apps_report": [
            {
                "direction": "IN",
                "type": "timerTrigger",
                "name": "timer",
                "schedule": "0 */5 * * * *",
                "useMonitor": True,
            }
        ]
    }


def test_the_generated_file_holds_no_logic(tmp_path: Path) -> None:
    source = project.function_app_source(project.plan_for(apps.app, REFERENCE))
    calls = [line.strip() for line in source.splitlines() if "entrypoint." in line]
    assert calls == [
        'queue_name=entrypoint.queue_name("aztest", "default"),',
        'entrypoint.run_message(APP, "default", msg)',
        'queue_name=entrypoint.queue_name("aztest", "reports"),',
        'entrypoint.run_message(APP, "reports", msg)',
        'queue_name=entrypoint.queue_name("aztest", "slow"),',
        'entrypoint.run_message(APP, "slow", msg)',
        'entrypoint.run_schedule(APP, "tests.azure.apps.report", timer)',
    ]
    compile(source, "function_app.py", "exec")


@pytest.mark.emulator
def test_the_generated_functions_run_messages(
    functions: dict[str, Any], deployed: Deployed
) -> None:
    from azure.functions import queue as queue_types

    make: Any = queue_types.QueueMessage
    handle = apps.add.delay(20, 22)
    [message] = deployed.receive()
    functions["queue_default"].get_user_function()(
        make(id=message.id, body=decode(message.content), dequeue_count=message.dequeue_count)
    )
    assert handle.result(timeout=1) == 42


@pytest.mark.emulator
def test_the_generated_timer_sends_its_task_once_a_tick(
    functions: dict[str, Any], deployed: Deployed
) -> None:
    from azure.functions.timer import TimerRequest

    tick = functions["schedule_tests_azure_apps_report"].get_user_function()
    tick(TimerRequest(past_due=False))
    tick(TimerRequest(past_due=False))  # the same minute: the dedup key drops it
    [message] = deployed.peek("reports")
    assert decode_envelope(decode(message.content)).task == "tests.azure.apps.report"


@pytest.mark.emulator
def test_a_first_message_imports_no_azure_sdk(tmp_path: Path, deployed: Deployed) -> None:
    """The cold path: a fresh process imports the function app and runs one message, with its
    claim and result in Table storage, without azure-core, requests or the storage SDKs."""
    import os
    import subprocess
    import sys

    project.write(project.plan_for(apps.app, REFERENCE), tmp_path)
    handle = apps.add.delay(3, 4)
    [message] = deployed.receive()
    script = (
        "import sys\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "from function_app import app\n"
        "from azure.functions import queue\n"
        "[f] = [f for f in app.get_functions() if f.get_function_name() == 'queue_default']\n"
        f"body = __import__('base64').b64decode({message.content!r})\n"
        "f.get_user_function()(queue.QueueMessage(id='m', body=body, dequeue_count=1))\n"
        "heavy = ['azure.core', 'azure.data.tables', 'azure.storage.queue', 'requests']\n"
        "print([m for m in [*heavy, 'pydantic'] if m in sys.modules])\n"
    )
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "AzureWebJobsStorage": deployed.backend.config.connection_string or ""}
    env.pop("AZURE_STORAGE_CONNECTION_STRING", None)
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=root, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
    assert handle.result(timeout=1) == 7
