"""``dispatcher infra`` and ``dispatcher package``: infrastructure and the function's zip.

The providers, their formats and their packagers come from the provider plug-ins; their names
appear in the help and in the errors. Only typer and rich are imported at the top: the rest
loads when a command runs. (No ``from __future__ import annotations``: typer reads the options'
help, built from the plug-ins when the commands are registered, from live annotations.)
"""

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console

if TYPE_CHECKING:
    from dispatcher.deploy.package import PackageBuilder

console = Console()
errors = Console(stderr=True)

AppArg = Annotated[str, typer.Argument(help="The app: package.module[:attr], e.g. samples.shop")]
RuntimeOption = Annotated[
    str | None,
    typer.Option(help="The functions' runtime, e.g. python3.13 (default: the newest offered)."),
]
ArchitectureOption = Annotated[
    str | None,
    typer.Option(help="The functions' architecture, e.g. arm64 (default: x86_64 on AWS)."),
]


def register(cli: typer.Typer, groups: Mapping[str, typer.Typer] | None = None) -> None:
    """Add the commands to the ``dispatcher`` CLI, their help naming the plug-ins' formats."""
    from dispatcher.plugins import plugins

    found = plugins()
    formats = {name: sorted(p.formats) for name, p in found.items() if p.formats}
    packaged = [name for name, p in found.items() if p.packager]
    cli.command("infra")(_infra_command(formats))
    cli.command("package")(_package_command(packaged))


def _fail(message: str) -> NoReturn:
    from rich.text import Text

    errors.print(Text.assemble(("error: ", "bold red"), message), soft_wrap=True)
    raise typer.Exit(code=2)


def _pairs(option: str, items: list[str] | None) -> dict[str, int]:
    pairs: dict[str, int] = {}
    for item in items or []:
        queue, sep, number = item.partition("=")
        if not sep or not number.strip().isdigit():
            _fail(f"{option} {item!r}: use QUEUE=NUMBER")
        pairs[queue.strip()] = int(number)
    return pairs


def _known(names: list[str]) -> str:
    return ", ".join(names) or "none installed"


def _infra_command(formats: dict[str, list[str]]) -> Callable[..., None]:
    by_provider = "; ".join(f"{p}: {', '.join(f)}" for p, f in formats.items()) or "none"

    def infra(
        app: AppArg,
        format: Annotated[str, typer.Option("--format", "-f", help=f"The format ({by_provider}).")],
        out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write into.")] = Path("."),
        provider: Annotated[
            str, typer.Option(help=f"The cloud ({_known(list(formats))}).")
        ] = "aws",
        batch_size: Annotated[
            list[str] | None,
            typer.Option(help="Messages per function call for a queue, QUEUE=N (repeatable)."),
        ] = None,
        batching_window: Annotated[
            list[str] | None,
            typer.Option(help="Seconds to gather a batch for a queue, QUEUE=S (repeatable)."),
        ] = None,
        runtime: RuntimeOption = None,
        architecture: ArchitectureOption = None,
        snapstart: Annotated[
            bool,
            typer.Option(
                "--snapstart",
                help="Start functions from a snapshot (AWS Lambda SnapStart, python3.12+).",
            ),
        ] = False,
    ) -> None:
        """Write deployable infrastructure for every task of the app.

        Nothing is written when a declaration cannot be deployed: each problem gets its own
        line. What a provider leaves out or does not honour is printed as a warning.
        """
        from dispatcher.deploy.errors import UndeployableApp, UnknownFormat, UnsupportedResource
        from dispatcher.deploy.output import generate_with_warnings, write_files
        from dispatcher.deploy.policy import DeploySettings
        from dispatcher.loading import AppNotFound

        given = {
            "batch_size": _pairs("--batch-size", batch_size),
            "batching_window_seconds": _pairs("--batching-window", batching_window),
        }
        queues: dict[str, dict[str, int]] = {}
        for setting, values in given.items():
            for queue, number in values.items():
                queues.setdefault(queue, {})[setting] = number
        settings = DeploySettings(
            queues=queues, runtime=runtime, architecture=architecture, snapstart=snapstart
        )
        try:
            generated = generate_with_warnings(app, format, provider, settings, out=out)
        except (AppNotFound, UnknownFormat, UnsupportedResource) as error:
            _fail(str(error))
        except UndeployableApp as error:
            from rich.text import Text

            for problem in error.problems:
                errors.print(Text.assemble(("✗ ", "red"), problem), soft_wrap=True)
            _fail(
                f"app {error.app!r} cannot be deployed ({len(error.problems)} problem(s)); "
                "nothing was written"
            )
        for warning in generated.warnings:
            errors.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
        for path in write_files(generated.files, out):
            console.print(f"wrote {path}", highlight=False)

    return infra


def _package_command(providers: list[str]) -> Callable[..., None]:
    def package(
        app: AppArg,
        out: Annotated[
            Path | None,
            typer.Option(
                "--out",
                "-o",
                help="The zip, or the container's build folder (default: under build/).",
            ),
        ] = None,
        provider: Annotated[
            str, typer.Option(help=f"The cloud whose runtime is packaged ({_known(providers)}).")
        ] = "aws",
        runtime: RuntimeOption = None,
        architecture: ArchitectureOption = None,
    ) -> None:
        """Build what the provider deploys and print its size.

        A function's zip (AWS Lambda: the app, the runtime and its dependencies installed for
        the functions' platform, without what the platform provides; Azure Functions: the same
        as a Functions project, with function_app.py and host.json), or a container's build
        context (Cloud Run: the app, the runtime, pinned requirements and a Dockerfile).
        """
        from dispatcher.deploy.package import PackagingError
        from dispatcher.loading import AppNotFound, app_reference, load_app

        packager = _packager(provider, providers)
        try:
            platform = packager.target(runtime, architecture)
            loaded = load_app(app)
        except (AppNotFound, PackagingError) as error:
            _fail(str(error))
        target = out or packager.default_output(loaded.name)
        try:
            built = packager.build(app_reference(loaded, app), target, platform)
        except PackagingError as error:
            _fail(str(error))
        for warning in built.warnings:
            errors.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
        console.print(
            f"wrote {built.path}: {built.size / 1_048_576:.2f} MiB ({built.size} bytes), "
            f"{built.files} files, for {platform.runtime} on {platform.architecture}",
            highlight=False,
        )

    return package


def _packager(provider: str, providers: list[str]) -> "PackageBuilder":
    from dispatcher.deploy.package import PackageBuilder
    from dispatcher.plugins import plugins

    plugin = plugins().get(provider)
    if plugin is None or plugin.packager is None:
        _fail(f"no provider {provider!r} packages functions (known: {_known(providers)})")
    packager = plugin.package_builder()
    if not isinstance(packager, PackageBuilder):
        _fail(f"{plugin.packager} is not a dispatcher.deploy.package.PackageBuilder")
    return packager
