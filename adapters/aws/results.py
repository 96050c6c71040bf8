"""A DynamoDB result store: one item per invocation id, with a TTL, and the idempotency claim
SQS's at-least-once delivery needs.

The rules it relies on (DynamoDB enforces them; moto only some):

* A claim is a conditional PutItem: granted when there is no record, or a non-final one
  whose lease ran out. It counts runs (``attempt``: one more than the last run's, the
  condition holding the count it read, so two claims cannot both take the same run), so a
  delivery that did not run the task uses up no attempt, and it carries a token of its own:
  a claim whose answer was lost, read again or sent again by the SDK, is recognised as ours.
  A refused claim returns the item that refused it (``ReturnValuesOnConditionCheckFailure``,
  https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_PutItem.html), so it
  costs no second read: a first delivery costs one call, a retry two.
* A result never replaces a final record (conditional put): the first final result stands,
  a revocation does not erase a success, and a run that fails after its revocation is not
  retried. BatchWriteItem takes no conditions
  (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html):
  it writes only the final results of claims this store holds and whose lease is still
  running, which no other delivery can have written meanwhile (a revocation made while the
  task ran is the one exception: the run was not interrupted, and its final result stands).
* An item holds at most 400 KB, names and values counted
  (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html#limits-items),
  and BatchWriteItem rejects the whole request for one item above it. A value that would not
  fit goes to the app's claim-check bucket and the item points at it.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from adapters.aws.clients import Clients
from adapters.aws.errors import error_code, is_ambiguous, translated
from adapters.aws.payloads import ClaimChecks, Pointer
from dispatcher.backend import Claim, Granted, Status, TaskResult
from dispatcher.errors import BackendUnavailable, Throttled

#: How long records are kept (DynamoDB's TTL deletes them later), in seconds.
DEFAULT_TTL = 7 * 86_400
#: The item attribute DynamoDB's TTL reads (epoch seconds).
TTL_ATTRIBUTE = "expires_at"
#: DynamoDB's largest item, in bytes (attribute names and values).
MAX_ITEM = 400 * 1024
#: Room kept under :data:`MAX_ITEM` for the attributes other than the value.
_ITEM_MARGIN = 1024
#: Longest text kept of an error message or a reason (a traceback keeps its last 8,000).
MAX_TEXT = 16_000
_BATCH_WRITE = 25
_BATCH_ATTEMPTS = 5
_CCF = "ConditionalCheckFailedException"
_FINAL = (Status.SUCCEEDED, Status.FAILED, Status.REVOKED)
#: Seconds a held claim must still have before its result may be written without a condition.
_LIVE_MARGIN = 1.0
_HELD_PRUNE = 1_000

#: A first claim: no record yet.
_NEW = "attribute_not_exists(#id)"
#: A claim after runs: the record as it was read, not final, its lease run out.
_AFTER = (
    "#attempt = :seen AND NOT (#status IN (:ok, :failed, :revoked))"
    " AND (attribute_not_exists(#lease) OR #lease < :now)"
)
_CLAIM_NAMES = {"#id": "id", "#attempt": "attempt", "#status": "status", "#lease": "lease_until"}
_NOT_FINAL = "attribute_not_exists(#id) OR NOT (#status IN (:ok, :failed, :revoked))"
_FINAL_VALUES = {
    ":ok": {"S": Status.SUCCEEDED.value},
    ":failed": {"S": Status.FAILED.value},
    ":revoked": {"S": Status.REVOKED.value},
}


class _Held(NamedTuple):
    token: str
    lease_until: float


class DynamoResults:
    """:class:`~dispatcher.backend.ResultStore` on a DynamoDB table keyed by ``id`` (string);
    results too large for an item go to the claim-check bucket ``payloads`` returns (asked
    only when one does, so that finding the bucket costs nothing before)."""

    def __init__(
        self,
        clients: Clients,
        table: str,
        *,
        payloads: Callable[[], ClaimChecks] | None = None,
        ttl: float = DEFAULT_TTL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clients, self.table, self.payloads = clients, table, payloads
        self.ttl, self.clock = ttl, clock
        self._held: dict[str, _Held] = {}
        self._lock = threading.Lock()

    # --- reading -------------------------------------------------------------------------

    def get(self, task_id: str) -> TaskResult | None:
        """The latest record of ``task_id`` (strongly consistent read), or ``None``."""
        item = self._item_of(task_id)
        return None if item is None else self._to_result(item)

    def _item_of(self, task_id: str) -> dict[str, Any] | None:
        with translated(f"reading result {task_id} from table {self.table}"):
            response = self.clients.dynamodb.get_item(
                TableName=self.table, Key={"id": {"S": task_id}}, ConsistentRead=True
            )
        item: dict[str, Any] | None = response.get("Item")
        return item

    # --- claims --------------------------------------------------------------------------

    def claim(self, task_id: str, task: str, attempt: int, lease: float) -> Claim | Granted:
        """Claim ``task_id`` for ``lease`` seconds: :class:`Granted` with the number of this
        run (``attempt`` for the first), ``DONE`` when it is final, ``BUSY`` while another
        delivery's claim runs.

        One conditional PutItem when there is no record (a first delivery); a refusal
        returns the record, and a record whose lease ran out is claimed by a second PutItem
        conditioned on the run count it showed (a concurrent claim makes that one fail)."""
        token = os.urandom(12).hex()
        now = self.clock()
        item = {
            "id": {"S": task_id},
            "task": {"S": task},
            "status": {"S": Status.RUNNING.value},
            "attempt": {"N": str(attempt)},
            "lease_until": {"N": repr(now + lease)},
            "token": {"S": token},
            "updated_at": {"S": datetime.fromtimestamp(now, UTC).isoformat()},
            TTL_ATTRIBUTE: {"N": str(int(now + self.ttl))},
        }
        condition, values = _NEW, dict[str, Any]()
        answer: Claim | Granted | None = None
        for _ in range(4):
            try:
                self.clients.dynamodb.put_item(
                    TableName=self.table,
                    Item=item,
                    ConditionExpression=condition,
                    ExpressionAttributeNames={
                        k: v for k, v in _CLAIM_NAMES.items() if k in condition
                    },
                    **({"ExpressionAttributeValues": values} if values else {}),
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except Exception as error:
                if is_ambiguous(error):  # sent, but its answer was lost: read what happened
                    seen = self._item_of(task_id)
                elif error_code(error) == _CCF:
                    seen = getattr(error, "response", {}).get("Item")
                    if seen is None:  # an endpoint that does not return the item
                        seen = self._item_of(task_id)
                else:
                    with translated(f"claiming {task_id} in table {self.table}"):
                        raise
                answer = self._claim_from(seen, token, now)
                if answer is not None:
                    break
                if seen is None:
                    condition, values = _NEW, {}
                    continue
                runs = int(seen["attempt"]["N"])  # the last run's number: claim the next one
                item["attempt"] = {"N": str(runs + 1)}
                condition = _AFTER
                values = {":seen": {"N": str(runs)}, ":now": {"N": repr(now)}, **_FINAL_VALUES}
                continue
            answer = Granted(int(item["attempt"]["N"]))
            break
        if answer is None:
            raise BackendUnavailable(f"claiming {task_id} in table {self.table}: it kept changing")
        if isinstance(answer, Granted):
            with self._lock:
                if len(self._held) > _HELD_PRUNE:  # claims whose results were never written
                    self._held = {k: h for k, h in self._held.items() if h.lease_until > now}
                self._held[task_id] = _Held(token, now + lease)
        return answer

    def _claim_from(
        self, item: dict[str, Any] | None, token: str, now: float
    ) -> Claim | Granted | None:
        """What a record says of a claim: ours (its token), final, held by another delivery,
        or (``None``) free to claim."""
        if item is None:
            return None
        if item.get("token", {}).get("S") == token:
            return Granted(int(item["attempt"]["N"]))
        if Status(item["status"]["S"]).final:
            return Claim.DONE
        lease = item.get("lease_until")
        if lease is not None and float(lease["N"]) >= now:
            return Claim.BUSY
        return None

    def release(self, task_id: str) -> None:
        """End this store's claim on ``task_id`` now (its outcome could not be stored: the
        next delivery may run it at once); nothing when the claim is not ours any more."""
        with self._lock:
            held = self._held.pop(task_id, None)
        if held is None:
            return
        try:
            self.clients.dynamodb.update_item(
                TableName=self.table,
                Key={"id": {"S": task_id}},
                UpdateExpression="SET #lease = :past",
                ConditionExpression="#token = :token",
                ExpressionAttributeNames={"#lease": "lease_until", "#token": "token"},
                ExpressionAttributeValues={":past": {"N": "0"}, ":token": {"S": held.token}},
            )
        except Exception as error:
            if error_code(error) != _CCF and not is_ambiguous(error):
                with translated(f"releasing the claim on {task_id} in table {self.table}"):
                    raise

    def holds(self, task_id: str) -> bool:
        """Whether this store holds a claim on ``task_id`` whose lease is still running."""
        held = self._held.get(task_id)
        return held is not None and held.lease_until - _LIVE_MARGIN > self.clock()

    # --- writing -------------------------------------------------------------------------

    def save(self, result: TaskResult) -> None:
        """Write ``result`` unless the record is final already (the first final result
        stands); a value too large for an item goes to the claim-check bucket."""
        try:
            item = self._item(result)
            try:
                self._put_unless_final(item)
            except Exception as error:
                if not is_ambiguous(error):
                    raise
                self._put_unless_final(item)  # the same write again: it cannot undo a final
        except Exception as error:
            if error_code(error) == _CCF:
                return
            with translated(f"saving result {result.id} to table {self.table}"):
                raise

    def _put_unless_final(self, item: dict[str, Any]) -> None:
        self.clients.dynamodb.put_item(
            TableName=self.table,
            Item=item,
            ConditionExpression=_NOT_FINAL,
            ExpressionAttributeNames={"#id": "id", "#status": "status"},
            ExpressionAttributeValues=_FINAL_VALUES,
        )

    def write(self, results: Sequence[TaskResult]) -> dict[str, Exception]:
        """Write a batch's results; the ones that could not be written, with why. Final
        results of live claims held here go in BatchWriteItem requests; the others (and
        all of a request that fails) are written one by one with :meth:`save`'s condition,
        so that only the records concerned fail."""
        failed: dict[str, Exception] = {}
        batched: list[tuple[TaskResult, dict[str, Any]]] = []
        alone: list[TaskResult] = []
        for result in {r.id: r for r in results}.values():
            if result.status in _FINAL and self.holds(result.id):
                try:
                    batched.append((result, self._item(result)))
                except Exception as error:  # its value could not be stored
                    failed[result.id] = error
            else:
                alone.append(result)
        for start in range(0, len(batched), _BATCH_WRITE):
            chunk = batched[start : start + _BATCH_WRITE]
            try:
                self._batch_write([item for _, item in chunk])
            except Exception:  # one item may be at fault: find it by writing them alone
                alone += [result for result, _ in chunk]
                continue
            for result, _ in chunk:
                self._release(result.id)
        for result in alone:
            try:
                self.save(result)
            except Exception as error:
                failed[result.id] = error
            else:
                self._release(result.id)
        return failed

    def _batch_write(self, items: list[dict[str, Any]]) -> None:
        requests = [{"PutRequest": {"Item": item}} for item in items]
        for attempt in range(_BATCH_ATTEMPTS):
            with translated(f"saving {len(requests)} results to table {self.table}"):
                response = self.clients.dynamodb.batch_write_item(
                    RequestItems={self.table: requests}
                )
            requests = (response.get("UnprocessedItems") or {}).get(self.table) or []
            if not requests:
                return
            time.sleep(0.05 * 2**attempt)
        raise Throttled(f"DynamoDB left {len(requests)} results unsaved in {self.table}")

    def _release(self, task_id: str) -> None:
        with self._lock:
            self._held.pop(task_id, None)

    def _item(self, result: TaskResult) -> dict[str, Any]:
        """The item of ``result``; its value in the claim-check bucket if it would not fit."""
        item: dict[str, Any] = {
            "id": {"S": result.id},
            "task": {"S": result.task},
            "status": {"S": result.status.value},
            "attempt": {"N": str(result.attempt)},
            "updated_at": {"S": result.updated_at.isoformat()},
            TTL_ATTRIBUTE: {"N": str(int(self.clock() + self.ttl))},
        }
        for name in ("error_type", "error_message", "traceback", "reason"):
            text = getattr(result, name)
            if text is not None:
                item[name] = {"S": text[:MAX_TEXT]}
        value = json.dumps(result.value)
        if item_size(item) + len("value") + len(value.encode()) <= MAX_ITEM - _ITEM_MARGIN:
            item["value"] = {"S": value}
        else:
            if self.payloads is None:
                raise ValueError(f"the result of {result.id} is too large for DynamoDB")
            pointer = self.payloads().put(f"results/{result.id}.json", value.encode())
            item["value_ref"] = {"S": pointer.url}
        return item

    def _to_result(self, item: dict[str, Any]) -> TaskResult:
        def text(name: str) -> str | None:
            value = item.get(name)
            return None if value is None else str(value["S"])

        value: Any = None
        if "value" in item:
            value = json.loads(item["value"]["S"])
        elif "value_ref" in item and self.payloads is not None:
            value = json.loads(self.payloads().get(Pointer.parse(item["value_ref"]["S"])))
        return TaskResult(
            id=item["id"]["S"],
            task=item["task"]["S"],
            status=Status(item["status"]["S"]),
            value=value,
            error_type=text("error_type"),
            error_message=text("error_message"),
            traceback=text("traceback"),
            reason=text("reason"),
            attempt=int(item["attempt"]["N"]),
            updated_at=datetime.fromisoformat(item["updated_at"]["S"]),
        )

    # --- dedup keys ----------------------------------------------------------------------

    def hold_key(self, key: str, task_id: str, window: float) -> str:
        """Make ``task_id`` the holder of dedup ``key`` for ``window`` seconds, unless another
        id holds it already; returns the holder's id (``task_id`` when this call got it)."""
        now = self.clock()
        for _ in range(3):
            try:
                self.clients.dynamodb.put_item(
                    TableName=self.table,
                    Item={
                        "id": {"S": f"dedup#{key}"},
                        "holder": {"S": task_id},
                        TTL_ATTRIBUTE: {"N": repr(now + window)},
                    },
                    ConditionExpression="attribute_not_exists(id) OR #ttl < :now",
                    ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE},
                    ExpressionAttributeValues={":now": {"N": repr(now)}},
                )
                return task_id
            except Exception as error:
                if error_code(error) != _CCF and not is_ambiguous(error):
                    with translated(f"checking dedup key {key!r} in table {self.table}"):
                        raise
            with translated(f"reading dedup key {key!r} from table {self.table}"):
                item = self.clients.dynamodb.get_item(
                    TableName=self.table, Key={"id": {"S": f"dedup#{key}"}}, ConsistentRead=True
                ).get("Item")
            if item is not None:
                return str(item["holder"]["S"])
        return task_id  # it kept expiring under us: let this one through

    def release_key(self, key: str, task_id: str) -> None:
        """Give up dedup ``key`` if ``task_id`` holds it (its message was not sent)."""
        try:
            self.clients.dynamodb.delete_item(
                TableName=self.table,
                Key={"id": {"S": f"dedup#{key}"}},
                ConditionExpression="holder = :me",
                ExpressionAttributeValues={":me": {"S": task_id}},
            )
        except Exception as error:
            if error_code(error) != _CCF:
                with translated(f"releasing dedup key {key!r} in table {self.table}"):
                    raise

    def forget(self, task_id: str) -> None:
        """Delete the record of ``task_id``."""
        self._release(task_id)
        with translated(f"deleting result {task_id} from table {self.table}"):
            self.clients.dynamodb.delete_item(TableName=self.table, Key={"id": {"S": task_id}})


def item_size(item: dict[str, Any]) -> int:
    """An upper bound of the bytes DynamoDB counts for ``item`` (strings and numbers)."""
    size = 0
    for name, value in item.items():
        size += len(name.encode())
        if "S" in value:
            size += len(str(value["S"]).encode())
        else:
            size += 21  # a number takes at most 21 bytes
    return size
