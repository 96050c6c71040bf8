"""``dispatcher emulate azure``: Azurite started and stopped, the app's functions served, the
export line printed, Ctrl-C and SIGTERM honoured (also in the background of a script, where
SIGINT starts out ignored), and a one-line error when something is wrong."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from adapters.azure.config import AzureConfig
from tests.azure import apps

pytestmark = [pytest.mark.emulator, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
COMMAND = [sys.executable, "-m", "dispatcher.cli", "emulate", "azure"]


def _start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*COMMAND, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )


def _until_ready(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if "Ctrl-C stops" in line:
            return "".join(lines)
    raise AssertionError(f"it never got ready: {''.join(lines)}")


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_emulate_runs_the_app_on_its_own_azurite_until_ctrl_c(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    process = _start("tests.azure.apps:app", "--poll", "0.2", env={})
    try:
        out = _until_ready(process)
        assert "aztest on http://127.0.0.1:" in out and "3 queues" in out
        [connection] = re.findall(r"export AZURE_STORAGE_CONNECTION_STRING='([^']+)'", out)
        monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", connection)
        apps.app.use("azure")
        assert apps.add.delay(2, 40).result(timeout=30) == 42
        queue_url = AzureConfig.from_connection_string(connection).queue_url
        port = int(queue_url.rsplit(":", 1)[1].split("/")[0])
        assert _listening(port)
    finally:
        apps.app.close()
        process.send_signal(signal.SIGINT)
        rest, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "queue_default: done" in rest and "stopped" in rest
    assert not _listening(port)  # Azurite went with it


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_emulate_stops_when_started_in_the_background_of_a_script(
    storage: str, stop: signal.Signals
) -> None:
    # A non-interactive shell starts background jobs with SIGINT ignored.
    script = " ".join([*COMMAND, "tests.azure.apps:app", "--poll", "0.2"]) + " & echo $!; wait $!"
    shell = subprocess.Popen(
        ["bash", "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert shell.stdout is not None
    pid = int(shell.stdout.readline())
    _until_ready(shell)
    os.kill(pid, stop)
    out, err = shell.communicate(timeout=60)
    assert shell.returncode == 0, err
    assert out.rstrip().endswith("stopped")


def test_emulate_says_in_one_line_when_storage_is_unreachable() -> None:
    started = time.monotonic()
    unreachable = "AccountName=devstoreaccount1;AccountKey=a2V5;" + "".join(
        f"{service}Endpoint=http://127.0.0.1:9/devstoreaccount1;"
        for service in ("Queue", "Table", "Blob")
    )
    process = _start("tests.azure.apps:app", "--connection-string", unreachable)
    _, err = process.communicate(timeout=90)
    assert process.returncode == 2
    [line] = [line for line in err.splitlines() if line.strip()]
    assert line.startswith("error: creating Storage Queue") and "cannot reach Azure Storage" in line
    assert time.monotonic() - started < 60


def test_emulate_names_an_app_it_cannot_find(storage: str) -> None:
    process = _start("tests.azure.nothing:app", "--connection-string", storage)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "error: cannot import 'tests.azure.nothing'" in err
