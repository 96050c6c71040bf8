"""A fresh app on the in-memory backend, for each test."""

from __future__ import annotations

import pytest

from dispatcher import Dispatcher


@pytest.fixture
def app() -> Dispatcher:
    """A `shop` app whose messages stay in memory until `app.backend.drain()`."""
    return Dispatcher("shop", backend="memory")
