"""A static guard beside the IAM-enforced run (`test_iam.py`): every AWS call written in the
modules a Lambda worker runs is granted by the role the deploy policy gives every worker, so
a call on a path the sample does not take (a claim released after a failed dead-letter send,
say) cannot drift from the policy either."""

from __future__ import annotations

import ast
from pathlib import Path

import botocore.session
from botocore import xform_name

from adapters.aws.deploy.policy import POLICY
from adapters.aws.deploy.records import IamRole
from dispatcher.deploy.policy import plan
from samples.shop import app as shop

ROOT = Path(__file__).resolve().parents[2]
#: What a worker function runs (the operations side, provisioning and emulation run as the
#: operator, not as the function's role).
WORKER_MODULES = (
    "entrypoint",
    "receiver",
    "producer",
    "results",
    "payloads",
    "scheduler",
    "pacing",
)
#: IAM authorises the batch form of these SQS calls as the single one.
BATCH_AS_SINGLE = {
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}


def _calls() -> dict[str, set[str]]:
    """service -> snake_case operations called as ``clients.<service>.<operation>(...)``."""
    found: dict[str, set[str]] = {}
    for module in WORKER_MODULES:
        path = ROOT / "adapters" / "aws" / f"{module}.py"
        if not path.exists():
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            service = node.func.value
            if (
                isinstance(service, ast.Attribute)
                and isinstance(service.value, ast.Attribute)
                and service.value.attr == "clients"
            ):
                found.setdefault(service.attr, set()).add(node.func.attr)
    return found


def _actions(calls: dict[str, set[str]]) -> set[str]:
    session = botocore.session.get_session()
    actions: set[str] = set()
    for service, operations in calls.items():
        model = session.get_service_model(service)
        by_snake = {xform_name(name): name for name in model.operation_names}
        prefix = model.signing_name
        for operation in operations:
            assert operation in by_snake, f"{service}.{operation} is not an AWS operation"
            action = f"{prefix}:{by_snake[operation]}"
            actions.add(BATCH_AS_SINGLE.get(action, action))
    return actions


def test_every_call_a_worker_makes_is_granted_to_every_worker_role() -> None:
    calls = _calls()
    assert {"dynamodb", "sqs", "s3"} <= set(calls), calls
    needed = _actions(calls)
    decided = plan(shop, POLICY, "samples.shop:app")
    roles = [
        r for r in decided.records if isinstance(r, IamRole) and r.service.startswith("lambda")
    ]
    assert roles
    for role in roles:
        granted = {action for statement in role.statements for action in statement.actions}
        assert needed <= granted, f"{role.name} lacks {sorted(needed - granted)}"
