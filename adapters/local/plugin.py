"""The local backend's plug-in (:mod:`dispatcher.plugins`), in its own module: discovering
plug-ins imports this, while a function's cold start (which imports the package for its
entrypoint) does not pay for :mod:`dispatcher.plugins`."""

from __future__ import annotations

from dispatcher.plugins import Plugin

PLUGIN = Plugin(
    name="local",
    description="the embedded SQLite queue: no cloud needed",
    schemes=("local",),
    backend="adapters.local:from_spec",
    commands=("adapters.local.cli:register",),
)

__all__ = ["PLUGIN"]
