"""``dispatcher emulate gcp APP``: the emulators, the receiver and the beat on this machine,
bound to 127.0.0.1, stopped by SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import typer
from typer.testing import CliRunner

from adapters.gcp.emulate import register
from tests.gcp import apps

pytestmark = [pytest.mark.emulator, pytest.mark.slow]


def listening(port: int) -> list[str]:
    """The local addresses listening on TCP ``port`` (from /proc/net/tcp and tcp6)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            for row in list(rows)[1:]:
                local, state = row.split()[1], row.split()[3]
                address, _, hex_port = local.rpartition(":")
                if state == "0A" and int(hex_port, 16) == port:
                    found.append(address)
    return found


LOOPBACK = {"0100007F", "0000000000000000FFFF00000100007F"}


def test_register_adds_the_command_to_the_emulate_group() -> None:
    cli, emulate = typer.Typer(), typer.Typer()
    cli.add_typer(emulate, name="emulate")
    register(cli, {"emulate": emulate})
    result = CliRunner().invoke(cli, ["emulate", "gcp", "--help"])
    assert result.exit_code == 0 and "Cloud Tasks" in result.output


@pytest.fixture
def emulating() -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "dispatcher.cli", "emulate", "gcp", "tests.gcp.apps:app"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "1000"},
    )
    exports: dict[str, str] = {}
    deadline = time.monotonic() + 60
    assert process.stdout is not None
    try:
        while not exports and time.monotonic() < deadline:
            line = process.stdout.readline()
            assert line, "emulate gcp exited before printing its exports"
            if line.strip().startswith("export "):
                pairs = line.strip().removeprefix("export ").split()
                exports = dict(pair.split("=", 1) for pair in pairs)
        assert exports, "no exports printed"
        yield process, exports
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def test_a_task_runs_on_the_emulation_and_sigterm_stops_it(
    emulating: tuple[subprocess.Popen[str], dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    process, exports = emulating
    for name, value in exports.items():
        monkeypatch.setenv(name, value)
    apps.app.use(exports["DISPATCHER_BACKEND"])
    try:
        assert apps.add.delay(20, 22).result(timeout=30) == 42
    finally:
        apps.app.close()
    ports = [
        int(exports["CLOUD_TASKS_EMULATOR_HOST"].rsplit(":", 1)[1]),
        int(exports["STORAGE_EMULATOR_HOST"].rsplit(":", 1)[1]),
        int(exports["DISPATCHER_GCP_SERVICE_URL"].rsplit(":", 1)[1]),
    ]
    for port in ports:
        addresses = listening(port)
        assert addresses and set(addresses) <= LOOPBACK, (port, addresses)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert process.stdout is not None and "stopped" in process.stdout.read()
    time.sleep(0.5)
    assert all(listening(port) == [] for port in ports)
