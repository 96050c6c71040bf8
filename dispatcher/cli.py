"""The ``dispatcher`` command: list tasks, send them, read results, dead letters and queues.

APP is ``package.module:attr`` (or a module holding exactly one app), e.g. ``samples.shop``.
The operations work on every backend that offers them (the protocols of
:mod:`dispatcher.backend`); providers add their own commands (``worker`` for the local backend,
``emulate aws``...) through their plug-ins (:mod:`dispatcher.plugins`). This module imports no
provider.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from dispatcher.console import AppArg, BackendOpt, console, fail, load, plain
from dispatcher.errors import DispatcherError, ResultTimeout

if TYPE_CHECKING:
    from rich.status import Status

    from dispatcher.app import Dispatcher
    from dispatcher.backend import Backend
    from dispatcher.operations import DeadLetterEntry, DeadLetters
    from dispatcher.task import TaskHandle

cli = typer.Typer(
    name="dispatcher",
    help="faas-dispatcher: Python tasks on cloud-function queues (and a local one).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
dlq = typer.Typer(help="Inspect, replay and purge dead-lettered messages.", no_args_is_help=True)
emulate = typer.Typer(help="Run an app on a local emulation of a cloud.", no_args_is_help=True)
cli.add_typer(dlq, name="dlq")
cli.add_typer(emulate, name="emulate")

QueuesOpt = Annotated[
    list[str] | None,
    typer.Option("--queue", "-q", help="Only these task queues (repeatable)."),
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


def _backend(app: Dispatcher) -> Backend:
    try:
        return app.backend
    except DispatcherError as error:
        fail(str(error))


def _queues(app: Dispatcher, chosen: list[str] | None) -> list[str]:
    known = list(app.queues)
    for queue in chosen or []:
        if queue not in known:
            fail(f"app {app.name!r} has no queue {queue!r} (queues: {', '.join(known)})")
    return chosen or known


@cli.command()
def tasks(app: AppArg) -> None:
    """List the app's tasks with their effective settings."""
    loaded = load(app)
    table = Table(
        title=plain(f"{loaded.name}: {len(loaded.tasks)} tasks (backend {loaded.backend_spec})")
    )
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
            *(
                Text(cell)
                for cell in (
                    task.name,
                    o.queue + (" (ordered)" if o.ordered else ""),
                    f"{o.timeout:g}s",
                    f"{o.memory} MB",
                    o.retry.describe(),
                    ", ".join(item for item in other if item) or "-",
                )
            )
        )
    console.print(table)


def _source(source: Any) -> str:
    return source if isinstance(source, str) else getattr(source, "__name__", repr(source))


@cli.command()
def send(
    app: AppArg,
    task: Annotated[str, typer.Argument(help="Task name, as `dispatcher tasks` lists it.")],
    args: Annotated[
        list[str] | None,
        typer.Argument(
            help="Arguments in order, then NAME=VALUE ones. A str parameter takes the text "
            "as it is; any other takes JSON of its type."
        ),
    ] = None,
    countdown: Annotated[float | None, typer.Option(help="Run after this many seconds.")] = None,
    dedup_key: Annotated[
        str | None, typer.Option(help="Drop repeats of this key (within the backend's window).")
    ] = None,
    wait: Annotated[float | None, typer.Option(help="Wait this long for the result.")] = None,
    backend: BackendOpt = None,
) -> None:
    """Send one task."""
    from dispatcher import arguments

    loaded = load(app, backend)
    try:
        declared = loaded.get_task(task)
        call_args, call_kwargs = arguments.parse(declared, args or [])
        handle = declared.send(
            args=call_args, kwargs=call_kwargs, countdown=countdown, dedup_key=dedup_key
        )
    except DispatcherError as error:
        fail(str(error))
    first = handle.receipt.duplicate_of if handle.receipt else None
    if first is not None:
        key = plain(dedup_key or "declared")
        console.print(
            f"duplicate of [cyan]{plain(first)}[/] (dedup key {key}): not sent again",
        )
    else:
        console.print(f"sent [bold]{plain(task)}[/] as [cyan]{plain(handle.id)}[/]")
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
    _print_result(load(app, backend), task_id, wait)


