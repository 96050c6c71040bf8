"""The embedded local backend: SQLite (WAL) queue, dead letters and results; no cloud needed.

Spec: ``local`` (the file ``.dispatcher/<app>.sqlite3`` under the current directory) or
``local:PATH``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from adapters.local.store import DeadLetterRecord, LocalBackend, LocalResults
from adapters.local.worker import Worker, WorkerStats, run_pool

if TYPE_CHECKING:
    from dispatcher.app import Dispatcher

DEFAULT_DIRECTORY = ".dispatcher"


def from_spec(spec: str, app: Dispatcher) -> LocalBackend:
    """``local`` or ``local:PATH`` (``local:///abs/path`` works too)."""
    path = spec.partition(":")[2].removeprefix("//")
    return LocalBackend(
        Path(path) if path else Path(DEFAULT_DIRECTORY) / f"{app.name}.sqlite3", app
    )


__all__ = [
    "DeadLetterRecord",
    "LocalBackend",
    "LocalResults",
    "Worker",
    "WorkerStats",
    "from_spec",
    "run_pool",
]
