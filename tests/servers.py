"""Local emulators for tests: on 127.0.0.1, a free port, stopped when done, bounded in time.

A missing emulator is an error, never a skip: the test that needs it fails and says what to
install.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 30.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    port: int, process: subprocess.Popen[bytes], timeout: float = STARTUP_TIMEOUT
) -> None:
    """Wait until ``port`` accepts connections; fail if ``process`` dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"{process.args!r} exited with {process.returncode} before listening"
            )
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"{process.args!r} did not listen on 127.0.0.1:{port} within {timeout}s")


def require_executable(name: str, install_hint: str) -> str:
    """The path of ``name``; a clear failure (not a skip) when it is missing."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        raise RuntimeError(f"{name} is not installed; {install_hint}")
    return found


@contextmanager
def running(
    command: Sequence[str], port: int, *, timeout: float = STARTUP_TIMEOUT
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` until the block ends, once ``port`` accepts connections."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, process, timeout)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@contextmanager
def moto_server() -> Iterator[str]:
    """moto in server mode on 127.0.0.1; yields its endpoint URL."""
    executable = require_executable("moto_server", "run `make test` (it installs moto[server])")
    port = free_port()
    with running([executable, "-H", "127.0.0.1", "-p", str(port)], port):
        yield f"http://127.0.0.1:{port}"


@contextmanager
def cloud_tasks_emulator() -> Iterator[str]:
    """The Cloud Tasks emulator on 127.0.0.1 (``python -m adapters.gcp.tasks_emulator``);
    yields its ``host:port``. Fails, naming the package, when it is not installed."""
    from adapters.gcp.emulators import tasks_emulator

    with tasks_emulator() as host:
        yield host


@contextmanager
def gcs_emulator(log: Path) -> Iterator[str]:
    """The GCS emulator on 127.0.0.1, in memory, its request log written to ``log``; yields
    its URL."""
    from adapters.gcp.emulators import storage_emulator

    with log.open("wb") as output, storage_emulator(log=output) as url:
        yield url


@contextmanager
def azurite_server() -> Iterator[str]:
    """Azurite (blob, queue and table) on free 127.0.0.1 ports, in memory; yields the
    development account's connection string. Fails, saying how to install it, when the
    project's npm packages are missing."""
    from adapters.azure.azurite import azurite

    with azurite() as connection:
        yield connection
