"""A result store in Table storage: one entity per invocation, an insert-only entity for the
idempotency claim (Storage Queues deliver at least once), and dedup keys.

Entities (``PartitionKey`` / ``RowKey``):

* ``<task id>`` / ``result``: the record, and the claim while it runs. A claim is an insert,
  which Table storage refuses when the entity exists (409); a record that exists is taken over
  only if it is not final and its lease ran out, by a replace conditioned on its ETag (412 if
  another delivery got there first).
* ``dedup-<sha256 of key>`` / ``dedup``: which message holds a dedup key, until when.

Table storage's limits, relied on here: keys may not contain ``/ \\ # ?`` or control characters
(ids that do are hashed); a string property holds 64 KiB (32 Ki UTF-16 code units, so texts are
split in parts of 16 000 characters); an entity holds at most 1 MiB and 252 properties of its
own. https://learn.microsoft.com/en-us/rest/api/storageservices/understanding-the-table-service-data-model
An entity's size is counted as Microsoft describes it (4 bytes, the keys in UTF-16, and per
property 8 bytes, its name in UTF-16 and its value: a string in UTF-16 plus 4 bytes):
https://learn.microsoft.com/en-us/archive/blogs/avkashchauhan/how-the-size-of-an-entity-is-caclulated-in-windows-azure-table-storage
Azurite refuses long string properties and keys with ``/``, but not entities past 1 MiB. A
result too large for an entity is recorded as failed, with that reason, rather than lost.
Tables have no time to live: records stay until they are forgotten (replay) or deleted.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from adapters.azure.errors import CONFLICT, NOT_FOUND, PRECONDITION_FAILED, status_of, translated
from adapters.azure.tables import Entities
from dispatcher.backend import Claim, Status, TaskResult
from dispatcher.errors import EnvelopeTooLarge

RESULT_ROW = "result"
DEDUP_ROW = "dedup"
#: Characters per part of a long text property (4 bytes of UTF-16 each at worst: 64 000 bytes).
TEXT_PART = 16_000
#: The largest entity Table storage accepts, in bytes.
MAX_ENTITY = 1_048_576
#: Error messages are cut to this many characters.
MAX_MESSAGE = 32_000
_UNSAFE_KEY = re.compile(r"[/\\#?\x00-\x1f\x7f-\x9f]")
_TEXTS = ("value", "error_type", "error_message", "traceback", "reason", "root_id")
_ATTEMPTS = 3


def entity_key(task_id: str) -> str:
    """The partition key of ``task_id``: itself, or a hash when it holds a character keys may
    not contain (or is longer than a key may be)."""
    if len(task_id) <= 512 and not _UNSAFE_KEY.search(task_id):
        return task_id
    return "sha256-" + hashlib.sha256(task_id.encode()).hexdigest()


def entity_size(entity: dict[str, Any]) -> int:
    """Bytes Table storage counts for ``entity`` (see the module docstring)."""
    size = 4
    for name, value in entity.items():
        if name in ("PartitionKey", "RowKey"):
            size += len(str(value).encode("utf-16-le"))
            continue
        size += 8 + len(name.encode("utf-16-le"))
        if isinstance(value, str):
            size += 4 + len(value.encode("utf-16-le"))
        elif isinstance(value, bool):
            size += 1
        elif isinstance(value, int):
            size += 4 if -(2**31) <= value < 2**31 else 8
        else:
            size += 8
    return size


def put_text(entity: dict[str, Any], name: str, text: str) -> None:
    """Store ``text`` under ``name``, in parts (``name``, ``name__1``...) when it is long."""
    parts = [text[i : i + TEXT_PART] for i in range(0, len(text), TEXT_PART)] or [""]
    entity[name] = parts[0]
    for index, part in enumerate(parts[1:], start=1):
        entity[f"{name}__{index}"] = part


def get_text(entity: dict[str, Any], name: str) -> str | None:
    """The text stored by :func:`put_text` (``None`` if there is none)."""
    first = entity.get(name)
    if first is None:
        return None
    parts, index = [str(first)], 1
    while f"{name}__{index}" in entity:
        parts.append(str(entity[f"{name}__{index}"]))
        index += 1
    return "".join(parts)


class TableResults:
    """:class:`~dispatcher.backend.ResultStore` on a table (see the module docstring)."""

    def __init__(
        self, entities: Entities, table: str, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.entities, self.table, self.clock = entities, table, clock

    def get(self, task_id: str) -> TaskResult | None:
        """The record of ``task_id``, or ``None``."""
        with translated(f"reading result {task_id} from table {self.table}"):
            found = self.entities.read(entity_key(task_id), RESULT_ROW)
        return None if found is None else to_result(found[0], task_id)

    def save(self, result: TaskResult) -> None:
        """Replace the record of ``result.id`` (releasing any claim on it). A record too large
        for an entity is saved as failed, saying so."""
        try:
            entity = self._record(result)
        except EnvelopeTooLarge as error:
            entity = self._record(
                result.copy_with(
                    status=Status.FAILED,
                    value=None,
                    error_type=None,
                    error_message=None,
                    traceback=None,
                    reason=f"the result could not be stored: {error}",
                )
            )
        with translated(f"saving result {result.id} to table {self.table}"):
            self.entities.replace(entity)

    def _record(self, result: TaskResult) -> dict[str, Any]:
        entity = self._entity(result.id, result.task, result.status, result.attempt)
        entity["updated_at"] = result.updated_at.isoformat()
        put_text(entity, "value", json.dumps(result.value))
        for name in _TEXTS[1:]:
            text = getattr(result, name)
            if text is not None:
                put_text(entity, name, text[:MAX_MESSAGE] if name == "error_message" else text)
        size = entity_size(entity)
        if size > MAX_ENTITY:
            raise EnvelopeTooLarge(
                f"its record has {size:,} bytes; a Table entity holds {MAX_ENTITY:,}"
            )
        return entity

    def claim(self, task_id: str, task: str, attempt: int, lease: float) -> Claim:
        """Insert the claim; if a record exists, ``DONE`` when it is final, ``BUSY`` while
        another claim's lease runs, else take it over (conditioned on its ETag)."""
        now = self.clock()
        entity = self._entity(task_id, task, Status.RUNNING, attempt)
        entity["lease_until"] = now + lease
        entity["updated_at"] = datetime.fromtimestamp(now, UTC).isoformat()
        entity["value"] = "null"
        for _ in range(_ATTEMPTS):
            with translated(f"claiming {task_id} in table {self.table}"):
                claim = self._claim(entity, now)
            if claim is not None:
                return claim
        return Claim.BUSY  # it kept changing under us: look again later

    def _claim(self, entity: dict[str, Any], now: float) -> Claim | None:
        """One try; ``None`` when the record vanished meanwhile (try again)."""
        if _inserted(self.entities, entity):
            return Claim.GRANTED
        found = self.entities.read(entity["PartitionKey"], RESULT_ROW)
        if found is None:
            return None
        current, etag = found
        if Status(current.get("status", Status.RUNNING)).final:
            return Claim.DONE
        if float(current.get("lease_until") or 0.0) > now:
            return Claim.BUSY
        replaced = _replaced(self.entities, entity, etag)
        if replaced is None:
            return None
        return Claim.GRANTED if replaced else Claim.BUSY

    def forget(self, task_id: str) -> None:
        """Delete the record of ``task_id``."""
        with translated(f"deleting result {task_id} from table {self.table}"):
            self.entities.delete(entity_key(task_id), RESULT_ROW)

    def hold_key(self, key: str, task_id: str, window: float) -> str:
        """Make ``task_id`` the holder of dedup ``key`` for ``window`` seconds, unless another
        id holds it already; returns the holder's id (``task_id`` when this call got it)."""
        now = self.clock()
        entity: dict[str, Any] = {
            "PartitionKey": dedup_partition(key),
            "RowKey": DEDUP_ROW,
            "holder": task_id,
            "until": now + window,
        }
        for _ in range(_ATTEMPTS):
            with translated(f"checking dedup key {key!r} in table {self.table}"):
                if _inserted(self.entities, entity):
                    return task_id
                found = self.entities.read(entity["PartitionKey"], DEDUP_ROW)
                if found is None:
                    continue
                current, etag = found
                if float(current.get("until") or 0.0) > now:
                    return str(current["holder"])
                if _replaced(self.entities, entity, etag):
                    return task_id
        return task_id  # it kept changing under us: let this one through

    def release_key(self, key: str, task_id: str) -> None:
        """Give up dedup ``key`` if ``task_id`` holds it (its message was not sent)."""
        partition = dedup_partition(key)
        with translated(f"releasing dedup key {key!r} in table {self.table}"):
            found = self.entities.read(partition, DEDUP_ROW)
            if found is not None and found[0].get("holder") == task_id:
                self.entities.delete(partition, DEDUP_ROW)

    @staticmethod
    def _entity(task_id: str, task: str, status: Status, attempt: int) -> dict[str, Any]:
        return {
            "PartitionKey": entity_key(task_id),
            "RowKey": RESULT_ROW,
            "id": task_id,
            "task": task,
            "status": status.value,
            "attempt": attempt,
        }


