"""Start the local GCP emulators on 127.0.0.1, each on a free port, and stop them.

* Cloud Tasks: ``python -m adapters.gcp.tasks_emulator`` (gcloud-tasks-emulator, bound to
  the loopback interface).
* Cloud Storage: ``gcp-storage-emulator start --host=127.0.0.1 --in-memory``.

Both come with the ``dev`` extra; a missing one is a clear error. Each is started as a child
process, waited for (bounded), and stopped by its process id.
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
from typing import IO

from dispatcher.errors import BackendUnavailable, MissingDependency

HOST = "127.0.0.1"
STARTUP_TIMEOUT = 30.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@contextmanager
def process(
    command: Sequence[str],
    port: int,
    *,
    log: IO[bytes] | None = None,
    timeout: float = STARTUP_TIMEOUT,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` until the block ends, once ``port`` accepts connections."""
    output = log if log is not None else subprocess.DEVNULL
    child = subprocess.Popen(command, stdout=output, stderr=output)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if child.poll() is not None:
                raise BackendUnavailable(f"{command[0]} exited with {child.returncode} at start")
            with socket.socket() as sock:
                sock.settimeout(0.2)
                if sock.connect_ex((HOST, port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise BackendUnavailable(f"{command[0]} did not listen on {HOST}:{port}")
            time.sleep(0.05)
        yield child
    finally:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(timeout=5)


@contextmanager
def tasks_emulator(port: int | None = None, *, log: IO[bytes] | None = None) -> Iterator[str]:
    """The Cloud Tasks emulator; yields its ``host:port``."""
    try:
        import gcloud_tasks_emulator  # noqa: F401
    except ModuleNotFoundError:
        raise MissingDependency("gcloud-tasks-emulator", "dev") from None
    port = port or free_port()
    command = [sys.executable, "-m", "adapters.gcp.tasks_emulator", "--port", str(port)]
    with process(command, port, log=log):
        yield f"{HOST}:{port}"


@contextmanager
def storage_emulator(port: int | None = None, *, log: IO[bytes] | None = None) -> Iterator[str]:
    """The GCS emulator, in memory; yields its ``http://host:port``."""
    executable = shutil.which("gcp-storage-emulator") or shutil.which(
        "gcp-storage-emulator", path=str(Path(sys.executable).parent)
    )
    if executable is None:
        raise MissingDependency("gcp-storage-emulator", "dev")
    port = port or free_port()
    command = [executable, "start", f"--host={HOST}", f"--port={port}", "--in-memory"]
    with process(command, port, log=log):
        yield f"http://{HOST}:{port}"
