"""The generated IAM policies match the calls the runtime makes: the sample runs on a moto server
with IAM enforcement on, its Lambda handlers under the roles the committed CloudFormation
template creates and its producer under the managed policy the template gives producers.

Sends, claims, results (one PutItem or a BatchWriteItem per event), the claim check (put, get,
delete, and a missing object), dead letters (standard and FIFO), a delay hop, a visibility change
for a backoff and a long delay on EventBridge Scheduler all happen. moto refuses what the
policies do not allow where it can judge (SQS, S3); every request is also recorded at the
server (``tests/aws/iam_server.py``) and checked here, with moto's own policy evaluator, against
the caller's policies, together with the permissions AWS requires beyond the call itself
(``iam:PassRole`` for a schedule, ``s3:ListBucket`` for a 404). A drift between the runtime's
calls and the policies fails this test.
"""

from __future__ import annotations

import ast
import io
import json
import os
import subprocess
import sys
import urllib.request
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.iam.access_control import IAMPolicy, PermissionResult

from adapters.aws.clients import Clients
from adapters.aws.config import AwsConfig
from adapters.aws.dead_letters import ATTRIBUTE, Note
from adapters.aws.payloads import ATTRIBUTE as CLAIM_CHECK
from adapters.aws.producer import AwsBackend
from adapters.aws.runtime import LocalLambdaRuntime
from adapters.aws.scheduler import GROUP_ENV, ROLE_ENV
from samples import shop
from tests.deploy.tools import SAMPLE_OUTPUTS
from tests.servers import ROOT, free_port, wait_for_port

pytestmark = [pytest.mark.emulator, pytest.mark.slow]

REGION = "us-east-1"
STAGE = "dev"
#: Needs no permission (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html).
FREE = {"sts:GetCallerIdentity"}
#: What the Lambda service's poller does with the function's role (the local runtime does it
#: with the test's own credentials, so these are checked on the policy itself).
POLLER = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")


@dataclass(frozen=True)
class Keys:
    """An access key (with its session token for a role)."""

    key: str
    secret: str
    token: str | None = None

    def env(self) -> dict[str, str]:
        """As the Lambda service puts a role's credentials in a function's environment."""
        env = {"AWS_ACCESS_KEY_ID": self.key, "AWS_SECRET_ACCESS_KEY": self.secret}
        if self.token:
            env["AWS_SESSION_TOKEN"] = self.token
        return env


class KeyedClients(Clients):
    """boto3 clients signing with one principal's keys."""

    def __init__(self, config: AwsConfig, keys: Keys) -> None:
        super().__init__(config)
        self.keys = keys

    def _create(self, service: str) -> Any:
        return boto3.session.Session().client(
            service,
            region_name=self.config.region,
            endpoint_url=self.config.endpoint,
            aws_access_key_id=self.keys.key,
            aws_secret_access_key=self.keys.secret,
            aws_session_token=self.keys.token,
        )


@dataclass(frozen=True)
class Server:
    """The recording moto server."""

    url: str
    log: Path

    def requests(self) -> list[dict[str, Any]]:
        """Every request recorded while enforcement was on."""
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line]

    def enforce(self) -> None:
        """Turn IAM enforcement on for every request from now on."""
        request = urllib.request.Request(
            f"{self.url}/moto-api/reset-auth",
            b"0",
            method="POST",
            headers={"Content-Type": "text/plain"},  # a form body would be read as a form
        )
        with urllib.request.urlopen(request, timeout=10):
            pass


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A fresh recording moto server (IAM enforcement is global to a server)."""
    port, log = free_port(), tmp_path / "requests.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.aws.iam_server", str(port), str(log)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process)
        yield Server(f"http://127.0.0.1:{port}", log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _document(document: Any) -> dict[str, Any]:
    """A policy document as data (moto returns CloudFormation-made ones as a Python repr)."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            document = ast.literal_eval(document)
    assert isinstance(document, dict)
    return document


