"""Results and idempotency claims in GCS: one JSON object per invocation id, and dedup holds.

The claim (Cloud Tasks delivers at least once, so a task may arrive twice) is a
compare-and-swap on the object's generation:

* no record yet: a create-only write, ``if_generation_match=0``;
* a record that is not final and whose lease ran out (or that waits for a retry): an
  overwrite with ``if_generation_match=<the generation read>``;
* a final record: ``DONE``; a live lease: ``BUSY``.

If the precondition fails (412), someone else wrote in between and the record is read again.
GCS enforces these preconditions (https://cloud.google.com/storage/docs/request-preconditions);
the GCS emulator does not, which is why the record is always read first (so sequential
redeliveries are caught there too) and why the tests check the logic on a store that enforces
them and the requests on the emulator.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from adapters.gcp.objects import Objects, PreconditionFailed
from dispatcher.backend import Claim, Status, TaskResult

RESULTS_PREFIX = "results/"
DEDUP_PREFIX = "dedup/"
_CLAIM_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class Hold:
    """Who holds a dedup key: ``holder`` (this send's id when it got the key), and the id
    that held it before, if an expired hold was taken over."""

    holder: str
    previous: str | None = None


class GcsResults:
    """:class:`~dispatcher.backend.ResultStore` in the app's bucket (``results/ID.json``)."""

    def __init__(self, objects: Objects, *, clock: Callable[[], float] = time.time) -> None:
        self.objects, self.clock = objects, clock

    @staticmethod
    def key(task_id: str) -> str:
        """The object that holds ``task_id``'s record."""
        return f"{RESULTS_PREFIX}{task_id}.json"

    def get(self, task_id: str) -> TaskResult | None:
        """The latest record of ``task_id``, or ``None``."""
        found = self.objects.read(self.key(task_id))
        return None if found is None else _load(found.data)[0]

    def save(self, result: TaskResult) -> None:
        """Replace the record of ``result.id`` (releasing any claim on it)."""
        self.objects.write(self.key(result.id), _dump(result, None))

    def claim(self, task_id: str, task: str, attempt: int, lease: float) -> Claim:
        """Take the idempotency claim on ``task_id`` for ``lease`` seconds (see the module)."""
        key = self.key(task_id)
        for _ in range(_CLAIM_ATTEMPTS):
            now = self.clock()
            found = self.objects.read(key)
            generation = 0
            if found is not None:
                record, lease_until = _load(found.data)
                if record.status.final:
                    return Claim.DONE
                if record.status is Status.RUNNING and (lease_until or 0.0) > now:
                    return Claim.BUSY
                generation = found.generation
            running = TaskResult(
                id=task_id,
                task=task,
                status=Status.RUNNING,
                attempt=attempt,
                updated_at=datetime.fromtimestamp(now, UTC),
            )
            try:
                self.objects.write(key, _dump(running, now + lease), if_generation_match=generation)
            except PreconditionFailed:
                continue  # written by someone else since we read it: look again
            return Claim.GRANTED
        return Claim.BUSY

    def forget(self, task_id: str) -> None:
        """Delete the record of ``task_id``."""
        self.objects.delete(self.key(task_id))

    # --- dedup keys ---------------------------------------------------------------------------

    @staticmethod
    def hold_key_name(queue: str, key: str) -> str:
        """The object of dedup ``key`` on Cloud Tasks queue ``queue``."""
        digest = hashlib.sha256(f"{queue}\0{key}".encode()).hexdigest()
        return f"{DEDUP_PREFIX}{queue}/{digest}.json"

    def hold_key(self, queue: str, key: str, task_id: str, window: float) -> Hold:
        """Make ``task_id`` the holder of dedup ``key`` for ``window`` seconds, unless another
        id holds it already (create-only, or compare-and-swap over an expired hold)."""
        name = self.hold_key_name(queue, key)
        for _ in range(_CLAIM_ATTEMPTS):
            now = self.clock()
            found = self.objects.read(name)
            previous: str | None = None
            generation = 0
            if found is not None:
                held = json.loads(found.data)
                if float(held["until"]) > now:
                    return Hold(str(held["holder"]))
                previous, generation = str(held["holder"]), found.generation
            data = json.dumps({"holder": task_id, "until": now + window}).encode()
            try:
                self.objects.write(name, data, if_generation_match=generation)
            except PreconditionFailed:
                continue
            return Hold(task_id, previous)
        raise PreconditionFailed(name)

    def restore_key(self, queue: str, key: str, holder: str, window: float) -> None:
        """Give dedup ``key`` back to ``holder`` (Cloud Tasks still knows its task)."""
        data = json.dumps({"holder": holder, "until": self.clock() + window}).encode()
        self.objects.write(self.hold_key_name(queue, key), data)

    def release_key(self, queue: str, key: str, task_id: str) -> None:
        """Give up dedup ``key`` if ``task_id`` holds it (its task was not created)."""
        name = self.hold_key_name(queue, key)
        found = self.objects.read(name)
        if found is not None and json.loads(found.data).get("holder") == task_id:
            with contextlib.suppress(PreconditionFailed):  # taken over meanwhile: not ours
                self.objects.delete(name, if_generation_match=found.generation)


def _dump(result: TaskResult, lease_until: float | None) -> bytes:
    record: dict[str, Any] = json.loads(result.to_json())
    return json.dumps({"record": record, "lease_until": lease_until}).encode()


def _load(data: bytes) -> tuple[TaskResult, float | None]:
    document = json.loads(data)
    return TaskResult.from_json(json.dumps(document["record"])), document.get("lease_until")
