"""Find an app from a reference: ``package.module:attr``, or ``package.module`` alone."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from dispatcher.app import Dispatcher


class AppNotFound(LookupError):
    """The reference does not lead to a :class:`Dispatcher`."""


def load_app(reference: str) -> Dispatcher:
    """Import ``module[:attr]`` (the current directory is on the path) and return its app.
    Without ``attr``, the module must hold exactly one :class:`Dispatcher`."""
    module_name, _, attribute = reference.partition(":")
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and module_name.startswith(error.name):
            raise AppNotFound(f"cannot import {module_name!r}: {error}") from None
        raise
    if attribute:
        app = getattr(module, attribute, None)
        if not isinstance(app, Dispatcher):
            raise AppNotFound(f"{reference!r} is not a Dispatcher (got {type(app).__name__})")
        return app
    found = {id(v): v for v in vars(module).values() if isinstance(v, Dispatcher)}
    if len(found) != 1:
        raise AppNotFound(
            f"module {module_name!r} holds {len(found)} Dispatcher apps; name one as "
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