def _print_result(app: Dispatcher, task_id: str, wait: float) -> None:
    import time

    from dispatcher.operations import MessageLookup

    handle = app.handle(task_id)
    backend = _backend(app)
    if isinstance(backend, MessageLookup) and backend.knows(task_id) is False:
        fail(f"no message with id {task_id!r} on {app.backend_spec}", code=2)
    deadline = time.monotonic() + wait
    spinner = console.status(f"waiting for {plain(task_id)}") if wait > 0 else None
    if spinner is not None and console.is_terminal:
        spinner.start()
    try:
        value = _wait(handle, task_id, deadline, spinner)
    finally:
        if spinner is not None:
            spinner.stop()
    shown = json.dumps(value, default=str)
    console.print(f"[green]{plain(task_id)}[/] succeeded: {plain(shown)}")


def _wait(handle: TaskHandle[Any], task_id: str, deadline: float, spinner: Status | None) -> Any:
    import time

    while True:
        try:
            return handle.result(timeout=min(0.5, max(0.0, deadline - time.monotonic())))
        except ResultTimeout:
            left = deadline - time.monotonic()
            if left <= 0:
                record = handle.status()
                state = record.status.value if record else "pending"
                console.print(f"[yellow]{plain(task_id)}[/] is still {state}")
                raise typer.Exit(code=1) from None
            if spinner is not None:
                spinner.update(f"waiting for {plain(task_id)}: {left:.0f}s left")
        except DispatcherError as error:
            record = handle.status()
            state = record.status.value if record else "failed"
            console.print(f"[red]{plain(task_id)}[/] {state}: {plain(error)}")
            raise typer.Exit(code=1) from None


@cli.command()
def queues(app: AppArg, queue: QueuesOpt = None, backend: BackendOpt = None) -> None:
    """Per queue: messages ready, in flight, delayed, and dead letters."""
    from dispatcher.operations import QueueStats

    loaded = load(app, backend)
    found = _backend(loaded)
    if not isinstance(found, QueueStats):
        fail(f"the {loaded.backend_spec!r} backend cannot count its queues")
    try:
        stats = found.queue_stats(_queues(loaded, queue))
    except DispatcherError as error:
        fail(str(error))
    table = Table(title=plain(f"{loaded.name} on {loaded.backend_spec}"))
    for column in ("queue", "ready", "in flight", "delayed", "dead letters"):
        table.add_column(column, justify="left" if column == "queue" else "right")
    for stat in stats:
        counts = (stat.depth, stat.in_flight, stat.delayed, stat.dead_letters)
        table.add_row(Text(stat.queue), *("?" if n is None else str(n) for n in counts))
    console.print(table)


@cli.command()
def revoke(
    app: AppArg,
    task_id: Annotated[str, typer.Argument(help="The id of the invocation to cancel.")],
    backend: BackendOpt = None,
) -> None:
    """Cancel one invocation: it will not run (a running one is not interrupted)."""
    from dispatcher.operations import QueueControl

    loaded = load(app, backend)
    found = _backend(loaded)
    if not isinstance(found, QueueControl):
        fail(f"the {loaded.backend_spec!r} backend cannot revoke messages")
    record = loaded.handle(task_id).status()
    if record is not None and record.status.final:
        fail(f"{task_id} already finished ({record.status.value}); nothing to revoke")
    try:
        found.revoke(task_id, record.task if record else "?")
    except DispatcherError as error:
        fail(str(error))
    console.print(f"revoked {plain(task_id)}")


@cli.command()
def purge(
    app: AppArg,
    queue: Annotated[str, typer.Argument(help="The task queue to empty.")],
    yes: YesOpt = False,
    backend: BackendOpt = None,
) -> None:
    """Delete every message waiting on a queue."""
    from dispatcher.operations import QueueControl

    loaded = load(app, backend)
    [name] = _queues(loaded, [queue])
    found = _backend(loaded)
    if not isinstance(found, QueueControl):
        fail(f"the {loaded.backend_spec!r} backend cannot purge queues")
    if not yes:
        typer.confirm(f"Delete every message waiting on {name!r}?", abort=True)
    try:
        removed = found.purge(name)
    except DispatcherError as error:
        fail(str(error))
    count = "" if removed is None else f" ({removed} message(s))"
    console.print(f"purged {plain(name)}{count}")


# --- dead letters ----------------------------------------------------------------------------


def _dead_letters(app: Dispatcher) -> DeadLetters:
    from dispatcher.operations import DeadLetters

    found = getattr(_backend(app), "dead_letters", None)
    if not isinstance(found, DeadLetters):
        fail(f"the {app.backend_spec!r} backend keeps no dead letters")
    return found


def _when(letter: DeadLetterEntry) -> str:
    return letter.died_at.strftime("%Y-%m-%d %H:%M:%S") if letter.died_at else "?"


