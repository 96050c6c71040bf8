"""An app on a fresh local queue file, for each test."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.local.store import LocalBackend
from dispatcher import Dispatcher


@pytest.fixture
def app(tmp_path: Path) -> Dispatcher:
    """A `shop` app whose backend is a new SQLite file in the test's directory."""
    app = Dispatcher("shop")
    app.use(LocalBackend(tmp_path / "queue.sqlite3", app))
    return app


def local(app: Dispatcher) -> LocalBackend:
    """The app's local backend, typed."""
    backend = app.backend
    assert isinstance(backend, LocalBackend)
    return backend
