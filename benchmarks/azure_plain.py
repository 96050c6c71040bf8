"""The plain functions the Azure baselines call (no dispatcher import)."""

from __future__ import annotations

import time


def add(a: int, b: int) -> int:
    """The trivial task, undecorated."""
    return a + b


def busy_ms(n: int) -> int:
    """Spin for 1 ms."""
    end = time.perf_counter() + 0.001
    while time.perf_counter() < end:
        pass
    return n
