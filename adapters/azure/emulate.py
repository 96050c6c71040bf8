"""``dispatcher emulate azure APP``: start Azurite (or use the account of
``AZURE_STORAGE_CONNECTION_STRING``), create the app's queues, poison queues, table and
container there, render its function app and host.json, and run them in the local Functions
host until Ctrl-C or SIGTERM (handled here, so that a run started in the background from a
script, where SIGINT is ignored, stops cleanly too). Cheap to import: only typer at the top."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from collections.abc import Iterator
    from contextlib import AbstractContextManager

    from rich.console import Console


def register(cli: typer.Typer, groups: Mapping[str, typer.Typer]) -> None:
    """Add ``emulate azure`` to the shared ``dispatcher emulate`` group."""
    groups["emulate"].command("azure")(emulate_azure)


def emulate_azure(
    app: Annotated[str, typer.Argument(help="The app: package.module[:attr], e.g. samples.shop")],
    connection_string: Annotated[
        str | None,
        typer.Option(
            help="Storage account to use; default $AZURE_STORAGE_CONNECTION_STRING, else an "
            "embedded Azurite."
        ),
    ] = None,
    poll: Annotated[
        float, typer.Option(min=0.1, max=60, help="Longest pause between polls of an idle queue.")
    ] = 1.0,
    lease: Annotated[
        float,
        typer.Option(min=1, help="Seconds a running message stays hidden (renewed at half)."),
    ] = 600.0,
) -> None:
    """Run the app's Azure Functions (queue and timer triggers) on Azurite, on this machine."""
    import signal

    from rich.console import Console

    console, errors = Console(), Console(stderr=True)
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        if stop.is_set():  # the second one: do not wait for the running functions
            raise KeyboardInterrupt
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    given = connection_string or os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
    try:
        with _storage(given) as connection:
            _run(app, connection, poll, lease, stop, console)
    except KeyboardInterrupt:
        console.print("stopped at once; running messages will be delivered again")
        raise typer.Exit(code=130) from None
    except Exception as error:
        from adapters.azure.azurite import AzuriteNotFound
        from dispatcher.errors import DispatcherError
        from dispatcher.loading import AppNotFound

        if not isinstance(error, DispatcherError | AppNotFound | AzuriteNotFound | KeyError):
            raise
        errors.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=2) from None


def _run(
    reference: str,
    connection: str,
    poll: float,
    lease: float,
    stop: threading.Event,
    console: Console,
) -> None:
    import json
    import tempfile
    from pathlib import Path

    from adapters.azure.config import FUNCTIONS_CONNECTION
    from adapters.azure.host import HostSettings, LocalFunctionsHost, load_function_app
    from adapters.azure.producer import AzureBackend
    from adapters.azure.project import plan_for, write
    from adapters.azure.provision import provision
    from dispatcher.loading import app_reference, load_app

    os.environ["AZURE_STORAGE_CONNECTION_STRING"] = connection
    os.environ[FUNCTIONS_CONNECTION] = connection
    app = load_app(reference)
    plan = plan_for(app, app_reference(app, reference))
    app.use("azure")
    backend = app.backend
    assert isinstance(backend, AzureBackend)
    made = provision(backend, plan)
    console.print(
        f"[bold]{app.name}[/] on {backend.config.queue_url}: {len(made.queues)} queues "
        f"(and their poison queues), table {made.table}, container {made.container}",
        soft_wrap=True,
    )
    console.print(
        f"send with: export AZURE_STORAGE_CONNECTION_STRING='{connection}' "
        "DISPATCHER_BACKEND=azure",
        soft_wrap=True,
        highlight=False,
    )
    for warning in plan.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    with tempfile.TemporaryDirectory(prefix="dispatcher-functions-") as folder:
        function_app, host_json = write(plan, Path(folder))
        settings = HostSettings.from_host_json(json.loads(host_json.read_text()))
        settings = HostSettings(
            **{
                **settings.__dict__,
                "max_polling_interval": min(poll, settings.max_polling_interval),
            }
        )

        def report(function: str, what: str) -> None:
            console.print(f"  {function}: {what}", highlight=False)

        host = LocalFunctionsHost(
            load_function_app(function_app), settings, lease=lease, on_result=report
        )
        names = [f.name for f in host.queue_functions] + [t.name for t in host.timer_functions]
        console.print(f"running {', '.join(names)}; Ctrl-C stops", soft_wrap=True)
        try:
            host.run(stop)
        finally:
            host.close()
            app.close()
    console.print("stopped")


def _storage(connection: str | None) -> AbstractContextManager[str]:
    from contextlib import contextmanager

    @contextmanager
    def given() -> Iterator[str]:
        assert connection is not None
        yield connection

    if connection:
        return given()
    from adapters.azure.azurite import azurite

    return azurite()
