"""``dispatcher infra`` and ``dispatcher package``: infrastructure and the function's zip."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from dispatcher.deploy.errors import UndeployableApp, UnknownFormat
from dispatcher.deploy.graph import DeploySettings, QueueSettings
from dispatcher.loading import AppNotFound, app_reference, load_app

console = Console()
errors = Console(stderr=True)

AppArg = Annotated[str, typer.Argument(help="The app: package.module[:attr], e.g. samples.shop")]


def register(cli: typer.Typer) -> None:
    """Add the commands to the ``dispatcher`` CLI."""
    cli.command("infra")(infra)
    cli.command("package")(package)


def _fail(message: str) -> typer.Exit:
    errors.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code=2)


def _pairs(option: str, items: list[str] | None) -> dict[str, int]:
    pairs: dict[str, int] = {}
    for item in items or []:
        queue, sep, number = item.partition("=")
        if not sep or not number.strip().isdigit():
            _fail(f"{option} {item!r}: use QUEUE=NUMBER")
        pairs[queue.strip()] = int(number)
    return pairs


def infra(
    app: AppArg,
    format: Annotated[
        str,
        typer.Option("--format", "-f", help="terraform, cloudformation, sam or serverless."),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write into.")] = Path("."),
    provider: Annotated[str, typer.Option(help="The cloud.")] = "aws",
    batch_size: Annotated[
        list[str] | None,
        typer.Option(help="Messages per function call for a queue, QUEUE=N (repeatable)."),
    ] = None,
    batching_window: Annotated[
        list[str] | None,
        typer.Option(help="Seconds to gather a batch for a queue, QUEUE=S (repeatable)."),
    ] = None,
) -> None:
    """Write deployable infrastructure for every task of the app.

    Nothing is written when a declaration cannot be deployed: each problem gets its own line.
    """
    from dispatcher.deploy.output import generate, write_files

    sizes = _pairs("--batch-size", batch_size)
    windows = _pairs("--batching-window", batching_window)
    settings = DeploySettings(
        queues={
            queue: QueueSettings(
                batch_size=sizes.get(queue), batching_window_seconds=windows.get(queue)
            )
            for queue in {*sizes, *windows}
        }
    )
    try:
        files = generate(app, format, provider, settings)
    except AppNotFound as error:
        _fail(str(error))
    except UnknownFormat as error:
        _fail(str(error))
    except UndeployableApp as error:
        for problem in error.problems:
            errors.print(f"[red]✗[/] {problem}", highlight=False)
        _fail(
            f"app {error.app!r} cannot be deployed ({len(error.problems)} problem(s)); "
            "nothing was written"
        )
    for path in write_files(files, out):
        console.print(f"wrote {path}", highlight=False)


def package(
    app: AppArg,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="The zip (default build/APP-lambda.zip).")
    ] = None,
    provider: Annotated[str, typer.Option(help="The cloud whose adapter is packaged.")] = "aws",
) -> None:
    """Build the function's deployment zip and print its size.

    It holds the app, the runtime and its dependencies, without what the platform provides
    (boto3 on Lambda).
    """
    from dispatcher.deploy.package import build_package

    try:
        loaded = load_app(app)
    except AppNotFound as error:
        _fail(str(error))
    target = out or Path("build") / f"{loaded.name}-lambda.zip"
    built = build_package(app_reference(loaded, app), target, provider)
    for warning in built.warnings:
        errors.print(f"[yellow]warning:[/] {warning}", highlight=False)
    console.print(
        f"wrote {built.path}: {built.size / 1_048_576:.2f} MiB ({built.size} bytes), "
        f"{built.files} files",
        highlight=False,
    )
