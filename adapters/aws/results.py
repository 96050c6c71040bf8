"""A DynamoDB result store: one item per invocation id, with a TTL, and a conditional put for
the idempotency claim (SQS delivers at least once)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from adapters.aws.errors import error_code, translated
from adapters.aws.session import Clients
from dispatcher.backend import Claim, Status, TaskResult

#: How long records are kept (DynamoDB's TTL deletes them later), in seconds.
DEFAULT_TTL = 7 * 86_400
#: The item attribute DynamoDB's TTL reads (epoch seconds).
TTL_ATTRIBUTE = "expires_at"

_CLAIM_CONDITION = (
    "attribute_not_exists(id) OR "
    "((attribute_not_exists(lease_until) OR lease_until < :now) AND NOT (#s IN (:ok, :failed)))"
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
        with translated(f"saving result {result.id} to table {self.table}"):
            self.clients.dynamodb.put_item(TableName=self.table, Item=item)

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
                },
            )
        except Exception as error:
            if error_code(error) != "ConditionalCheckFailedException":
                with translated(f"claiming {task_id} in table {self.table}"):
                    raise
            current = self.get(task_id)
            return Claim.DONE if current is not None and current.status.final else Claim.BUSY
        return Claim.GRANTED


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
