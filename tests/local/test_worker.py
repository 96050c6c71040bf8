"""Workers on the local backend: bad input, crashes, a process pool and graceful stops."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.local.store import LocalBackend
from adapters.local.worker import Worker
from dispatcher import Cause, Dispatcher, NonRetryable, Retry, TaskFailed, current
from dispatcher.backend import Delivery, Outcome
from dispatcher.execution import Executor
from dispatcher.receiving import Deadline
from dispatcher.task import TaskHandle
from tests.local.conftest import local

ROOT = Path(__file__).resolve().parents[2]


def test_bad_input_is_dead_lettered_and_the_worker_keeps_going(app: Dispatcher) -> None:
    @app.task(name="charge", queue="payments")
    def charge(order_id: int) -> str:
        return f"ch_{order_id}"

    store = local(app)
    before = charge.delay(1)
    store.send_raw("payments", b"\x00\x01 not json")
    store.send_raw("payments", b'{"version": 2, "id": "v2", "task": "charge"}')
    store.send_raw(
        "payments",
        b'{"version": 1, "id": "u", "task": "refund", "created_at": "2026-01-01T00:00:00Z"}',
        task="refund",
    )
    store.send_raw(
        "payments",
        b'{"version": 1, "id": "a", "task": "charge", "args": [{"id": 1}],'
        b' "created_at": "2026-01-01T00:00:00Z"}',
        task="charge",
    )
    after = charge.delay(2)
    stats = Worker(app, prefetch=2).run(burst=True)
    assert stats.outcomes == {"ack": 2, "dead_letter": 4}
    assert before.result(timeout=1) == "ch_1" and after.result(timeout=1) == "ch_2"
    reasons = [letter.reason for letter in store.dead_letters.entries()]
    assert reasons[0] == "message body is not JSON"
    assert reasons[1].startswith("unsupported envelope version 2")
    assert reasons[2] == "unknown task 'refund'"
    assert reasons[3].startswith(
        "task 'charge': argument 'order_id': Input should be a valid integer"
    )
    assert store.pending() == 0


def test_retries_then_dead_letter_after_the_attempts(app: Dispatcher) -> None:
    calls: list[int] = []

    @app.task(name="doomed", retry=Retry(attempts=3, delay=0.05, jitter=False))
    def doomed() -> None:
        calls.append(1)
        raise ConnectionError("warehouse offline")

    handle = doomed.delay()
    stats = Worker(app).run(burst=True)
    assert stats.outcomes == {"retry": 2, "dead_letter": 1}
    assert len(calls) == 3
    with pytest.raises(TaskFailed, match="warehouse offline"):
        handle.result(timeout=0)
    store = local(app)
    [letter] = store.dead_letters.entries()
    assert letter.attempt == 3
    assert letter.reason == "failed 3 of 3 attempts: ConnectionError: warehouse offline"


def test_async_tasks_and_results_through_a_worker(app: Dispatcher) -> None:
    @app.task(name="mail")
    async def mail(to: str) -> str:
        return f"sent to {to}"

    handles = mail.map([("a@x.io",), ("b@x.io",)])
    Worker(app).run(burst=True)
    assert [h.result(timeout=1) for h in handles] == ["sent to a@x.io", "sent to b@x.io"]


@pytest.fixture
def slow_app(tmp_path: Path) -> Iterator[tuple[Dispatcher, dict[str, str]]]:
    env = {
        **os.environ,
        "TEST_QUEUE": str(tmp_path / "slow.sqlite3"),
        "TEST_MARKS": str(tmp_path),
        "PYTHONPATH": str(ROOT),
    }
    saved = {k: os.environ.get(k) for k in ("TEST_QUEUE", "TEST_MARKS")}
    os.environ.update(TEST_QUEUE=env["TEST_QUEUE"], TEST_MARKS=env["TEST_MARKS"])
    sys.modules.pop("tests.apps.slow", None)
    from tests.apps.slow import app

    yield app, env
    for process in _STARTED:  # never leave a worker behind, even when a test failed
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    _STARTED.clear()
    app.close()
    sys.modules.pop("tests.apps.slow", None)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


_STARTED: list[subprocess.Popen[bytes]] = []


def _worker(env: dict[str, str], *extra: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "dispatcher.cli", "worker", "tests.apps.slow:app", *extra],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # so that killing it takes its pool's processes too
    )
    _STARTED.append(process)
    return process


def _wait_for(path: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.02)


@pytest.mark.slow
def test_a_worker_killed_mid_task_loses_nothing(
    slow_app: tuple[Dispatcher, dict[str, str]], tmp_path: Path
) -> None:
    app, env = slow_app
    handle = app.tasks["work"].send(args=(7,), kwargs={"seconds": 0.5})
    doomed = _worker(env)
    _wait_for(tmp_path / "started-7")
    doomed.kill()  # SIGKILL mid-task: no cleanup of any kind
    doomed.wait(timeout=10)
    assert not (tmp_path / "finished-7").exists()

    survivor = _worker(env, "--burst")
    output = survivor.communicate(timeout=30)[0].decode()
    assert survivor.returncode == 0, output
    assert handle.result(timeout=1) == 70
    assert (tmp_path / "started-7").read_text() == "xx"  # delivered again after the lease ran out
    record = handle.status()
    assert record is not None and record.attempt == 2


@pytest.mark.slow
def test_a_pool_runs_everything_and_stops_gracefully_on_ctrl_c(
    slow_app: tuple[Dispatcher, dict[str, str]], tmp_path: Path
) -> None:
    app, env = slow_app
    handles = app.tasks["work"].map([{"n": n, "seconds": 0.3} for n in range(6)])
    pool = _worker(env, "--concurrency", "2")
    _wait_for(tmp_path / "started-0")
    pool.send_signal(signal.SIGINT)
    output = pool.communicate(timeout=30)[0].decode()
    assert pool.returncode == 0, output
    assert "stopping gracefully" in output
    started = {p.name for p in tmp_path.glob("started-*")}
    finished = {p.name.replace("finished", "started") for p in tmp_path.glob("finished-*")}
    assert started == finished  # whatever had started was finished, not abandoned
    store = local(app)
    assert store.pending() == 6 - len(finished)  # the rest went back to the queue

    rest = _worker(env, "--concurrency", "2", "--burst")
    output = rest.communicate(timeout=60)[0].decode()
    assert rest.returncode == 0, output
    assert [h.result(timeout=1) for h in handles] == [n * 10 for n in range(6)]


@pytest.mark.slow
def test_a_single_worker_finishes_its_task_on_ctrl_c(
    slow_app: tuple[Dispatcher, dict[str, str]], tmp_path: Path
) -> None:
    app, env = slow_app
    handles = app.tasks["work"].map([{"n": n, "seconds": 0.3} for n in range(3)])
    single = _worker(env)
    _wait_for(tmp_path / "started-0")
    single.send_signal(signal.SIGINT)
    output = single.communicate(timeout=30)[0].decode()
    assert single.returncode == 0, output
    assert "stopped gracefully" in output
    assert (tmp_path / "finished-0").exists()
    assert handles[0].result(timeout=1) == 0
    store = local(app)
    assert store.pending() == 2  # handed back at once, not left leased
    assert len(store.receive(["default"], 10)) == 2


@pytest.mark.slow
def test_a_message_starts_only_with_its_timeout_left_on_its_lease(tmp_path: Path) -> None:
    """Issue 9, item 10: the worker used to check for half the grace (15 s) of lease left,
    not the task's timeout, so a later message of a batch could outlive its lease while it
    ran, and be leased again by another worker mid-run."""
    app = Dispatcher("shop")
    store = LocalBackend(tmp_path / "q.sqlite3", app, lease_grace=1.0)
    app.use(store)
    left_at_start: list[float] = []

    @app.task(name="warm")
    def warm() -> None: ...

    @app.task(name="slow", timeout=3.0)
    def slow() -> None:
        time.sleep(1.5)

    @app.task(name="check", timeout=3.0)
    def check() -> None:
        context = current()
        assert context is not None
        (until,) = store.db.execute(
            "SELECT visible_at FROM messages WHERE id = ?", (context.id,)
        ).fetchone()
        left_at_start.append(until - time.time())

    warm.delay()  # run alone: the worker learns its pace and leases bigger batches after
    slow.delay()
    check.delay()  # leased with `slow`, in one batch
    Worker(app).run(burst=True)
    assert len(left_at_start) == 1
    assert left_at_start[0] >= 3.0  # its whole timeout was left when it started


def test_an_exception_escaping_the_execution_core_dead_letters_the_message(
    app: Dispatcher,
) -> None:
    """Issue 13: a message whose processing raised killed the worker on every lease, forever.
    The execution core returns an outcome for every message; the worker is the net below."""

    class Broken(Executor):
        def process(self, delivery: Delivery, deadline: Deadline | None = None) -> Outcome:
            if b"poison" in delivery.body:
                raise RecursionError("maximum recursion depth exceeded")
            return super().process(delivery, deadline)

    @app.task(name="echo")
    def echo(text: str) -> str:
        return text

    handles: list[TaskHandle[str]] = [echo.delay(t) for t in ("fine", "poison", "fine too")]
    stats = Worker(app, make_executor=Broken).run(burst=True)
    assert stats.outcomes == {"ack": 2, "dead_letter": 1}
    assert handles[0].result(timeout=0) == "fine" and handles[2].result(timeout=0) == "fine too"
    [letter] = local(app).dead_letters.entries()
    assert letter.id == handles[1].id and letter.cause is Cause.MALFORMED
    assert letter.reason == (
        "the worker could not process this message: RecursionError: maximum recursion depth"
        " exceeded"
    )
    with pytest.raises(TaskFailed, match="could not process"):
        handles[1].result(timeout=0)


def test_a_result_sqlite_cannot_store_dead_letters_its_message(app: Dispatcher) -> None:
    """A task's error text with a lone surrogate cannot be written by SQLite: the whole batch
    failed to settle, the worker died, and the message came back forever."""

    @app.task(name="bad")
    def bad(n: int) -> None:
        raise NonRetryable(f"bad \udc80 text {n}")

    @app.task(name="good")
    def good(n: int) -> int:
        return n

    first, poisoned, last = good.delay(1), bad.delay(2), good.delay(3)
    stats = Worker(app).run(burst=True)
    assert stats.outcomes == {"ack": 2, "dead_letter": 1}
    assert [first.result(timeout=0), last.result(timeout=0)] == [1, 3]
    [letter] = local(app).dead_letters.entries()
    assert letter.id == poisoned.id and letter.cause is Cause.MALFORMED
    assert letter.reason.startswith("its outcome could not be recorded: UnicodeEncodeError")
    with pytest.raises(TaskFailed) as failed:
        poisoned.result(timeout=0)
    assert failed.value.error_message == "bad \\udc80 text 2"  # the text, escaped to be stored
    assert local(app).pending() == 0


def test_burst_leaves_what_is_not_due_soon(app: Dispatcher) -> None:
    """Issue 12, item 10: `--burst` waited forever for a message due in an hour."""

    @app.task(name="later")
    def later() -> None: ...

    later.send(countdown=3600)
    later.send(countdown=0.2)  # within the horizon: waited for
    started = time.monotonic()
    stats = Worker(app).run(burst=True, horizon=5)
    assert stats.outcomes == {"ack": 1} and stats.left == 1
    assert stats.next_due is not None and stats.next_due > time.time() + 3500
    assert time.monotonic() - started < 30
