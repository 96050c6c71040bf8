"""Collecting every bad declaration of a module at once, for the CLI.

Normally a bad option raises at import, at the first bad decorator. When the CLI loads an app
it imports the module inside :func:`collecting`: bad options (a bad ``Retry`` included) are
recorded with their task's name instead, the module finishes importing, and the CLI reports
them all, one line each.
"""

from __future__ import annotations

from contextvars import ContextVar

from dispatcher.errors import InvalidField


class Collector:
    """Problems found while a module was imported (a plain class: this module is on every
    cold start, and a dataclass costs its creation there)."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        #: Retry policies that failed their checks, by ``id()``, until a task claims them.
        self.retries: dict[int, InvalidField] = {}


_collector: ContextVar[Collector | None] = ContextVar("dispatcher_declaring", default=None)


def current() -> Collector | None:
    """The active collector, if the CLI is loading an app."""
    return _collector.get()


class collecting:
    """Record bad declarations instead of raising, inside the block. (A class, not
    ``contextlib.contextmanager``: this module is on every cold start, contextlib is not.)"""

    def __enter__(self) -> Collector:
        collector = Collector()
        self._token = _collector.set(collector)
        return collector

    def __exit__(self, *exc: object) -> None:
        _collector.reset(self._token)
