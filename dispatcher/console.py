"""What every ``dispatcher`` command shares: the consoles, the APP and --backend arguments,
loading an app, and failing with one line.

Text that comes from a user, a task or a message is never read as rich markup: it is printed
through :func:`plain` (or as a :class:`rich.text.Text`), so square brackets survive.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

if TYPE_CHECKING:
    from dispatcher.app import Dispatcher

console = Console(highlight=False, soft_wrap=True)
errors = Console(stderr=True, highlight=False, soft_wrap=True)

AppArg = Annotated[str, typer.Argument(help="The app: package.module[:attr], e.g. samples.shop")]
BackendOpt = Annotated[
    str | None,
    typer.Option("--backend", "-b", help="Backend spec; overrides $DISPATCHER_BACKEND."),
]


def plain(text: object) -> str:
    """``text`` escaped for a rich markup string."""
    return escape(str(text))


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: message`` (taken literally) on stderr and exit with ``code``."""
    errors.print(Text.assemble(("error: ", "bold red"), message), soft_wrap=True)
    raise typer.Exit(code=code)


def load(reference: str, backend: str | None = None) -> Dispatcher:
    """The app at ``reference``, on ``backend`` when given; one line and exit 2 if not found."""
    from dispatcher.loading import AppNotFound, InvalidApp, load_app

    try:
        app = load_app(reference, collect=True)
    except InvalidApp as error:
        for problem in error.problems:
            errors.print(Text.assemble(("✗ ", "red"), problem), soft_wrap=True)
        fail(f"module {error.module!r} declares {len(error.problems)} invalid task option(s)")
    except AppNotFound as error:
        fail(str(error))
    if backend:
        app.use(backend)
    return app


__all__ = ["AppArg", "BackendOpt", "console", "errors", "fail", "load", "plain"]
