"""The plain function the cold-start baselines call (no dispatcher import)."""

from __future__ import annotations


def add(a: int, b: int) -> int:
    """The trivial task, undecorated."""
    return a + b
