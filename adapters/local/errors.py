"""SQLite's errors, as the local backend reports them: one clear sentence each, a typed error.

Only the environment's failures are translated (a full disk, a file that cannot be opened, a
lock held too long, a damaged file); they say what to do. A statement's own error (a constraint,
a value SQLite cannot store) is a bug or a poison record and keeps its own type.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dispatcher.errors import BackendUnavailable

#: SQLite's primary result codes that come from the machine, not from the statement
#: (https://www.sqlite.org/rescode.html), and what they mean for the user.
_ENVIRONMENT = {
    "SQLITE_FULL": "the disk holding it is full",
    "SQLITE_CANTOPEN": "the file cannot be opened (does its directory exist, is it writable?)",
    "SQLITE_BUSY": "another process held it locked for too long",
    "SQLITE_LOCKED": "another connection held it locked for too long",
    "SQLITE_IOERR": "the operating system reported an I/O error",
    "SQLITE_READONLY": "it is read-only",
    "SQLITE_CORRUPT": "the file is damaged",
    "SQLITE_NOTADB": "it is not an SQLite database",
    "SQLITE_PERM": "permission denied",
}


class LocalQueueUnavailable(BackendUnavailable):
    """The local queue's file could not be used; the message says why, and for a write that
    nothing of it was stored."""

    def __init__(self, path: Path, action: str, problem: str, detail: str, write: bool) -> None:
        self.path, self.action, self.problem = path, action, problem
        outcome = "; nothing of it was stored" if write else ""
        super().__init__(
            f"cannot {action} the local queue {path}: {problem}{outcome} (SQLite: {detail})"
        )


class LocalDiskFull(LocalQueueUnavailable):
    """The disk holding the local queue is full: nothing of the failed write was stored, and
    everything accepted before is intact. Free some space and try again."""


def problem(error: sqlite3.Error) -> str | None:
    """What ``error`` says about the machine, or ``None`` when it is the statement's own."""
    name = getattr(error, "sqlite_errorname", None) or ""
    primary = name.split("_", 2)
    key = "_".join(primary[:2]) if len(primary) > 1 else name
    if key in _ENVIRONMENT:
        return _ENVIRONMENT[key]
    if isinstance(error, sqlite3.OperationalError) and "disk is full" in str(error):
        return _ENVIRONMENT["SQLITE_FULL"]  # an SQLite too old to name its codes
    return None


def explain(error: BaseException, path: Path) -> str:
    """One sentence about ``error`` met while using the queue at ``path``."""
    if isinstance(error, LocalQueueUnavailable):
        return str(error)
    found = problem(error) if isinstance(error, sqlite3.Error) else None
    if found is None:
        return f"{type(error).__name__}: {error}"
    return f"the local queue {path}: {found} (SQLite: {error})"


def environmental(error: BaseException) -> bool:
    """Whether ``error`` comes from the machine (retry later) rather than from one message."""
    if isinstance(error, LocalQueueUnavailable):
        return True
    return isinstance(error, sqlite3.Error) and problem(error) is not None


@contextmanager
def translated(path: Path, action: str, *, write: bool = False) -> Iterator[None]:
    """Turn the environment's SQLite errors into :class:`LocalQueueUnavailable` (a full disk
    into :class:`LocalDiskFull`); ``action`` says what was being done ("send to", "open"),
    ``write`` that it was a write transaction (rolled back whole when it failed)."""
    try:
        yield
    except sqlite3.Error as error:
        found = problem(error)
        if found is None:
            raise
        kind = LocalDiskFull if found == _ENVIRONMENT["SQLITE_FULL"] else LocalQueueUnavailable
        raise kind(path, action, found, str(error), write) from error


__all__ = [
    "LocalDiskFull",
    "LocalQueueUnavailable",
    "environmental",
    "explain",
    "problem",
    "translated",
]
