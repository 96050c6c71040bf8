"""What every receiver of a batch shares: results held until the batch is settled.

A receiver that runs several messages before it settles them (the local worker's lease, an SQS
event) records their results together with the settling, in one transaction or one batch write:
:class:`BufferedResults` holds the records meanwhile and answers claims from them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from dispatcher.backend import Claim, ResultStore, TaskResult


class FinishedLookup(Protocol):
    """A store that can tell at once which of many invocations are final."""

    def finished(self, task_ids: Sequence[str]) -> set[str]:
        """The final ones among ``task_ids``."""
        ...


class BufferedResults:
    """A :class:`~dispatcher.backend.ResultStore` over ``inner`` whose saves wait for
    :meth:`take`. Claims of an invocation finished in this batch answer ``DONE`` without a
    round trip; :meth:`expect` answers a whole batch's claims with one lookup."""

    def __init__(self, inner: ResultStore) -> None:
        self.inner = inner
        self._buffer: dict[str, TaskResult] = {}
        self._known: dict[str, bool] = {}

    def get(self, task_id: str) -> TaskResult | None:
        """The held record, else the stored one."""
        return self._buffer.get(task_id) or self.inner.get(task_id)

    def save(self, result: TaskResult) -> None:
        """Hold ``result`` until :meth:`take`."""
        self._buffer[result.id] = result

    def claim(self, task_id: str, task: str, attempt: int, lease: float) -> Claim:
        """``DONE`` for an invocation finished in this batch, or known final by
        :meth:`expect`; else the inner store decides."""
        held = self._buffer.get(task_id)
        if held is not None and held.status.final:
            return Claim.DONE
        known = self._known.pop(task_id, None)
        if known is not None:
            return Claim.DONE if known else Claim.GRANTED
        return self.inner.claim(task_id, task, attempt, lease)

    def forget(self, task_id: str) -> None:
        """Drop the held record and the stored one."""
        self._buffer.pop(task_id, None)
        self.inner.forget(task_id)

    def expect(self, lookup: FinishedLookup, task_ids: Sequence[str]) -> None:
        """Learn in one query which of a batch's invocations already finished. Only for a
        store whose claims need no write of their own (the local lease is the claim)."""
        finished = lookup.finished(task_ids) if task_ids else set()
        self._known = {task_id: task_id in finished for task_id in task_ids}

    def take(self) -> list[TaskResult]:
        """The held records, emptying the buffer."""
        taken, self._buffer = list(self._buffer.values()), {}
        return taken

    def discard(self) -> None:
        """Forget the held records (their messages will be delivered again)."""
        self._buffer.clear()


__all__ = ["BufferedResults", "FinishedLookup"]
