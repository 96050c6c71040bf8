"""A moto server for the IAM test: ``python -m tests.aws.iam_server PORT LOG``.

It is moto's own server, with one addition: while IAM enforcement is on (``POST
/moto-api/reset-auth`` with ``0``, moto's ``INITIAL_NO_AUTH_ACTION_COUNT``), every signed
request is written to ``LOG`` (one JSON object a line): the caller's access key, the API call,
the IAM action AWS authorizes it as, the resources it touches, and the permissions AWS also
requires for it. The test then checks each line against the caller's policies with moto's own
policy evaluator (``moto.iam.access_control.IAMPolicy``).

moto enforces what it can see: SQS actions on the queue's ARN, S3 actions on the bucket or
object. Where its enforcement cannot judge a request it is left to the test's check, so that a
request is neither wrongly refused nor wrongly let through:

- DynamoDB and EventBridge Scheduler requests: moto checks them against resource ``*`` only,
  which no least-privilege statement matches. Their resources are read from the request (the
  table of ``TableName`` or ``RequestItems``; ``schedule/<group>/<name>``).
- ``GetQueueUrl``: moto reads no queue from it (it names ``QueueName``, not ``QueueUrl``).
- SQS batch calls: AWS authorizes ``SendMessageBatch`` as ``sqs:SendMessage`` (likewise
  ``DeleteMessageBatch``, ``ChangeMessageVisibilityBatch``,
  https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-api-permissions-reference.html);
  moto asks for ``sqs:SendMessageBatch``.

Permissions AWS requires beyond the call's own action, recorded as ``implied``:

- ``CreateSchedule`` needs ``iam:PassRole`` on the target's role, passed to
  ``scheduler.amazonaws.com`` (https://docs.aws.amazon.com/scheduler/latest/UserGuide/setting-up.html).
- ``GetObject`` answers 404 for a missing key only with ``s3:ListBucket`` on the bucket, 403
  without (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html); the consumer
  dead-letters a missing claim check on the 404 and retries a 403, so it needs ListBucket.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from moto import settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.server import main

#: SQS batch calls and the action AWS authorizes them as.
SQS_BATCHES = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}

_lock = threading.Lock()
_log_path = ""
_enforce = ActionAuthenticatorMixin._authenticate_and_authorize_action


def _credential(headers: Any) -> tuple[str, str, str] | None:
    """(access key, region, service) of a SigV4-signed request."""
    authorization = headers.get("Authorization") or ""
    scope = authorization.partition("Credential=")[2].partition(",")[0].split("/")
    if len(scope) < 4:
        return None
    return scope[0], scope[2], scope[3]


def _body(response: Any) -> dict[str, Any]:
    if isinstance(response.body, dict):  # moto's DynamoDB keeps the parsed parameters there
        return response.body
    try:
        loaded = json.loads(response.body or "{}")
    except (TypeError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def describe(response: Any, resource: str) -> dict[str, Any] | None:
    """What the request asks of IAM, and whether moto can judge it."""
    found = _credential(response.headers)
    if found is None:
        return None
    key, region, service = found
    account = response.current_account
    api = response.data.get("Action") if service == "s3" else response._get_action()
    action, resources, implied, moto_judges = f"{service}:{api}", [resource], [], True
    if service == "sqs" and api in SQS_BATCHES:
        action, moto_judges = f"sqs:{SQS_BATCHES[api]}", False
    elif service == "sqs" and api == "GetQueueUrl":
        name = response._get_param("QueueName")
        resources, moto_judges = [f"arn:aws:sqs:{region}:{account}:{name}"], False
    elif service == "dynamodb":
        body = _body(response)
        tables = [body["TableName"]] if "TableName" in body else list(body.get("RequestItems", {}))
        resources = [f"arn:aws:dynamodb:{region}:{account}:table/{t}" for t in tables] or ["*"]
        moto_judges = False
    elif service == "scheduler":
        parsed = urlparse(response.uri)
        body = _body(response)
        query = parse_qs(parsed.query)
        group = body.get("GroupName") or (query.get("groupName") or ["default"])[0]
        name = unquote(parsed.path.rstrip("/").rsplit("/", 1)[-1])
        if "/schedules/" in parsed.path:
            resources = [f"arn:aws:scheduler:{region}:{account}:schedule/{group}/{name}"]
        elif "/schedule-groups/" in parsed.path:
            resources = [f"arn:aws:scheduler:{region}:{account}:schedule-group/{name}"]
        else:
            resources = ["*"]
        if api == "CreateSchedule":
            implied.append(
                {
                    "action": "iam:PassRole",
                    "resource": body.get("Target", {}).get("RoleArn", ""),
                    "context": {"iam:PassedToService": "scheduler.amazonaws.com"},
                }
            )
        moto_judges = False
    elif service == "s3" and api == "GetObject":
        bucket = resource.split(":::", 1)[-1].split("/", 1)[0]
        implied.append({"action": "s3:ListBucket", "resource": f"arn:aws:s3:::{bucket}"})
    return {
        "key": key,
        "api": f"{service}:{api}",
        "action": action,
        "resources": resources,
        "implied": implied,
        "judged_by": "moto" if moto_judges else "test",
    }


def recorded(self: Any, iam_request_cls: type, resource: str = "*") -> None:
    """moto's authorization, with every enforced request written down first."""
    enforcing = ActionAuthenticatorMixin.request_count >= settings.INITIAL_NO_AUTH_ACTION_COUNT
    entry = describe(self, resource) if enforcing else None
    if entry is not None:
        with _lock, open(_log_path, "a", encoding="utf-8") as log:
            log.write(json.dumps(entry) + "\n")
        if entry["judged_by"] == "test":
            return
    _enforce(self, iam_request_cls, resource)


if __name__ == "__main__":
    port, _log_path = sys.argv[1], sys.argv[2]
    ActionAuthenticatorMixin._authenticate_and_authorize_action = recorded  # type: ignore[method-assign]
    main(["-H", "127.0.0.1", "-p", port])
