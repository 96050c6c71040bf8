"""Azurite, Microsoft's Azure Storage emulator (Blob, Queue and Table), on this machine: on
free 127.0.0.1 ports, in memory, without telemetry, stopped by its own process id.

Installed by the project's ``package.json`` (``npm ci``: ``azurite`` 3.35.0, the last release
that runs on Node 20); found on ``PATH`` or in the repository's ``node_modules/.bin``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from adapters.azure.config import development_connection_string

INSTALL_HINT = "install it with `npm ci` in the repository (package.json pins azurite 3.35.0)"
#: Seconds Azurite gets to listen, and to exit after SIGTERM (it takes 1-2 s).
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


class AzuriteNotFound(RuntimeError):
    """The azurite executable is not installed."""


def executable() -> str:
    """The path of ``azurite``; :class:`AzuriteNotFound` says how to install it."""
    found = shutil.which("azurite")
    local = Path(__file__).resolve().parents[2] / "node_modules" / ".bin" / "azurite"
    if found is None and local.exists():
        found = str(local)
    if found is None:
        raise AzuriteNotFound(f"azurite is not installed; {INSTALL_HINT}")
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def azurite(tls: tuple[Path, Path] | None = None, oauth: bool = False) -> Iterator[str]:
    """Run Azurite until the block ends; yields the development account's connection string.

    ``tls`` (a certificate and its key, PEM) serves HTTPS; ``oauth`` then also accepts bearer
    tokens, checking their issuer, audience and lifetime (not their signature: Azurite's
    ``--oauth basic``)."""
    if oauth and tls is None:
        raise ValueError("Azurite accepts bearer tokens over HTTPS only: give tls too")
    ports = {"blob": free_port(), "queue": free_port(), "table": free_port()}
    with tempfile.TemporaryDirectory(prefix="azurite-") as folder:
        command = [executable(), "--inMemoryPersistence", "--disableTelemetry", "--silent"]
        command.append("--skipApiVersionCheck")
        for service, port in ports.items():
            command += [f"--{service}Host", "127.0.0.1", f"--{service}Port", str(port)]
        if tls is not None:
            command += ["--cert", str(tls[0]), "--key", str(tls[1])]
        if oauth:
            command += ["--oauth", "basic"]
        process = subprocess.Popen(
            command,
            cwd=folder,  # where it would write its debug log, were one asked for
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # our own Ctrl-C handling stops it, after the host
        )
        try:
            _wait(process, list(ports.values()))
            scheme = "https" if tls is not None else "http"
            urls = {s: f"{scheme}://127.0.0.1:{p}/devstoreaccount1" for s, p in ports.items()}
            yield development_connection_string(urls)
        finally:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def _wait(process: subprocess.Popen[bytes], ports: list[int]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    waiting = list(ports)
    while waiting and time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"azurite exited with {process.returncode} before listening")
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", waiting[0])) == 0:
                waiting.pop(0)
                continue
        time.sleep(0.05)
    if waiting:
        process.kill()
        raise RuntimeError(f"azurite did not listen on 127.0.0.1:{waiting[0]} in time")
