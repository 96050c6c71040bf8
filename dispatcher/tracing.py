"""W3C Trace Context: make and continue ``traceparent`` values (version 00)."""

from __future__ import annotations

import os


def new_span(parent: str | None = None) -> str:
    """A ``traceparent`` for a new span: a child of ``parent`` when given, else a new trace."""
    span = os.urandom(8).hex()
    if parent:
        version, trace, _, flags = parent.split("-")
        return f"{version}-{trace}-{span}-{flags}"
    return f"00-{os.urandom(16).hex()}-{span}-01"


def trace_id(traceparent: str) -> str:
    """The trace id part of a ``traceparent``."""
    return traceparent.split("-")[1]
