"""What ``dispatcher worker`` prints: the same lines at every concurrency.

Three forms: ``text`` (a banner, one line per message run: outcome, task, id, time and, for a
retry or a dead letter, the reason; then a summary), ``quiet`` (the same without the line per
message) and ``json`` (one JSON object per line, for log shippers). Text from tasks and messages
is printed literally (never read as rich markup).
"""

from __future__ import annotations

import json
import signal
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from rich.console import Console
from rich.text import Text

from adapters.local.events import Event, Ran, Trouble, WorkerExit, WorkerStats

Mode = Literal["text", "quiet", "json"]

_COLOURS = {"ack": "green", "retry": "yellow", "dead_letter": "red"}
_WIDTH = 11  # len("dead_letter"): the outcome column


class Reporter:
    """Prints a worker's (or a pool's) events as they come, and counts them."""

    def __init__(self, mode: Mode = "text", console: Console | None = None) -> None:
        self.mode = mode
        self.console = console or Console(highlight=False)
        self.stats = WorkerStats()
        self._started = time.monotonic()

    # --- the stream ----------------------------------------------------------------------

    def started(self, app: str, path: object, queues: Sequence[str], concurrency: int) -> None:
        """The banner."""
        self._started = time.monotonic()
        if self.mode == "json":
            self._json(
                event="started",
                app=app,
                path=str(path),
                queues=list(queues),
                concurrency=concurrency,
            )
            return
        self.console.print(
            Text(
                f"worker for {app} on {path}: queues {', '.join(queues)}, concurrency {concurrency}"
            ),
            soft_wrap=True,
        )

    def events(self, events: list[Event]) -> None:
        """Count and print a batch of events."""
        for event in events:
            self.stats.count(event)
            if isinstance(event, Ran):
                if self.mode == "text":
                    self.console.print(ran_line(event), soft_wrap=True)
                elif self.mode == "json":
                    self._json(event="ran", **_fields(event))
            elif self.mode == "json":
                name = "trouble" if isinstance(event, Trouble) else "worker_exit"
                self._json(event=name, **_fields(event))
            else:
                self.console.print(_note_line(event), soft_wrap=True)

    def note(self, message: str) -> None:
        """A line about the worker itself (stopping, stopped)."""
        if self.mode == "json":
            self._json(event="note", message=message)
        else:
            self.console.print(Text(message), soft_wrap=True)

    def done(self, left: int = 0, next_due: float | None = None, capped: bool = False) -> None:
        """The summary: messages run by outcome, time, troubles, and what a burst left
        (``capped``: at least ``left``)."""
        seconds = time.monotonic() - self._started
        stats = self.stats
        if self.mode == "json":
            due = None if next_due is None else datetime.fromtimestamp(next_due, UTC).isoformat()
            self._json(
                event="done",
                messages=stats.total,
                outcomes=dict(sorted(stats.outcomes.items())),
                seconds=round(seconds, 3),
                troubles=stats.troubles,
                left=left,
                left_at_least=capped,
                next_due=due,
            )
            return
        line = summary(stats, seconds, left, next_due, capped)
        self.console.print(Text(line), soft_wrap=True)

    def _json(self, **fields: Any) -> None:
        sys.stdout.write(json.dumps(fields, ensure_ascii=True) + "\n")
        sys.stdout.flush()


def ran_line(event: Ran) -> Text:
    """``        ack shop.charge 3f0c… 1.2 ms`` (a reason after a colon for the others)."""
    line = Text.assemble(
        (f"{event.outcome:>{_WIDTH}}", _COLOURS.get(event.outcome, "")),
        f" {event.task} {event.id} {event.seconds * 1000:.1f} ms",
    )
    if event.reason:
        line.append(f": {event.reason}")
    if event.delay is not None:
        line.append(f" (again in {_duration(event.delay)})")
    return line


def _note_line(event: Trouble | WorkerExit) -> Text:
    if isinstance(event, Trouble):
        return Text.assemble(
            (f"{'trouble':>{_WIDTH}}", "yellow"), f" {event.problem}; {event.action}"
        )
    if event.code is not None and event.code < 0:
        try:
            how = f"was killed by {signal.Signals(-event.code).name}"
        except ValueError:
            how = f"was killed by signal {-event.code}"
    else:
        how = f"exited with code {event.code}"
    then = "started another" if event.replaced else "not replaced"
    return Text.assemble(
        (f"{'exit':>{_WIDTH}}", "red"), f" {event.name} (pid {event.pid}) {how}; {then}"
    )


def summary(
    stats: WorkerStats, seconds: float, left: int, next_due: float | None, capped: bool = False
) -> str:
    """``done: 3 messages in 0.2 s (2 ack, 1 dead_letter)`` and what was left."""
    kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(stats.outcomes.items()))
    text = f"done: {_count(stats.total, 'message')} in {seconds:.2f} s"
    if kinds:
        text += f" ({kinds})"
    if stats.troubles:
        text += f"; {_count(stats.troubles, 'trouble')} survived"
    if left:
        text += f"; {'at least ' if capped else ''}{_count(left, 'message')} left"
        if next_due is not None:
            text += f", the next due in {_duration(max(0.0, next_due - time.time()))}"
    return text


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86_400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.1f} days"


def _fields(event: Ran | Trouble | WorkerExit) -> dict[str, Any]:
    return {name: getattr(event, name) for name in event.__dataclass_fields__}


__all__ = ["Mode", "Reporter", "ran_line", "summary"]
