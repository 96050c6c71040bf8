"""A DynamoDB result store: one item per invocation id, with a TTL, and a conditional put for
the idempotency claim (SQS delivers at least once)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from adapters.aws.clients import Clients
from adapters.aws.errors import error_code, translated
from dispatcher.backend import Claim, Status, TaskResult
from dispatcher.errors import Throttled

#: How long records are kept (DynamoDB's TTL deletes them later), in seconds.
DEFAULT_TTL = 7 * 86_400
#: The item attribute DynamoDB's TTL reads (epoch seconds).
TTL_ATTRIBUTE = "expires_at"
_BATCH_WRITE = 25
_BATCH_ATTEMPTS = 5

_CLAIM_CONDITION = (
    "attribute_not_exists(id) OR "
    "((attribute_not_exists(lease_until) OR lease_until < :now)"
    " AND NOT (#s IN (:ok, :failed, :revoked)))"
)


class DynamoResults:
    """:class:`~dispatcher.backend.ResultStore` on a DynamoDB table keyed by ``id`` (string)."""

    def __init__(
        self,
        clients: Clients,
        table: str,
        *,
        ttl: float = DEFAULT_TTL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clients, self.table, self.ttl, self.clock = clients, table, ttl, clock

    def get(self, task_id: str) -> TaskResult | None:
        """The latest record of ``task_id`` (strongly consistent read), or ``None``."""
        with translated(f"reading result {task_id} from table {self.table}"):
            response = self.clients.dynamodb.get_item(
                TableName=self.table, Key={"id": {"S": task_id}}, ConsistentRead=True
            )
        item = response.get("Item")
        return None if item is None else _to_result(item)

    def save(self, result: TaskResult) -> None:
        """Replace the record of ``result.id`` (releasing any claim on it)."""
        with translated(f"saving result {result.id} to table {self.table}"):
            self.clients.dynamodb.put_item(TableName=self.table, Item=self._item(result))

    def save_many(self, results: Sequence[TaskResult]) -> None:
        """Replace several records with BatchWriteItem (25 a request; unprocessed items are
        sent again, a few times, before this gives up with an error)."""
        items = [self._item(r) for r in {r.id: r for r in results}.values()]
        for start in range(0, len(items), _BATCH_WRITE):
            requests = [{"PutRequest": {"Item": i}} for i in items[start : start + _BATCH_WRITE]]
            for attempt in range(_BATCH_ATTEMPTS):
                with translated(f"saving {len(requests)} results to table {self.table}"):
                    response = self.clients.dynamodb.batch_write_item(
                        RequestItems={self.table: requests}
                    )
                requests = (response.get("UnprocessedItems") or {}).get(self.table) or []
                if not requests:
                    break
                time.sleep(0.05 * 2**attempt)
            if requests:
                raise Throttled(f"DynamoDB left {len(requests)} results unsaved in {self.table}")

    def _item(self, result: TaskResult) -> dict[str, Any]:
        item: dict[str, Any] = {
            "id": {"S": result.id},
            "task": {"S": result.task},
            "status": {"S": result.status.value},
            "attempt": {"N": str(result.attempt)},
            "updated_at": {"S": result.updated_at.isoformat()},
            "value": {"S": json.dumps(result.value)},
            TTL_ATTRIBUTE: {"N": str(int(self.clock() + self.ttl))},
        }
        for name in ("error_type", "error_message", "traceback", "reason"):
            text = getattr(result, name)
            if text is not None:
                item[name] = {"S": text}
        return item

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
                if error_code(error) != "ConditionalCheckFailedException":
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
            if error_code(error) != "ConditionalCheckFailedException":
                with translated(f"releasing dedup key {key!r} in table {self.table}"):
                    raise

    def claim(self, task_id: str, task: str, attempt: int, lease: float) -> Claim:
        """Conditional put: granted unless the record is final (``DONE``) or another delivery
        holds an unexpired lease (``BUSY``)."""
        now = self.clock()
        item = {
            "id": {"S": task_id},
            "task": {"S": task},
            "status": {"S": Status.RUNNING.value},
            "attempt": {"N": str(attempt)},
            "lease_until": {"N": repr(now + lease)},
            "updated_at": {"S": datetime.fromtimestamp(now, UTC).isoformat()},
            "value": {"S": "null"},
            TTL_ATTRIBUTE: {"N": str(int(now + self.ttl))},
        }
        try:
            self.clients.dynamodb.put_item(
                TableName=self.table,
                Item=item,
                ConditionExpression=_CLAIM_CONDITION,
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":now": {"N": repr(now)},
                    ":ok": {"S": Status.SUCCEEDED.value},
                    ":failed": {"S": Status.FAILED.value},
                    ":revoked": {"S": Status.REVOKED.value},
                },
            )
        except Exception as error:
            if error_code(error) != "ConditionalCheckFailedException":
                with translated(f"claiming {task_id} in table {self.table}"):
                    raise
            current = self.get(task_id)
            return Claim.DONE if current is not None and current.status.final else Claim.BUSY
        return Claim.GRANTED

    def forget(self, task_id: str) -> None:
        """Delete the record of ``task_id``."""
        with translated(f"deleting result {task_id} from table {self.table}"):
            self.clients.dynamodb.delete_item(TableName=self.table, Key={"id": {"S": task_id}})


def _to_result(item: dict[str, Any]) -> TaskResult:
    def text(name: str) -> str | None:
        value = item.get(name)
        return None if value is None else str(value["S"])

    return TaskResult(
        id=item["id"]["S"],
        task=item["task"]["S"],
        status=Status(item["status"]["S"]),
        value=json.loads(item["value"]["S"]) if "value" in item else None,
        error_type=text("error_type"),
        error_message=text("error_message"),
        traceback=text("traceback"),
        reason=text("reason"),
        attempt=int(item["attempt"]["N"]),
        updated_at=datetime.fromisoformat(item["updated_at"]["S"]),
    )
