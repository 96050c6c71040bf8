"""``dispatcher emulate toy``."""

from __future__ import annotations

from collections.abc import Mapping

import typer


def register(cli: typer.Typer, groups: Mapping[str, typer.Typer]) -> None:
    """Add ``emulate toy``."""
    groups["emulate"].command("toy")(emulate_toy)


def emulate_toy(app: str) -> None:
    """Pretend to emulate the toy cloud for APP."""
    typer.echo(f"toy cloud running {app}")
