"""The ``dispatcher`` command: list tasks, send them, run workers, read results and dead letters.

APP is ``package.module:attr`` (or a module holding exactly one app), e.g. ``samples.shop``.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from dispatcher.errors import DispatcherError
from dispatcher.loading import AppNotFound, load_app

if TYPE_CHECKING:
    from adapters.local.store import LocalBackend
    from dispatcher.app import Dispatcher

cli = typer.Typer(
    name="dispatcher",
    help="faas-dispatcher: Python tasks on cloud-function queues (and a local one).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
dlq = typer.Typer(help="Inspect and replay dead-lettered messages.", no_args_is_help=True)
cli.add_typer(dlq, name="dlq")
console = Console()
errors = Console(stderr=True)

AppArg = Annotated[str, typer.Argument(help="The app: package.module[:attr], e.g. samples.shop")]
BackendOpt = Annotated[
    str | None,
    typer.Option("--backend", "-b", help="Backend spec; overrides $DISPATCHER_BACKEND."),
]

#: Modules that add commands of their own: each has ``register(cli: typer.Typer)``.
COMMAND_MODULES: list[str] = ["adapters.aws.emulate", "dispatcher.deploy.cli"]


def _app(reference: str, backend: str | None = None) -> Dispatcher:
    try:
        app = load_app(reference)
    except AppNotFound as error:
        _fail(str(error))
    if backend:
        app.use(backend)
    return app


def _fail(message: str) -> NoReturn:
    errors.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code=2)


def _local(app: Dispatcher) -> LocalBackend:
    from adapters.local.store import LocalBackend

    backend = app.backend
    if not isinstance(backend, LocalBackend):
        _fail(f"this command needs the local backend; {app.backend_spec!r} is not local")
    return backend


@cli.command()
def tasks(app: AppArg) -> None:
    """List the app's tasks with their effective settings."""
    loaded = _app(app)
    table = Table(title=f"{loaded.name}: {len(loaded.tasks)} tasks (backend {loaded.backend_spec})")
    for column in ("task", "queue", "timeout", "memory", "retry", "other"):
        table.add_column(column)
    for task in loaded.tasks.values():
        o = task.options
        other = [
            f"expires {o.expires:g}s" if o.expires else "",
            f"group_by {_source(o.group_by)}" if o.group_by else "",
            f"dedup_by {_source(o.dedup_by)}" if o.dedup_by else "",
            f"rate {o.rate_limit}" if o.rate_limit else "",
            f"concurrency {o.concurrency}" if o.concurrency else "",
            f"schedule {o.schedule}" if o.schedule else "",
            "async" if task.is_async else "",
        ]
        table.add_row(
            task.name,
            o.queue + (" (ordered)" if o.ordered else ""),
            f"{o.timeout:g}s",
            f"{o.memory} MB",
            o.retry.describe(),
            ", ".join(item for item in other if item) or "-",
        )
    console.print(table)


def _source(source: Any) -> str:
    return source if isinstance(source, str) else getattr(source, "__name__", repr(source))


