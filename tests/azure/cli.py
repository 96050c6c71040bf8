"""A small ``dispatcher``-like command with the Azure plug-in's commands registered the way
the plug-in shape says (``register(cli, groups)``), for tests run in a subprocess."""

from __future__ import annotations

import typer

from adapters.azure.emulate import register

cli = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
emulate = typer.Typer(help="Run an app on a local emulation of a cloud.", no_args_is_help=True)
cli.add_typer(emulate, name="emulate")
register(cli, {"emulate": emulate})

if __name__ == "__main__":
    cli()
