"""``dispatcher worker``: run the local backend's workers (the local plug-in's command).

Cheap to import: the worker and the SQLite store load when the command runs.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping
from typing import Annotated, Any

import typer

from dispatcher.console import AppArg, BackendOpt, fail, load


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
    burst: Annotated[
        bool,
        typer.Option(
            "--burst", help="Exit once nothing is due (within --horizon) instead of waiting."
        ),
    ] = False,
    horizon: Annotated[
        float,
        typer.Option(
            min=0,
            help="With --burst: seconds ahead to wait for messages falling due (retries, "
            "expiring leases); later ones are left queued.",
        ),
    ] = 10.0,
    quiet: Annotated[
        bool, typer.Option("--quiet", help="No line per message; the summary only.")
    ] = False,
    json_lines: Annotated[
        bool, typer.Option("--json", help="One JSON object per line (for log shippers).")
    ] = False,
    backend: BackendOpt = None,
) -> None:
    """Run workers on the local backend. Ctrl-C stops them gracefully; twice, at once."""
    from adapters.local.pool import run_pool
    from adapters.local.reporting import Reporter
    from adapters.local.store import WAITING_CAP, LocalBackend
    from adapters.local.worker import Worker

    loaded = load(app, backend)
    local = loaded.backend
    if not isinstance(local, LocalBackend):
        fail(f"this command needs the local backend; {loaded.backend_spec!r} is not local")
    queues = queue or list(loaded.queues)
    reporter = Reporter("json" if json_lines else "quiet" if quiet else "text")
    reporter.started(loaded.name, local.path, queues, concurrency)
    interrupted = False
    if concurrency == 1:
        single = Worker(loaded, queues=queues, on_events=reporter.events)

        def stop_gracefully(signum: int, frame: Any) -> None:
            # Only a flag is set here (threading.Event.set takes no lock that this loop
            # holds); the second Ctrl-C raises KeyboardInterrupt.
            signal.signal(signal.SIGINT, signal.default_int_handler)
            single.stop()

        signal.signal(signal.SIGINT, stop_gracefully)
        signal.signal(signal.SIGTERM, stop_gracefully)
        try:
            single.run(burst=burst, horizon=horizon)
        except KeyboardInterrupt:
            reporter.note("stopped at once; unfinished messages will be delivered again")
            raise typer.Exit(code=130) from None
        interrupted = single.stopping.is_set()
        failed = 0
    else:
        if backend:
            os.environ["DISPATCHER_BACKEND"] = backend
        loaded.close()  # the worker processes open their own connections

        def on_signal(message: str) -> None:
            nonlocal interrupted
            interrupted = True
            reporter.note(message)

        failed = run_pool(
            app,
            concurrency,
            queues=queues,
            burst=burst,
            horizon=horizon,
            on_events=reporter.events,
            on_signal=on_signal,
        )
    if interrupted:
        reporter.note("stopped gracefully")
    left, next_due = (local.waiting(queues), local.next_due(queues)) if burst else (0, None)
    reporter.done(left, next_due, capped=left >= WAITING_CAP)
    local.close()
    if failed:
        fail(f"{failed} worker process(es) exited with an error")
