"""The embedded local backend: SQLite (WAL) queue, dead letters and results; no cloud needed.

Spec: ``local`` (the file ``.dispatcher/<app>.sqlite3`` under the current directory) or
``local:PATH``. Its plug-in object is in ``plugin.py``; the backend loads when it is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from adapters.local.store import LocalBackend
    from dispatcher.app import Dispatcher

DEFAULT_DIRECTORY = ".dispatcher"


def from_spec(spec: str, app: Dispatcher) -> LocalBackend:
    """``local`` or ``local:PATH`` (``local:///abs/path`` works too)."""
    from pathlib import Path

    from adapters.local.store import LocalBackend

    path = spec.partition(":")[2].removeprefix("//")
    return LocalBackend(
        Path(path) if path else Path(DEFAULT_DIRECTORY) / f"{app.name}.sqlite3", app
    )


__all__ = ["from_spec"]
