"""``dispatcher worker`` as a user runs it: the same lines at every concurrency (issue 12,
item 2), `--quiet` and `--json`, text from tasks printed literally, and `--burst` leaving what
is not due (item 10)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dispatcher import Dispatcher

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.apps.local_cli:app"


@pytest.fixture
def cli_app(tmp_path: Path) -> Iterator[tuple[Dispatcher, dict[str, str]]]:
    queue = str(tmp_path / "cli.sqlite3")
    saved = os.environ.get("TEST_QUEUE")
    os.environ["TEST_QUEUE"] = queue
    sys.modules.pop("tests.apps.local_cli", None)
    from tests.apps.local_cli import app

    yield app, {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "80"}
    app.close()
    sys.modules.pop("tests.apps.local_cli", None)
    if saved is None:
        os.environ.pop("TEST_QUEUE", None)
    else:
        os.environ["TEST_QUEUE"] = saved


def _worker(env: dict[str, str], *options: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "dispatcher.cli", "worker", APP, "--burst", *options],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == ""
    return done.stdout


def _normalised(output: str) -> list[str]:
    output = re.sub(r"\d+\.\d ms", "N ms", output)
    return re.sub(r" in \d+\.\d\d s", " in N s", output).splitlines()


def _send_three(app: Dispatcher) -> list[str]:
    return [
        app.tasks["double"].delay(21).id,
        app.tasks["refuse"].delay("we [red]never[/red] ship to [b]").id,
        app.tasks["flaky"].delay(7).id,
    ]


@pytest.mark.slow
@pytest.mark.parametrize("concurrency", ["1", "2"])
def test_every_concurrency_prints_a_line_per_message_and_a_summary(
    cli_app: tuple[Dispatcher, dict[str, str]], concurrency: str
) -> None:
    app, env = cli_app
    double, refuse, flaky = _send_three(app)
    lines = _normalised(_worker(env, "-c", concurrency))
    assert lines[0] == (
        f"worker for cli on {env['TEST_QUEUE']}: queues default, concurrency {concurrency}"
    )
    assert lines[-1] == "done: 4 messages in N s (2 ack, 1 dead_letter, 1 retry)"
    ran = [
        f"        ack double {double} N ms",
        f"dead_letter refuse {refuse} N ms: non-retryable error on attempt 1: NonRetryable:"
        " we [red]never[/red] ship to [b]",
        f"      retry flaky {flaky} N ms: RuntimeError: the first attempt fails (again in 0.1 s)",
        f"        ack flaky {flaky} N ms",
    ]
    if concurrency == "1":
        assert lines[1:-1] == ran
    else:  # two processes: the same lines, in the order the processes finished them
        assert sorted(lines[1:-1]) == sorted(ran)
        assert lines.index(ran[2]) < lines.index(ran[3])


@pytest.mark.slow
def test_quiet_prints_the_banner_and_the_summary_only(
    cli_app: tuple[Dispatcher, dict[str, str]],
) -> None:
    app, env = cli_app
    _send_three(app)
    assert _normalised(_worker(env, "-c", "2", "--quiet")) == [
        f"worker for cli on {env['TEST_QUEUE']}: queues default, concurrency 2",
        "done: 4 messages in N s (2 ack, 1 dead_letter, 1 retry)",
    ]


@pytest.mark.slow
@pytest.mark.parametrize("concurrency", ["1", "2"])
def test_json_prints_one_object_per_line(
    cli_app: tuple[Dispatcher, dict[str, str]], concurrency: str
) -> None:
    app, env = cli_app
    double, refuse, flaky = _send_three(app)
    records = [json.loads(line) for line in _worker(env, "-c", concurrency, "--json").splitlines()]
    assert records[0] == {
        "event": "started",
        "app": "cli",
        "path": env["TEST_QUEUE"],
        "queues": ["default"],
        "concurrency": int(concurrency),
    }
    done = records[-1]
    assert done.pop("seconds") >= 0
    assert done == {
        "event": "done",
        "messages": 4,
        "outcomes": {"ack": 2, "dead_letter": 1, "retry": 1},
        "troubles": 0,
        "left": 0,
        "left_at_least": False,
        "next_due": None,
    }
    ran = records[1:-1]
    for record in ran:
        assert record.pop("seconds") >= 0 and record.pop("worker") > 0
    expected = [
        {"task": "double", "id": double, "outcome": "ack", "delivery": 1},
        {
            "task": "refuse",
            "id": refuse,
            "outcome": "dead_letter",
            "delivery": 1,
            "cause": "non_retryable",
            "reason": "non-retryable error on attempt 1: NonRetryable: we [red]never[/red]"
            " ship to [b]",
        },
        {
            "task": "flaky",
            "id": flaky,
            "outcome": "retry",
            "delivery": 1,
            "cause": "failed",
            "reason": "RuntimeError: the first attempt fails",
            "delay": 0.1,
        },
        {"task": "flaky", "id": flaky, "outcome": "ack", "delivery": 2},
    ]
    full = [
        {"event": "ran", "queue": "default", "cause": None, "reason": None, "delay": None, **e}
        for e in expected
    ]

    def key(record: dict[str, object]) -> str:
        return json.dumps(record, sort_keys=True)

    assert sorted(ran, key=key) == sorted(full, key=key)


@pytest.mark.slow
def test_burst_exits_when_nothing_is_due_and_says_what_is_left(
    cli_app: tuple[Dispatcher, dict[str, str]],
) -> None:
    app, env = cli_app
    app.tasks["double"].send(args=(1,), countdown=3600)
    lines = _normalised(_worker(env))
    assert lines[1:] == ["done: 0 messages in N s; 1 message left, the next due in 60 min"]