def dedup_partition(key: str) -> str:
    """The partition of dedup ``key`` (hashed: keys may hold any character)."""
    return "dedup-" + hashlib.sha256(key.encode()).hexdigest()


def _inserted(entities: Entities, entity: dict[str, Any]) -> bool:
    """Insert ``entity``; ``False`` when one with its keys exists (409)."""
    try:
        entities.insert(entity)
    except Exception as error:
        if status_of(error) != CONFLICT:
            raise
        return False
    return True


def _replaced(entities: Entities, entity: dict[str, Any], etag: str) -> bool | None:
    """Replace the entity if its ETag is still ``etag``: ``False`` when it changed (412),
    ``None`` when it is gone (404)."""
    try:
        entities.replace(entity, etag)
    except Exception as error:
        if status_of(error) == PRECONDITION_FAILED:
            return False
        if status_of(error) == NOT_FOUND:
            return None
        raise
    return True


def to_result(entity: dict[str, Any], task_id: str) -> TaskResult:
    """The :class:`TaskResult` an entity holds."""
    value = get_text(entity, "value")
    return TaskResult(
        id=str(entity.get("id") or task_id),
        task=str(entity["task"]),
        status=Status(entity["status"]),
        value=json.loads(value) if value else None,
        error_type=get_text(entity, "error_type"),
        error_message=get_text(entity, "error_message"),
        traceback=get_text(entity, "traceback"),
        reason=get_text(entity, "reason"),
        attempt=int(entity.get("attempt") or 1),
        root_id=get_text(entity, "root_id"),
        updated_at=datetime.fromisoformat(str(entity["updated_at"])),
    )