@dlq.command("list")
def dlq_list(app: AppArg, queue: QueuesOpt = None, backend: BackendOpt = None) -> None:
    """List dead-lettered messages with their reasons."""
    loaded = load(app, backend)
    try:
        letters = _dead_letters(loaded).entries(_queues(loaded, queue))
    except DispatcherError as error:
        fail(str(error))
    table = Table(title=f"{len(letters)} dead-lettered")
    width = max((len(letter.id) for letter in letters), default=2)
    table.add_column("id", no_wrap=True, min_width=width)
    for column in ("task", "queue", "attempt", "died at (UTC)", "reason"):
        table.add_column(column)
    for letter in letters:
        table.add_row(
            *(
                Text(cell)
                for cell in (
                    letter.id,
                    letter.task or "?",
                    letter.queue,
                    "?" if letter.attempt is None else str(letter.attempt),
                    _when(letter),
                    letter.reason,
                )
            )
        )
    console.print(table)


@dlq.command("show")
def dlq_show(
    app: AppArg,
    message_id: Annotated[str, typer.Argument(help="The id `dlq list` shows.")],
    backend: BackendOpt = None,
) -> None:
    """Show one dead letter: why it died, and the message itself."""
    from dispatcher.dead_letters import envelope_of

    try:
        letter = _dead_letters(load(app, backend)).show(message_id)
    except DispatcherError as error:
        fail(str(error))
    fields = {
        "id": letter.id,
        "task": letter.task or "?",
        "queue": letter.queue,
        "attempt": "?" if letter.attempt is None else str(letter.attempt),
        "died at": _when(letter) + " UTC",
        "cause": letter.cause.value if letter.cause else "?",
        "reason": letter.reason,
    }
    for name, value in fields.items():
        console.print(Text.assemble((f"{name + ':':<9}", "bold"), value))
    envelope = envelope_of(letter.body)
    if envelope is None:
        console.print(Text.assemble(("body:    ", "bold"), repr(letter.body)))
    else:
        console.print(Text("envelope:", style="bold"))
        console.print(Text(json.dumps(json.loads(envelope.encode()), indent=2)))


def _ids(ids: list[str] | None, everything: bool, what: str) -> Sequence[str] | None:
    if ids and everything:
        fail(f"give ids or --all to {what}, not both")
    if not ids and not everything:
        fail(f"give the ids to {what} (as `dlq list` shows them), or --all")
    return ids or None


IdsArg = Annotated[list[str] | None, typer.Argument(help="Message ids, as `dlq list` shows.")]
AllOpt = Annotated[bool, typer.Option("--all", help="Every dead letter.")]


@dlq.command("replay")
def dlq_replay(
    app: AppArg, ids: IdsArg = None, everything: AllOpt = False, backend: BackendOpt = None
) -> None:
    """Put dead letters back on their queues, from attempt 1; each leaves the dead letters
    only once it is back on its queue."""
    chosen = _ids(ids, everything, "replay")
    try:
        replayed = _dead_letters(load(app, backend)).replay(chosen)
    except DispatcherError as error:
        fail(str(error))
    for letter in replayed:
        console.print(Text(f"replayed {letter.id} ({letter.task or '?'}) to {letter.queue}"))
    console.print(f"replayed {len(replayed)} message(s)")


@dlq.command("purge")
def dlq_purge(
    app: AppArg,
    ids: IdsArg = None,
    everything: AllOpt = False,
    yes: YesOpt = False,
    backend: BackendOpt = None,
) -> None:
    """Delete dead letters for good."""
    chosen = _ids(ids, everything, "purge")
    letters = _dead_letters(load(app, backend))
    if not yes:
        what = "every dead letter" if chosen is None else f"{len(chosen)} dead letter(s)"
        typer.confirm(f"Delete {what} for good?", abort=True)
    try:
        removed = letters.purge(chosen)
    except DispatcherError as error:
        fail(str(error))
    console.print(f"purged {removed} dead letter(s)")


# --- commands of the deploy package and of the provider plug-ins ------------------------------


def _register_commands() -> None:
    from dispatcher import plugins
    from dispatcher.deploy import cli as deploy_cli

    deploy_cli.register(cli)
    groups = {"emulate": emulate}
    for plugin in plugins.plugins().values():
        for target in plugin.commands:
            plugins.load(target, plugin)(cli, groups)


_register_commands()


def main() -> None:
    """Console-script entry point."""
    cli()


if __name__ == "__main__":
    main()
