"""What local workers report while they run: one :class:`Ran` per message, a :class:`Trouble`
when they meet (and survive) a problem, :class:`WorkerExit` when a pool's process ends, and the
:class:`WorkerStats` they return. Plain picklable records: a pool's processes send them to the
parent, which prints them (``adapters/local/reporting.py``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Ran:
    """One message run: its task and id, the outcome kind (``ack``, ``retry``,
    ``dead_letter``), seconds it took, the delivery count, and for a retry or a dead letter
    its cause and reason (and the retry's delay)."""

    task: str
    id: str
    outcome: str
    seconds: float
    delivery: int
    queue: str
    cause: str | None = None
    reason: str | None = None
    delay: float | None = None
    worker: int = 0


@dataclass(frozen=True, slots=True)
class Trouble:
    """A problem a worker met and survived (a full disk, a message it could not settle):
    ``problem`` in one sentence, and what it does about it."""

    problem: str
    action: str
    worker: int = 0


@dataclass(frozen=True, slots=True)
class WorkerExit:
    """A pool's worker process ended: ``code`` as ``multiprocessing`` reports it (negative:
    killed by that signal) and whether another one was started in its place."""

    name: str
    pid: int
    code: int | None
    replaced: bool


Event = Ran | Trouble | WorkerExit


@dataclass
class WorkerStats:
    """What a worker (or a pool) did: runs by outcome kind (``ack``, ``retry``,
    ``dead_letter``), troubles survived, and, when a burst ended, the messages left (not due
    within its horizon) with when the next is due (epoch seconds)."""

    outcomes: Counter[str] = field(default_factory=Counter)
    troubles: int = 0
    left: int = 0
    next_due: float | None = None

    @property
    def total(self) -> int:
        """Every message run."""
        return sum(self.outcomes.values())

    def count(self, event: Event) -> None:
        """Count ``event`` in."""
        if isinstance(event, Ran):
            self.outcomes[event.outcome] += 1
        elif isinstance(event, Trouble):
            self.troubles += 1


__all__ = ["Event", "Ran", "Trouble", "WorkerExit", "WorkerStats"]
