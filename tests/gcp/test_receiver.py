"""The receiver on the emulators: the emulator's real pushes run the tasks. Send -> run ->
result, retries with the task's own backoff, dead letters with reasons, idempotent
redelivery, bad input, and a receiver killed mid-task."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.gcp.config import CONCURRENCY_ENV
from adapters.gcp.receiver import QueueRetry
from dispatcher import Status
from dispatcher.backend import Cause
from tests.gcp import apps
from tests.gcp.conftest import Gcp, body_of, loaded, wait_for

pytestmark = pytest.mark.emulator


def _calls(name: str) -> list[object]:
    return [args for task, args in apps.CALLS if task == name]


def test_send_run_result(gcp: Gcp) -> None:
    handle = apps.add.delay(2, 3)
    assert handle.result(timeout=15) == 5
    assert _calls("add") == [(2, 3)]
    wait_for(lambda: gcp.tasks() == [])


def test_a_batch_runs_every_message(gcp: Gcp) -> None:
    handles = apps.add.map((i, i) for i in range(12))
    assert [h.result(timeout=20) for h in handles] == [2 * i for i in range(12)]


def test_a_retry_waits_for_the_tasks_own_backoff(gcp: Gcp) -> None:
    handle = apps.flaky.delay("k")
    assert handle.result(timeout=20) == "k"
    times = [float(call[1]) for call in _calls("flaky")]  # type: ignore[index]
    # Retry(delay=1.5): the emulator alone would retry at once.
    assert len(times) == 2 and times[1] - times[0] >= 1.4


def test_dead_lettered_after_its_attempts_with_the_reason(gcp: Gcp) -> None:
    handle = apps.always_fails.delay("x")
    wait_for(lambda: gcp.backend.dead_letters.entries() != [])
    [dead] = gcp.backend.dead_letters.entries()
    assert dead.id == handle.id and dead.queue == "default"
    assert dead.reason.startswith("failed 2 of 2 attempts: RuntimeError: broken x")
    assert dead.cause is Cause.EXHAUSTED and dead.attempt == 2
    assert _calls("always_fails") == ["x", "x"]
    wait_for(lambda: gcp.tasks() == [])  # answered 2xx: Cloud Tasks stops


def test_non_retryable_is_dead_lettered_at_once(gcp: Gcp) -> None:
    handle = apps.refuse.delay("XX")
    wait_for(lambda: gcp.backend.dead_letters.entries() != [])
    [dead] = gcp.backend.dead_letters.entries()
    assert dead.reason == "non-retryable error on attempt 1: NonRetryable: we do not ship to 'XX'"
    assert dead.cause is Cause.NON_RETRYABLE
    status = handle.status()
    assert status is not None and status.status is Status.FAILED
    assert _calls("refuse") == ["XX"]


def test_a_redelivered_push_runs_once(gcp: Gcp) -> None:
    message = apps.add.message((1, 1))
    headers = {"X-CloudTasks-QueueName": "gcptest-default", "X-CloudTasks-TaskRetryCount": "0"}
    assert gcp.push(message.body, headers) == (200, "done")
    assert gcp.push(message.body, {**headers, "X-CloudTasks-TaskRetryCount": "1"}) == (
        200,
        "done",
    )
    assert _calls("add") == [(1, 1)]


@pytest.mark.parametrize(
    ("body", "cause", "reason"),
    [
        (b"not json", Cause.MALFORMED, "message body is not JSON"),
        (body_of({"version": 9}), Cause.MALFORMED, "unsupported envelope version 9"),
        (None, Cause.UNKNOWN_TASK, "unknown task 'nope'"),
    ],
)
def test_bad_input_is_dead_lettered_and_answered_2xx(
    gcp: Gcp, body: bytes | None, cause: Cause, reason: str
) -> None:
    if body is None:
        message = apps.add.message((1, 1))
        body = message.body.replace(b'"gcptest.add"', b'"nope"').replace(
            b'"tests.gcp.apps.add"', b'"nope"'
        )
    status, text = gcp.push(body, {"x-cloudtasks-queuename": "gcptest-default"})
    assert status == 200 and text.startswith("dead-lettered")
    [dead] = gcp.backend.dead_letters.entries()
    assert dead.cause is cause and reason in dead.reason and dead.body == body


@pytest.mark.parametrize(
    ("pointer", "problem"),
    [
        ("gs://someone-elses-bucket/payloads/default/x.json", "outside"),
        ("gs://{bucket}/results/x.json", "outside"),
        ("gs://{bucket}/payloads/default/missing.json", "missing"),
        ("http://example.com/x", "not a gs://"),
    ],
)
def test_a_foreign_or_missing_claim_check_is_dead_lettered(
    gcp: Gcp, pointer: str, problem: str
) -> None:
    url = pointer.format(bucket=gcp.made.bucket)
    headers = {"X-CloudTasks-QueueName": "gcptest-default", "X-Dispatcher-Claim-Check": url}
    status, _ = gcp.push(body_of({"claim_check": url}), headers)
    assert status == 200
    [dead] = gcp.backend.dead_letters.entries()
    assert dead.cause is Cause.PAYLOAD and problem in dead.reason


def test_a_3_mb_payload_goes_through_the_claim_check(gcp: Gcp) -> None:
    payload = "x" * (3 * 1024 * 1024)
    handle = apps.size_of.delay(payload)
    assert handle.result(timeout=30) == len(payload)
    wait_for(lambda: gcp.backend.clients.objects.keys("payloads/") == [])  # deleted after


def test_a_revoked_task_is_acknowledged_without_running(deployed: Gcp) -> None:
    from tests.gcp.conftest import Receiver

    deployed.pause()
    handle = apps.add.delay(7, 7)
    deployed.backend.revoke(handle.id, apps.add.name)
    with Receiver(int(deployed.receiver_url.rsplit(":", 1)[1])):
        deployed.resume()
        wait_for(lambda: deployed.tasks() == [])
    assert _calls("add") == []
    status = handle.status()
    assert status is not None and status.status is Status.REVOKED


def test_an_eta_past_30_days_hops(gcp: Gcp) -> None:
    from adapters.gcp.producer import MAX_SCHEDULE

    gcp.pause()
    handle = apps.add.send(args=(1, 2), eta=datetime.now(UTC) + timedelta(days=45))
    [task] = gcp.tasks()
    scheduled = task.schedule_time.timestamp()  # type: ignore[attr-defined]
    assert scheduled == pytest.approx(time.time() + MAX_SCHEDULE, abs=5)
    # It arrives early (as Cloud Tasks would in 30 days): re-created with the time left.
    status, text = gcp.push(
        task.http_request.body,  # type: ignore[attr-defined]
        {"X-CloudTasks-QueueName": "gcptest-default", "X-CloudTasks-TaskRetryCount": "0"},
    )
    assert (status, text.split(" ")[0]) == (200, "retry")
    hops = [t for t in gcp.tasks() if t.name != task.name]  # type: ignore[attr-defined]
    assert len(hops) == 1
    assert hops[0].schedule_time.timestamp() == pytest.approx(  # type: ignore[attr-defined]
        time.time() + MAX_SCHEDULE, abs=5
    )
    assert handle.status() is None and _calls("add") == []


def test_queue_retry_follows_cloud_tasks_schedule() -> None:
    policy = QueueRetry(min_backoff=10, max_backoff=300, max_doublings=3, max_attempts=5)
    # The RetryConfig reference's example: 10s, 20s, 40s, 80s, 160s, 240s, 300s, 300s...
    assert [policy.backoff(n) for n in range(1, 9)] == [10, 20, 40, 80, 160, 240, 300, 300]
    assert policy.allows(5) and not policy.allows(6)
    assert QueueRetry.emulator().backoff(3) == 0 and QueueRetry.emulator().allows(1000)


@pytest.mark.slow
def test_a_receiver_killed_mid_task_loses_nothing(deployed: Gcp, tmp_path: Path) -> None:
    marker = tmp_path / "started"
    port = int(deployed.receiver_url.rsplit(":", 1)[1])
    command = [
        sys.executable, "-m", "uvicorn", "adapters.gcp.entrypoint:app",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "error",
    ]  # fmt: skip
    first = subprocess.Popen(command, env=dict(os.environ))
    try:
        handle = apps.slow_once.delay(str(marker))
        wait_for(marker.exists, timeout=20)
        os.kill(int(marker.read_text()), signal.SIGKILL)  # mid-task, before any answer
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    assert handle.status() is not None  # claimed, not finished
    second = subprocess.Popen(command, env=dict(os.environ))
    try:
        # The emulator pushes again; the dead run's claim keeps it busy until its lease
        # (timeout 2 s + 30 s of grace) runs out, then it runs once.
        assert handle.result(timeout=60) == "done"
    finally:
        second.terminate()
        second.wait(timeout=10)
    assert deployed.backend.dead_letters.entries() == []


@pytest.mark.slow
def test_one_request_at_a_time_a_task_past_its_timeout_is_interrupted(
    deployed: Gcp, tmp_path: Path
) -> None:
    # uvicorn runs the loop in its main thread: on the loop, the task's timeout (2 s) cuts the
    # first run's 30 s sleep short, and the retry finishes long before the sleep would have.
    marker = tmp_path / "started"
    port = int(deployed.receiver_url.rsplit(":", 1)[1])
    command = [
        sys.executable, "-m", "uvicorn", "adapters.gcp.entrypoint:app",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "error",
    ]  # fmt: skip
    served = subprocess.Popen(command, env={**os.environ, CONCURRENCY_ENV: "1"})
    try:
        loaded(port)  # the task's three attempts are all the receiver's
        started = time.monotonic()
        handle = apps.slow_once.delay(str(marker))
        assert handle.result(timeout=25) == "done"
        assert time.monotonic() - started < 20
    finally:
        served.terminate()
        served.wait(timeout=10)
    assert deployed.backend.dead_letters.entries() == []
