"""A full batch fits in its function's timeout, and a task's rate limit is honoured (the
consumers pace themselves under a concurrency cap) or refused in one line, never ignored."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from adapters.aws.deploy.policy import POLICY, RESERVE_SECONDS
from adapters.aws.deploy.records import EventSourceMapping, LambdaFunction
from adapters.aws.pacing import Pacing, install
from dispatcher import Dispatcher
from dispatcher.backend import Ack
from dispatcher.cli import cli
from dispatcher.deploy.policy import plan
from dispatcher.envelope import Envelope, utcnow
from samples.shop import app as shop
from tests.deploy import apps


def test_a_full_batch_fits_in_the_function_timeout() -> None:
    decided = plan(shop, POLICY, "samples.shop:app")
    for queue, spec in shop.queues.items():
        function = decided.get(LambdaFunction, f"{queue}-worker")
        mapping = decided.get(EventSourceMapping, f"{queue}-trigger")
        longest = max(shop.tasks[t].options.timeout for t in spec.tasks)
        assert mapping.batch_size * longest + RESERVE_SECONDS <= function.timeout <= 900, queue
    reports = decided.get(EventSourceMapping, "reports-trigger")
    assert reports.batch_size == 7  # 7 x 120 s + 10 s fits in 900 s; 8 would not
    assert decided.get(LambdaFunction, "reports-worker").timeout == 850
    assert decided.get(LambdaFunction, "payments-worker").timeout == 10 * 30 + 10


def test_cli_refuses_a_batch_that_cannot_fit(tmp_path: object) -> None:
    command = ["infra", "samples.shop", "-f", "cloudformation", "-o", str(tmp_path)]
    result = CliRunner().invoke(cli, [*command, "--batch-size", "reports=10"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert lines == [
        "✗ task samples.shop.nightly_stock_report: batch_size: 10 records of up to 120 s each "
        "do not fit in Lambda's 900 s on queue 'reports' (at most 7)",
        "error: app 'shop' cannot be deployed (1 problem(s)); nothing was written",
    ]


def test_a_task_at_lambdas_limit_is_refused() -> None:
    app = Dispatcher("limit")

    @app.task(queue="long", timeout=900)
    def long() -> None:
        """As long as Lambda allows: nothing left to record the result."""

    from dispatcher.deploy.errors import UndeployableApp

    with pytest.raises(UndeployableApp) as caught:
        plan(app, POLICY, "x:app")
    assert caught.value.problems == [
        "task tests.deploy.test_timing.test_a_task_at_lambdas_limit_is_refused.long: timeout: "
        "900 s leaves no time within Lambda's "
        "900 s to record its result: at most 890 s"
    ]


def test_a_rate_limit_caps_concurrency_and_paces_the_consumers() -> None:
    decided = plan(apps.paced, POLICY, "tests.deploy.apps:paced")
    mail = decided.get(LambdaFunction, "mail-worker")
    assert decided.get(EventSourceMapping, "mail-trigger").max_concurrency == 2
    assert mail.environment["DISPATCHER_AWS_CONCURRENCY"] == "2"
    # 6 a minute with 2 consumers: each run takes 20 s, so 10 of them and the reserve.
    crawl = decided.get(LambdaFunction, "slowly-worker")
    assert decided.get(EventSourceMapping, "slowly-trigger").batch_size == 10
    assert crawl.timeout == 10 * 20 + RESERVE_SECONDS
    sample = plan(shop, POLICY, "samples.shop:app")
    notifications = sample.get(LambdaFunction, "notifications-worker")
    assert notifications.environment["DISPATCHER_AWS_CONCURRENCY"] == "2"
    assert sample.get(EventSourceMapping, "notifications-trigger").max_concurrency == 2


def test_cli_refuses_a_rate_no_function_can_pace(tmp_path: object) -> None:
    result = CliRunner().invoke(
        cli, ["infra", "tests.deploy.apps:throttled", "-f", "terraform", "-o", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "✗ task tests.deploy.apps.tick: rate_limit: 1 per 3600 s cannot be honoured on AWS "
        "Lambda: with up to 2 concurrent functions each run must take 7200 s, above the 890 s "
        "a function has",
        "error: app 'throttled' cannot be deployed (1 problem(s)); nothing was written",
    ]


def _run(pacing: Pacing, task_name: str, seconds: float) -> None:
    task = apps.paced.tasks[task_name]
    envelope = Envelope(id="x", task=task_name, created_at=utcnow())
    pacing.after_run(apps.paced, task, envelope, 1, Ack(), seconds)


def test_pacing_fills_each_run_up_to_its_pace() -> None:
    slept: list[float] = []
    pacing = Pacing(concurrency=2, sleep=slept.append)
    _run(pacing, "tests.deploy.apps.mail", 0.01)  # 50/s, 2 consumers: 40 ms a run
    _run(pacing, "tests.deploy.apps.crawl", 25.0)  # longer than its 20 s pace already
    _run(pacing, "tests.deploy.apps.crawl", 5.0)
    assert slept == [pytest.approx(0.03), pytest.approx(15.0)]


def test_install_reads_the_concurrency(monkeypatch: pytest.MonkeyPatch) -> None:
    app = Dispatcher("fresh")

    @app.task(queue="q", rate_limit="5/s")
    def limited() -> None:
        """Rate-limited."""

    monkeypatch.setenv("DISPATCHER_AWS_CONCURRENCY", "3")
    install(app)
    [pacing] = [m for m in app.middleware if isinstance(m, Pacing)]
    assert pacing.concurrency == 3
    monkeypatch.setenv("DISPATCHER_AWS_CONCURRENCY", "none")
    with pytest.raises(ValueError, match="DISPATCHER_AWS_CONCURRENCY='none' is not a positive"):
        install(Dispatcher("other", middleware=[]))  # no rate limit: nothing read
        install(app)


def test_the_lambda_handler_paces_a_rate_limited_app() -> None:
    probe = (
        "from adapters.aws import entrypoint\n"
        "from adapters.aws.pacing import Pacing\n"
        "processor = entrypoint.build()\n"
        "print([type(m).__name__ for m in processor.app.middleware],"
        " [m.concurrency for m in processor.app.middleware if isinstance(m, Pacing)])\n"
    )
    env = {
        **os.environ,
        "DISPATCHER_APP": "tests.deploy.apps:paced",
        "DISPATCHER_AWS_CONCURRENCY": "2",
        "AWS_REGION": "us-east-1",
    }
    result = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['TraceContext', 'Pacing'] [2]"
