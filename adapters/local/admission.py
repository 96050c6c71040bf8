"""Per-task admission on the local backend: concurrency caps and rate limits, across processes.

Inside the lease transaction (so every worker process sees the same counts), each limited
task gets its *room*: its concurrency cap minus its live leases, and its rate minus the starts
within the period. Tasks with no room are left out of the candidate query itself, so however
many of their messages wait at the head of a queue, the others behind them are leased (a fixed
window of candidates would be filled by the throttled task and starve the rest). A task with
some room takes at most that many of the candidates.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

_RUNNING = "SELECT COUNT(*) FROM messages WHERE task = ? AND token IS NOT NULL AND visible_at > ?"
_FORGET_STARTS = "DELETE FROM starts WHERE task = ? AND at <= ?"
_STARTED = "SELECT COUNT(*) FROM starts WHERE task = ? AND at > ?"
_RECORD_START = "INSERT INTO starts (task, at) VALUES (?, ?)"


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-task admission limits the lease enforces: ``concurrency`` (task → cap) and
    ``rate`` (task → (starts, per seconds))."""

    concurrency: dict[str, int] = field(default_factory=dict)
    rate: dict[str, tuple[int, float]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.concurrency or self.rate)


class Admission:
    """The room each limited task has right now, counted in the lease transaction ``db``."""

    def __init__(self, db: sqlite3.Connection, limits: Limits, now: float) -> None:
        self.db, self.limits, self.now = db, limits, now
        self.room: dict[str, int] = {}
        for task, cap in limits.concurrency.items():
            (running,) = db.execute(_RUNNING, (task, now)).fetchone()
            self.room[task] = cap - int(running)
        for task, (count, per) in limits.rate.items():
            db.execute(_FORGET_STARTS, (task, now - per))
            (started,) = db.execute(_STARTED, (task, now - per)).fetchone()
            self.room[task] = min(self.room.get(task, count), count - int(started))

    @property
    def excluded(self) -> list[str]:
        """Tasks that may not start anything now: left out of the candidate query."""
        return sorted(task for task, room in self.room.items() if room <= 0)

    def choose(self, candidates: list[tuple[int, str]], limit: int) -> list[int]:
        """The seqs to lease among ``candidates`` ((seq, task), oldest first), at most
        ``limit``, each limited task within its room; records the rate-limited starts."""
        chosen: list[int] = []
        starts: list[tuple[str, float]] = []
        for seq, task in candidates:
            if len(chosen) == limit:
                break
            room = self.room.get(task)
            if room is not None:
                if room <= 0:
                    continue
                self.room[task] = room - 1
                if task in self.limits.rate:
                    starts.append((task, self.now))
            chosen.append(seq)
        if starts:
            self.db.executemany(_RECORD_START, starts)
        return chosen


__all__ = ["Admission", "Limits"]
