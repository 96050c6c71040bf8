"""Find an app from a reference: ``package.module:attr``, or ``package.module`` alone."""

from __future__ import annotations

import importlib
import os
import sys

from dispatcher import declaring
from dispatcher.app import Dispatcher


class AppNotFound(LookupError):
    """The reference does not lead to a :class:`Dispatcher`."""


class InvalidApp(AppNotFound):
    """The app's module declares tasks with bad options; ``problems`` has one line each."""

    def __init__(self, module: str, problems: list[str]) -> None:
        self.module, self.problems = module, problems
        super().__init__(
            f"module {module!r} declares {len(problems)} invalid task option(s):\n"
            + "\n".join(problems)
        )


def load_app(reference: str, *, collect: bool = False) -> Dispatcher:
    """Import ``module[:attr]`` (the current directory is on the path) and return its app.
    Without ``attr``, the module must hold exactly one :class:`Dispatcher`. With ``collect``,
    every bad task option of the module is reported at once (:class:`InvalidApp`) instead of
    the first one raising."""
    module_name, _, attribute = reference.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        if collect and module_name not in sys.modules:
            with declaring.collecting() as collector:
                module = importlib.import_module(module_name)
            if collector.problems:
                sys.modules.pop(module_name, None)  # half-declared: never reuse it
                raise InvalidApp(module_name, collector.problems)
        else:
            module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and module_name.startswith(error.name):
            raise AppNotFound(f"cannot import {module_name!r}: {error}") from None
        raise
    apps = {name: v for name, v in vars(module).items() if isinstance(v, Dispatcher)}
    held = ", ".join(f"{module_name}:{name}" for name in apps) or "none"
    if attribute:
        if not hasattr(module, attribute):
            raise AppNotFound(
                f"module {module_name!r} has no attribute {attribute!r} (apps it holds: {held})"
            )
        app = getattr(module, attribute)
        if not isinstance(app, Dispatcher):
            raise AppNotFound(
                f"{reference!r} is a {type(app).__name__}, not a Dispatcher (apps it holds: {held})"
            )
        return app
    found = {id(v): v for v in apps.values()}
    if len(found) != 1:
        raise AppNotFound(
            f"module {module_name!r} holds {len(found)} Dispatcher apps ({held}); name one as "
            f"{module_name}:ATTRIBUTE"
        )
    return next(iter(found.values()))


def app_reference(app: Dispatcher, fallback: str) -> str:
    """``module:attr`` for ``app`` if it can be found by name in ``fallback``'s module."""
    module_name = fallback.partition(":")[0]
    module = sys.modules.get(module_name)
    for name, value in vars(module).items() if module else ():
        if value is app:
            return f"{module_name}:{name}"
    return fallback