def _allowed(
    policies: list[dict[str, Any]],
    action: str,
    resource: str,
    context: dict[str, str] | None = None,
) -> bool:
    """moto's evaluator: allowed by one policy and denied by none."""
    results = [
        IAMPolicy(json.dumps(policy)).is_action_permitted(action, resource, None, context)
        for policy in policies
    ]
    return PermissionResult.DENIED not in results and PermissionResult.PERMITTED in results


@dataclass
class Deployment:
    """The sample's stack on the server, and the principals the test acts as."""

    server: Server
    admin: Keys
    producer: Keys
    roles: dict[str, Keys]
    environments: dict[str, dict[str, str]]
    policies: dict[str, list[dict[str, Any]]]
    outputs: dict[str, str]

    def client(self, service: str, keys: Keys | None = None) -> Any:
        keys = keys or self.admin
        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=self.server.url,
            aws_access_key_id=keys.key,
            aws_secret_access_key=keys.secret,
            aws_session_token=keys.token,
        )


def deploy(server: Server) -> Deployment:
    """As a deployer would: the committed template's stack for stage dev, a producer user with
    the template's producer policy, and each function's role (with its environment)."""
    setup = Keys("testing", "testing")  # enforcement is still off
    plain = Deployment(server, setup, setup, {}, {}, {}, {})
    iam = plain.client("iam")
    iam.create_user(UserName="admin")
    iam.put_user_policy(
        UserName="admin",
        PolicyName="everything",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            }
        ),
    )
    created = iam.create_access_key(UserName="admin")["AccessKey"]
    admin = Keys(created["AccessKeyId"], created["SecretAccessKey"])

    s3 = plain.client("s3")
    s3.create_bucket(Bucket="code")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("placeholder.py", "")
    s3.put_object(Bucket="code", Key="shop-lambda.zip", Body=archive.getvalue())
    cloudformation = plain.client("cloudformation")
    cloudformation.create_stack(
        StackName=f"shop-{STAGE}",
        TemplateBody=(SAMPLE_OUTPUTS["cloudformation"] / "cloudformation.yaml").read_text(),
        Parameters=[
            {"ParameterKey": "Stage", "ParameterValue": STAGE},
            {"ParameterKey": "CodeBucket", "ParameterValue": "code"},
            {"ParameterKey": "CodeKey", "ParameterValue": "shop-lambda.zip"},
        ],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    stack = cloudformation.describe_stacks(StackName=f"shop-{STAGE}")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}

    lambda_, sts = plain.client("lambda"), plain.client("sts")
    # moto runs a stack's event source mappings itself, handing each message to a Lambda
    # container it cannot start without Docker, and drops it: the mappings are switched off,
    # and the local runtime polls as the Lambda service would.
    for mapping in lambda_.list_event_source_mappings()["EventSourceMappings"]:
        lambda_.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
    roles: dict[str, Keys] = {}
    environments: dict[str, dict[str, str]] = {}
    policies: dict[str, list[dict[str, Any]]] = {}
    for queue in shop.app.queues:
        function = lambda_.get_function_configuration(FunctionName=f"shop-{STAGE}-{queue}-worker")
        environments[queue] = dict(function["Environment"]["Variables"])
        role = function["Role"].rsplit("/", 1)[-1]
        documents = []
        for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
            document = _document(
                iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
            )
            # moto's CloudFormation keeps an inline role policy as a dict, which its own
            # enforcement cannot read: the same document is written back as JSON.
            iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(document))
            documents.append(document)
        credentials = sts.assume_role(RoleArn=function["Role"], RoleSessionName=queue)[
            "Credentials"
        ]
        roles[queue] = Keys(
            credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"]
        )
        policies[roles[queue].key] = documents
    # moto's CloudFormation does not create AWS::Scheduler::ScheduleGroup (cfn-lint checks the
    # resource); the group the functions are told of is made as the stack would.
    plain.client("scheduler").create_schedule_group(Name=environments["payments"][GROUP_ENV])

    iam.create_user(UserName="web")
    iam.attach_user_policy(UserName="web", PolicyArn=outputs["ProducersPolicyArn"])
    created = iam.create_access_key(UserName="web")["AccessKey"]
    producer = Keys(created["AccessKeyId"], created["SecretAccessKey"])
    version = iam.get_policy(PolicyArn=outputs["ProducersPolicyArn"])["Policy"]["DefaultVersionId"]
    policies[producer.key] = [
        _document(
            iam.get_policy_version(PolicyArn=outputs["ProducersPolicyArn"], VersionId=version)[
                "PolicyVersion"
            ]["Document"]
        )
    ]
    server.enforce()
    return Deployment(server, admin, producer, roles, environments, policies, outputs)