def _json_or_text(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


@cli.command()
def send(
    app: AppArg,
    task: Annotated[str, typer.Argument(help="Task name, as `dispatcher tasks` lists it.")],
    args: Annotated[
        list[str] | None, typer.Argument(help="Arguments, each JSON (or plain text).")
    ] = None,
    kwarg: Annotated[
        list[str] | None, typer.Option("--kwarg", "-k", help="A keyword argument, NAME=JSON.")
    ] = None,
    countdown: Annotated[float | None, typer.Option(help="Run after this many seconds.")] = None,
    dedup_key: Annotated[str | None, typer.Option(help="Drop repeats of this key.")] = None,
    wait: Annotated[float | None, typer.Option(help="Wait this long for the result.")] = None,
    backend: BackendOpt = None,
) -> None:
    """Send one task with arguments given as JSON values."""
    loaded = _app(app, backend)
    kwargs: dict[str, Any] = {}
    for item in kwarg or []:
        name, sep, value = item.partition("=")
        if not sep:
            _fail(f"--kwarg {item!r}: use NAME=VALUE")
        kwargs[name] = _json_or_text(value)
    try:
        handle = loaded.get_task(task).send(
            args=[_json_or_text(a) for a in args or []],
            kwargs=kwargs,
            countdown=countdown,
            dedup_key=dedup_key,
        )
    except DispatcherError as error:
        _fail(str(error))
    console.print(f"sent [bold]{task}[/] as [cyan]{handle.id}[/]")
    if wait is not None:
        _print_result(loaded, handle.id, wait)


@cli.command()
def result(
    app: AppArg,
    task_id: Annotated[str, typer.Argument(help="The id `send` printed.")],
    wait: Annotated[float, typer.Option(help="Seconds to wait for it to finish.")] = 0.0,
    backend: BackendOpt = None,
) -> None:
    """Show the status and result of one invocation."""
    _print_result(_app(app, backend), task_id, wait)


def _print_result(app: Dispatcher, task_id: str, wait: float) -> None:
    handle = app.handle(task_id)
    try:
        value = handle.result(timeout=wait)
    except DispatcherError as error:
        record = handle.status()
        state = record.status.value if record else "pending"
        console.print(f"[yellow]{task_id}[/] {state}: {error}")
        raise typer.Exit(code=1) from None
    console.print(f"[green]{task_id}[/] succeeded: {json.dumps(value, default=str)}")


@cli.command()
def worker(
    app: AppArg,
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", min=1, max=64)] = 1,
    queue: Annotated[
        list[str] | None, typer.Option("--queue", "-q", help="Only these queues (repeatable).")
    ] = None,
    burst: Annotated[bool, typer.Option(help="Exit when the queues are empty.")] = False,
    backend: BackendOpt = None,
) -> None:
    """Run workers on the local backend. Ctrl-C stops them gracefully; twice, at once."""
    from adapters.local.worker import Worker, run_pool

    loaded = _app(app, backend)
    local = _local(loaded)
    queues = queue or list(loaded.queues)
    console.print(
        f"worker for [bold]{loaded.name}[/] on {local.path}: queues {', '.join(queues)}, "
        f"concurrency {concurrency}"
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
        _fail(f"{failed} worker process(es) exited with an error")


def _print_outcome(delivery: Any, outcome: Any) -> None:
    from dispatcher.envelope import decode
    from dispatcher.errors import InvalidMessage

    try:
        envelope = decode(delivery.body)
        name, ident = envelope.task, envelope.id[:8]
    except InvalidMessage:
        name, ident = "?", delivery.backend_id
    colour = {"ack": "green", "retry": "yellow", "dead_letter": "red"}[outcome.kind]
    detail = getattr(outcome, "reason", "")
    console.print(f"[{colour}]{outcome.kind:>11}[/] {name} {ident} {detail}", highlight=False)


@dlq.command("list")
def dlq_list(app: AppArg, backend: BackendOpt = None) -> None:
    """List dead-lettered messages with their reasons."""
    letters = _local(_app(app, backend)).dead_letters()
    table = Table(title=f"{len(letters)} dead-lettered")
    for column in ("#", "task", "id", "deliveries", "failed at", "reason"):
        table.add_column(column)
    for letter in letters:
        when = datetime.fromtimestamp(letter.failed_at, UTC).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(
            str(letter.seq), letter.task, letter.id, str(letter.deliveries), when, letter.reason
        )
    console.print(table)


@dlq.command("replay")
def dlq_replay(
    app: AppArg,
    numbers: Annotated[list[int] | None, typer.Argument(help="The # column; all if none.")] = None,
    backend: BackendOpt = None,
) -> None:
    """Put dead-lettered messages back on their queues."""
    replayed = _local(_app(app, backend)).replay(numbers or None)
    console.print(f"replayed {len(replayed)} message(s)")


for _module in COMMAND_MODULES:
    importlib.import_module(_module).register(cli)


def main() -> None:
    """Console-script entry point."""
    cli()


if __name__ == "__main__":
    main()
