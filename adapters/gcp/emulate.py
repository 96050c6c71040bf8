"""``dispatcher emulate gcp APP``: the whole GCP path on this machine.

It starts the Cloud Tasks emulator (on 127.0.0.1) and a GCS emulator, creates the app's
queues and bucket, serves the receiver (``adapters.gcp.entrypoint``) with uvicorn on
127.0.0.1, so that the emulator's real HTTP pushes run the tasks, runs the local beat for
periodic tasks (Cloud Scheduler's job in the cloud), and prints what to export to send to it.
Since the emulator sends no OIDC token, a key made for the session signs the tokens the
producer attaches, and the receiver verifies them as it verifies Google's. Ctrl-C, SIGINT or
SIGTERM stop everything. Cheap to import: only typer here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from threading import Event

    from rich.console import Console

    from dispatcher.app import Dispatcher

#: The project and location the emulators pretend to be.
DEFAULT_PROJECT = "local-project"
DEFAULT_LOCATION = "us-central1"


def register(cli: typer.Typer, groups: Mapping[str, typer.Typer]) -> None:
    """Add ``emulate gcp`` to the shared ``dispatcher emulate`` group."""
    groups["emulate"].command("gcp")(emulate_gcp)


def emulate_gcp(
    app: Annotated[str, typer.Argument(help="The app: package.module[:attr], e.g. samples.shop")],
    project: Annotated[str, typer.Option(help="The project id to pretend.")] = DEFAULT_PROJECT,
    location: Annotated[str, typer.Option(help="The location to pretend.")] = DEFAULT_LOCATION,
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="The receiver's port (0: a free one).")
    ] = 0,
) -> None:
    """Run an app on the Cloud Tasks and GCS emulators with its receiver served locally."""
    from rich.console import Console

    from dispatcher.errors import DispatcherError
    from dispatcher.loading import AppNotFound

    console, errors = Console(), Console(stderr=True)
    try:
        _run(app, project, location, port, console)
    except (DispatcherError, AppNotFound) as error:
        errors.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=2) from None


def _run(app_ref: str, project: str, location: str, port: int, console: Console) -> None:
    import os
    import signal
    import tempfile
    import threading
    from contextlib import ExitStack
    from pathlib import Path

    from adapters.gcp import config as settings
    from adapters.gcp.emulators import free_port, storage_emulator, tasks_emulator
    from adapters.gcp.tokens import LocalIssuer
    from dispatcher.loading import app_reference, load_app
    from dispatcher.naming import APP_ENV

    loaded = load_app(app_ref)
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dispatcher-gcp-")))
        key, certs = LocalIssuer.generate().write(folder)
        storage = stack.enter_context(storage_emulator())
        tasks = stack.enter_context(tasks_emulator())
        port = port or free_port()
        spec = f"gcp://{project}/{location}"
        exports = {
            "DISPATCHER_BACKEND": spec,
            settings.TASKS_EMULATOR_ENV: tasks,
            settings.STORAGE_EMULATOR_ENV: storage,
            settings.SERVICE_URL_ENV: f"http://127.0.0.1:{port}",
            settings.SERVICE_ACCOUNT_ENV: f"dispatcher-invoker@{project}.iam.gserviceaccount.com",
            settings.SIGNING_KEY_ENV: str(key),
        }
        os.environ.update(exports)
        os.environ[settings.CERTS_URL_ENV] = certs.as_uri()
        os.environ[APP_ENV] = app_reference(loaded, app_ref)
        try:
            _serve(loaded, spec, port, stop, console, exports)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _serve(
    app: Dispatcher,
    spec: str,
    port: int,
    stop: Event,
    console: Console,
    exports: Mapping[str, str],
) -> None:
    import threading

    import uvicorn

    from adapters.gcp.entrypoint import build_service, create_app
    from adapters.gcp.producer import GcpBackend
    from adapters.gcp.provision import provision
    from dispatcher.beat import Beat

    app.use(spec)
    backend = app.backend
    assert isinstance(backend, GcpBackend)
    made = provision(backend)
    server = uvicorn.Server(
        uvicorn.Config(create_app(build_service), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="receiver", daemon=True)
    thread.start()
    console.print(
        f"[bold]{app.name}[/] on the emulators: {len(made.queues)} queues, bucket "
        f"{made.bucket}, receiver http://127.0.0.1:{port}",
        soft_wrap=True,
    )
    console.print("send with:", soft_wrap=True)
    console.print(
        "  export " + " ".join(f"{k}={v}" for k, v in exports.items()),
        soft_wrap=True,
        highlight=False,
    )
    beat = Beat(app)
    console.print("running; Ctrl-C stops", soft_wrap=True)
    try:
        while not stop.wait(1.0):
            for handle in beat.tick():
                console.print(f"  beat: sent {handle.task.name if handle.task else '?'}")
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        app.close()
        console.print("stopped")
