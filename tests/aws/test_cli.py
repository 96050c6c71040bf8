"""``dispatcher emulate aws``: creates the resources, runs the handlers, stops on Ctrl-C, and
says in one line what is wrong."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.aws import apps
from tests.aws.conftest import REGION

pytestmark = pytest.mark.emulator


def _dispatcher(
    *args: str, env: dict[str, str], sigint_ignored: bool = False
) -> subprocess.Popen[str]:
    def ignore_sigint() -> None:  # what `cmd &` in a script, or `trap '' INT`, hands down
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    return subprocess.Popen(
        [sys.executable, "-m", "dispatcher.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
        preexec_fn=ignore_sigint if sigint_ignored else None,
    )


def _started(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if "Ctrl-C stops" in line:
            break
    return "".join(lines)


def test_emulate_aws_runs_the_app_until_ctrl_c(aws: str) -> None:
    process = _dispatcher("emulate", "aws", "tests.aws.apps:app", "--wait", "1", env={})
    try:
        started = _started(process)
        assert f"awstest on {aws} ({REGION}): 3 queues" in started
        assert (
            f"send with: AWS_ENDPOINT_URL={aws} DISPATCHER_BACKEND=aws://{REGION} "
            "AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing " in started
        )
        apps.app.use(f"aws://{REGION}")
        assert apps.add.delay(2, 40).result(timeout=20) == 42
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert "default: 1 done" in out


def test_emulate_aws_says_in_one_line_when_the_endpoint_is_unreachable(aws: str) -> None:
    started = time.monotonic()
    unreachable = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_MAX_ATTEMPTS": "1"}
    process = _dispatcher("emulate", "aws", "tests.aws.apps:app", env=unreachable)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 2
    [line] = [line for line in err.splitlines() if line.strip()]
    assert line.startswith("error: creating SQS queue") and "cannot reach AWS" in line
    assert time.monotonic() - started < 60


def test_emulate_aws_stops_on_ctrl_c_even_when_started_in_the_background(aws: str) -> None:
    process = _dispatcher(
        "emulate", "aws", "tests.aws.apps:app", "--wait", "1", env={}, sigint_ignored=True
    )
    try:
        _started(process)
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
