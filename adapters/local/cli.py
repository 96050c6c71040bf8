"""``dispatcher worker``: run the local backend's workers (the local plug-in's command).

Cheap to import: the worker and the SQLite store load when the command runs.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dispatcher.console import AppArg, BackendOpt, console, fail, load, plain

if TYPE_CHECKING:
    from dispatcher.backend import Delivery, Outcome


def register(cli: typer.Typer, groups: Mapping[str, typer.Typer]) -> None:
    """Add ``worker`` to the ``dispatcher`` command."""
    cli.command()(worker)


def worker(
    app: AppArg,
    concurrency: Annotated[
        int,
        typer.Option("--concurrency", "-c", min=1, max=64, help="Worker processes to run."),
    ] = 1,
    queue: Annotated[
        list[str] | None, typer.Option("--queue", "-q", help="Only these queues (repeatable).")
    ] = None,
    burst: Annotated[bool, typer.Option(help="Exit when the queues are empty.")] = False,
    backend: BackendOpt = None,
) -> None:
    """Run workers on the local backend. Ctrl-C stops them gracefully; twice, at once."""
    from adapters.local.store import LocalBackend
    from adapters.local.worker import Worker, run_pool

    loaded = load(app, backend)
    local = loaded.backend
    if not isinstance(local, LocalBackend):
        fail(f"this command needs the local backend; {loaded.backend_spec!r} is not local")
    queues = queue or list(loaded.queues)
    console.print(
        f"worker for [bold]{plain(loaded.name)}[/] on {plain(local.path)}: queues "
        f"{plain(', '.join(queues))}, concurrency {concurrency}"
    )
    if concurrency == 1:
        single = Worker(loaded, queues=queues, on_outcome=_print_outcome)

        def stop_gracefully(signum: int, frame: Any) -> None:
            # Only a flag is set here (threading.Event.set takes no lock that this loop
            # holds); the second Ctrl-C raises KeyboardInterrupt.
            signal.signal(signal.SIGINT, signal.default_int_handler)
            single.stop()

        signal.signal(signal.SIGINT, stop_gracefully)
        signal.signal(signal.SIGTERM, stop_gracefully)
        try:
            stats = single.run(burst=burst)
            if single.stopping.is_set():
                console.print("stopped gracefully")
        except KeyboardInterrupt:
            console.print("stopped at once; unfinished messages will be delivered again")
            raise typer.Exit(code=130) from None
        console.print(f"done: {dict(stats.outcomes)}")
        return
    if backend:
        os.environ["DISPATCHER_BACKEND"] = backend
    loaded.close()  # the worker processes open their own connections
    failed = run_pool(app, concurrency, queues=queues, burst=burst, on_signal=console.print)
    if failed:
        fail(f"{failed} worker process(es) exited with an error")


def _print_outcome(delivery: Delivery, outcome: Outcome) -> None:
    from dispatcher.envelope import decode
    from dispatcher.errors import InvalidMessage

    try:
        envelope = decode(delivery.body)
        name, ident = envelope.task, envelope.id[:8]
    except InvalidMessage:
        name, ident = "?", delivery.backend_id
    colour = {"ack": "green", "retry": "yellow", "dead_letter": "red"}[outcome.kind]
    detail = getattr(outcome, "reason", "")
    console.print(f"[{colour}]{outcome.kind:>11}[/] {plain(f'{name} {ident} {detail}')}")