def _statuses(admin: AwsBackend) -> Counter[tuple[str, str]]:
    items = admin.clients.dynamodb.scan(TableName=admin.results.table)["Items"]
    return Counter(
        (i["task"]["S"].rsplit(".", 1)[-1], i["status"]["S"])
        for i in items
        if not i["id"]["S"].startswith("dedup#")
    )


def _notes(admin: AwsBackend, queue: str) -> list[Note]:
    target = admin.target(queue)
    url = admin.queue_url(admin.names.dead_letter_queue(queue, target.ordered))
    messages = admin.clients.sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=0
    ).get("Messages", [])
    notes = [Note.decode(m["MessageAttributes"][ATTRIBUTE]["StringValue"]) for m in messages]
    return [n for n in notes if n is not None]


def test_the_sample_runs_under_the_generated_policies(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = deploy(server)
    for name in (GROUP_ENV, ROLE_ENV):  # the producer reads the stack's outputs
        monkeypatch.setenv(name, deployment.environments["payments"][name])
    monkeypatch.setenv("DISPATCHER_STAGE", STAGE)
    monkeypatch.delenv("DISPATCHER_AWS_ACCOUNT_ID", raising=False)  # asked of STS
    config = AwsConfig.from_spec(f"aws://{REGION}")._replace(endpoint=server.url)
    producer = AwsBackend(
        shop.app, config, clients=KeyedClients(config, deployment.producer), max_message_size=1024
    )
    admin = AwsBackend(shop.app, config, clients=KeyedClients(config, deployment.admin))
    shop.app.use(producer)
    queue_env = {
        queue: {**deployment.environments[queue], **deployment.roles[queue].env()}
        for queue in shop.app.queues
    }
    runtime = LocalLambdaRuntime(admin, "samples.shop:app", queue_env=queue_env)
    items = [shop.LineItem(sku="MUG-01", quantity=1, unit_cents=500)]
    try:
        first = shop.place_order.delay(
            shop.Order(id=1, email="a@b.c", country="FR", items=[*items, items[0]])
        )
        refused = shop.place_order.delay(shop.Order(id=3, email="d@e.f", country="XX", items=items))
        big = shop.place_order.delay(  # above the producer's 1 KiB: a claim check
            shop.Order(id=5, email="g@h.i", country="DE", items=items * 20)
        )
        shop.update_stock.delay("NOPE-1", 1)  # dead-lettered from a FIFO queue
        later = shop.charge.send(args=(7, 100), countdown=3 * 86_400)  # EventBridge Scheduler
        # As if a message's 900 s delay had passed with its eta still 1000 s ahead: it hops.
        hop = shop.ship_order.message((9, "DE"), countdown=1000)
        admin.clients.sqs.send_message(
            QueueUrl=admin.target("shipping").url, MessageBody=hop.body.decode()
        )
        # A claim check whose object is gone: a 404, dead-lettered with its reason.
        gone = f"s3://{admin.names.claim_check_bucket()}/orders/gone.json"
        admin.clients.sqs.send_message(
            QueueUrl=admin.target("orders").url,
            MessageBody=json.dumps({"claim_check": gone}),
            MessageAttributes={CLAIM_CHECK: {"DataType": "String", "StringValue": gone}},
        )
        expected = {
            ("place_order", "succeeded"): 3,
            ("charge", "succeeded"): 3,
            ("send_receipt", "succeeded"): 3,
            ("update_stock", "succeeded"): 2 + 1 + 20,
            ("update_stock", "failed"): 1,
            ("ship_order", "succeeded"): 2,
            ("ship_order", "failed"): 1,
        }

        def done() -> bool:
            return _statuses(admin) == expected and bool(_notes(admin, "orders"))

        assert runtime.run_until(done, timeout=180), _statuses(admin)
        assert first.result(timeout=5) == 1000 and big.result(timeout=5) == 10_000
        assert refused.result(timeout=5) == 500
    finally:
        runtime.close()
        shop.app.use("memory")

    assert runtime.stats.crashed == 0
    assert [n.reason for n in _notes(admin, "shipping")] == [
        "non-retryable error on attempt 1: NonRetryable: we do not ship to 'XX'"
    ]
    assert [n.cause for n in _notes(admin, "inventory")] == ["non_retryable"]
    [missing] = _notes(admin, "orders")
    assert missing.cause == "payload" and "is missing" in missing.reason
    counts = admin.queue_stats(["shipping"])[0]
    assert counts.delayed == 1  # the hop
    schedules = deployment.client("scheduler").list_schedules(
        GroupName=deployment.environments["payments"][GROUP_ENV]
    )["Schedules"]
    assert [s["Name"] for s in schedules] == [later.id]

    requests = server.requests()
    checked = _check(deployment, requests)
    for call in (
        "dynamodb:PutItem",
        "dynamodb:GetItem",
        "dynamodb:BatchWriteItem",
        "sqs:SendMessage",
        "sqs:ChangeMessageVisibilityBatch",  # authorized as sqs:ChangeMessageVisibility
        "sqs:GetQueueUrl",
        "s3:PutObject",
        "s3:GetObject",
        "s3:DeleteObject",
        "scheduler:CreateSchedule",
    ):
        assert call in checked, f"the sample made no {call} call: the test lost its coverage"
    _check_static(deployment, schedules)


def _check(deployment: Deployment, requests: list[dict[str, Any]]) -> set[str]:
    """Every request of a function or the producer is allowed by its policies (with what AWS
    requires beyond it); the calls seen."""
    principals = {**{k.key: f"role of {q}" for q, k in deployment.roles.items()}}
    principals[deployment.producer.key] = "producer policy"
    refused: list[str] = []
    seen: set[str] = set()
    for request in requests:
        who = principals.get(request["key"])
        if who is None or request["action"] in FREE:
            continue
        seen.add(request["api"])
        policies = deployment.policies[request["key"]]
        for resource in request["resources"]:
            if not _allowed(policies, request["action"], resource):
                refused.append(f"{who}: {request['action']} on {resource} ({request['api']})")
        for implied in request["implied"]:
            if not _allowed(
                policies, implied["action"], implied["resource"], implied.get("context")
            ):
                refused.append(
                    f"{who}: {implied['action']} on {implied['resource']} "
                    f"(needed by {request['api']})"
                )
    assert not refused, "\n".join(sorted(set(refused)))
    return seen


def _check_static(deployment: Deployment, schedules: list[dict[str, Any]]) -> None:
    """What no request here made under a generated policy: the Lambda poller's calls, and the
    scheduler's delivery of each schedule (with the role the schedule names)."""
    sqs = deployment.client("sqs")
    for queue, keys in deployment.roles.items():
        spec = shop.app.queues[queue]
        name = f"shop-{STAGE}-{queue}{'.fifo' if spec.ordered else ''}"
        arn = sqs.get_queue_attributes(
            QueueUrl=sqs.get_queue_url(QueueName=name)["QueueUrl"], AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        for action in POLLER:
            assert _allowed(deployment.policies[keys.key], action, arn), (queue, action)
    iam = deployment.client("iam")
    scheduler = deployment.client("scheduler")
    for summary in schedules:
        schedule = scheduler.get_schedule(GroupName=summary["GroupName"], Name=summary["Name"])
        target = schedule["Target"]
        role = target["RoleArn"].rsplit("/", 1)[-1]
        documents = [
            _document(iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"])
            for name in iam.list_role_policies(RoleName=role)["PolicyNames"]
        ]
        for arn in (target["Arn"], target["DeadLetterConfig"]["Arn"]):
            assert _allowed(documents, "sqs:SendMessage", arn), arn
