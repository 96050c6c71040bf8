"""The Cloud Tasks emulator (gcloud-tasks-emulator), bound to 127.0.0.1 only.

Its own CLI (``gcloud-tasks-emulator start``) listens on every interface: its API thread
ignores the host it is given and binds ``[::]:PORT``. Run this module instead::

    python -m adapters.gcp.tasks_emulator --port 8123

It is the emulator's server with that one call corrected. The emulator pushes HTTP tasks to
their URLs for real, with the X-CloudTasks-* headers, but it ignores OIDC tokens, task-name
dedup, retry backoff and queue retry settings, and answers GetTask/DeleteTask with 501; the
adapter covers those itself (see ``shared/notes/local-emulators.md``). SIGTERM or SIGINT
stops it.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
from collections.abc import Sequence
from concurrent import futures
from typing import Any

HOST = "127.0.0.1"


def serve(port: int, max_retries: int = -1) -> Any:
    """Start the emulator on ``127.0.0.1:port``; the started server (``.stop()`` ends it)."""
    import grpc
    from gcloud_tasks_emulator import server as emulator
    from gcloud_tasks_emulator.cloudtasks_pb2_grpc import add_CloudTasksServicer_to_server

    class LoopbackApi(emulator.APIThread):  # type: ignore[misc]
        """The emulator's API thread, listening on the loopback interface only."""

        def run(self) -> None:
            self._httpd = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
            add_CloudTasksServicer_to_server(emulator.Greeter(self._state), self._httpd)
            self._httpd.add_insecure_port(f"{HOST}:{self._port}")
            self._httpd.start()

    server = emulator.create_server(HOST, port, max_retries=max_retries)
    server._api = LoopbackApi(server._state, HOST, port, daemon=True)
    server.start()
    return server


def main(argv: Sequence[str] | None = None) -> None:
    """Run until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(description="Cloud Tasks emulator on 127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--max-retries", type=int, default=-1)
    options = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server = serve(options.port, options.max_retries)
    print(f"Cloud Tasks emulator on {HOST}:{options.port}", flush=True)
    stop.wait()
    server.stop()
    os._exit(0)  # its queue threads may sit in a push without a timeout


if __name__ == "__main__":
    main()
