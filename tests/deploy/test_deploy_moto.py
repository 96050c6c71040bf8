"""Create the generated CloudFormation stack in moto (server mode), twice in one account (stages
dev and prod), and inspect what it made: every name follows the stage, and the functions'
environment names the same resources the runtime would."""

from __future__ import annotations

import ast
import io
import json
import zipfile
from typing import Any

import boto3
import pytest
import yaml

from adapters.aws.clients import Clients
from adapters.aws.config import AwsConfig
from adapters.aws.resources import AwsNames
from samples.shop import app as shop
from tests.deploy.tools import SAMPLE_OUTPUTS

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's


def _document(document: Any) -> Any:
    """A policy document as data (moto returns CloudFormation-made ones as a Python repr)."""
    if not isinstance(document, str):
        return document
    try:
        return json.loads(document)
    except ValueError:
        return ast.literal_eval(document)


def _client(service: str, endpoint: str) -> Any:
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint)


def deploy(moto: str, stage: str) -> dict[str, str]:
    """Create the committed template's stack for ``stage``; its outputs."""
    s3 = _client("s3", moto)
    s3.create_bucket(Bucket="code-bucket")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("adapters/aws/entrypoint.py", "def handler(event, context):\n    return {}\n")
    s3.put_object(Bucket="code-bucket", Key="shop-lambda.zip", Body=archive.getvalue())

    cloudformation = _client("cloudformation", moto)
    template = (SAMPLE_OUTPUTS["cloudformation"] / "cloudformation.yaml").read_text()
    cloudformation.create_stack(
        StackName=f"shop-{stage}",
        TemplateBody=template,
        Parameters=[
            {"ParameterKey": "Stage", "ParameterValue": stage},
            {"ParameterKey": "CodeBucket", "ParameterValue": "code-bucket"},
            {"ParameterKey": "CodeKey", "ParameterValue": "shop-lambda.zip"},
        ],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    stack = cloudformation.describe_stacks(StackName=f"shop-{stage}")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


@pytest.mark.emulator
@pytest.mark.slow
def test_two_stages_deploy_side_by_side_in_one_account(moto: str) -> None:
    dev, prod = deploy(moto, "dev"), deploy(moto, "prod")
    assert (dev["Stage"], prod["Stage"]) == ("dev", "prod")
    lambda_ = _client("lambda", moto)
    functions = {f["FunctionName"] for f in lambda_.list_functions()["Functions"]}
    queues = {url.rsplit("/", 1)[-1] for url in _client("sqs", moto).list_queues()["QueueUrls"]}
    buckets = {b["Name"] for b in _client("s3", moto).list_buckets()["Buckets"]}
    tables = set(_client("dynamodb", moto).list_tables()["TableNames"])
    roles = {r["RoleName"] for r in _client("iam", moto).list_roles()["Roles"]}
    for stage in ("dev", "prod"):
        assert f"shop-{stage}-payments-worker" in functions
        assert {f"shop-{stage}-payments", f"shop-{stage}-inventory-dlq.fifo"} <= queues
        assert f"shop-{stage}-claims-{ACCOUNT}-{REGION}" in buckets
        assert f"shop-{stage}-results" in tables
        assert {f"shop-{stage}-payments-worker-role", f"shop-{stage}-delays-role"} <= roles
    assert len(functions) == 2 * len(shop.queues)


@pytest.mark.emulator
@pytest.mark.slow
def test_functions_are_told_the_names_the_stack_created(moto: str) -> None:
    outputs = deploy(moto, "dev")
    lambda_ = _client("lambda", moto)
    payments = lambda_.get_function_configuration(FunctionName="shop-dev-payments-worker")
    environment = payments["Environment"]["Variables"]
    assert environment["DISPATCHER_STAGE"] == "dev"
    assert environment["DISPATCHER_AWS_ACCOUNT_ID"] == ACCOUNT
    # moto's CloudFormation does not create AWS::Scheduler::ScheduleGroup (nor its output);
    # cfn-lint checks that resource. The name is the one the runtime builds.
    assert environment["DISPATCHER_AWS_SCHEDULER_GROUP"] == "shop-dev-delays"
    assert environment["DISPATCHER_AWS_SCHEDULER_ROLE"] == outputs["DelaysRoleArn"]
    config = AwsConfig(REGION, moto, stage="dev", account=ACCOUNT)
    names = AwsNames("shop", config, Clients(config))
    sqs = _client("sqs", moto)
    for queue, spec in shop.queues.items():
        sqs.get_queue_url(QueueName=names.queue(queue, spec.ordered))
        sqs.get_queue_url(QueueName=names.dead_letter_queue(queue, spec.ordered))
    _client("dynamodb", moto).describe_table(TableName=names.results_table())
    _client("s3", moto).head_bucket(Bucket=names.claim_check_bucket())
    policy = _client("iam", moto).get_policy(PolicyArn=outputs["ProducersPolicyArn"])["Policy"]
    assert policy["PolicyName"] == "shop-dev-producer"


@pytest.mark.emulator
@pytest.mark.slow
def test_generated_stack_creates_what_the_app_needs(moto: str) -> None:
    deploy(moto, "dev")
    s3 = _client("s3", moto)
    template = (SAMPLE_OUTPUTS["cloudformation"] / "cloudformation.yaml").read_text()
    sqs = _client("sqs", moto)
    for name, spec in shop.queues.items():
        suffix = ".fifo" if spec.ordered else ""
        url = sqs.get_queue_url(QueueName=f"shop-dev-{name}{suffix}")["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert int(attributes["VisibilityTimeout"]) >= 6 * spec.timeout
        redrive = json.loads(attributes["RedrivePolicy"])
        dlq_url = sqs.get_queue_url(QueueName=f"shop-dev-{name}-dlq{suffix}")["QueueUrl"]
        dlq = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["All"])["Attributes"]
        assert redrive["deadLetterTargetArn"] == dlq["QueueArn"]
        attempts = max(shop.tasks[t].options.retry.attempts for t in spec.tasks)
        assert int(redrive["maxReceiveCount"]) > attempts
        assert int(dlq["MessageRetentionPeriod"]) > int(attributes["MessageRetentionPeriod"])
        assert (attributes.get("FifoQueue") == "true") is spec.ordered

    lambda_ = _client("lambda", moto)
    functions = {f["FunctionName"]: f for f in lambda_.list_functions()["Functions"]}
    charge = shop.tasks["samples.shop.charge"].options
    payments = functions["shop-dev-payments-worker"]
    assert payments["MemorySize"] == charge.memory and payments["Timeout"] >= charge.timeout
    assert payments["Handler"] == "adapters.aws.entrypoint.handler"
    assert payments["Environment"]["Variables"]["DISPATCHER_APP"] == "samples.shop:app"

    mappings = {
        m["EventSourceArn"].rsplit(":", 1)[-1]: m
        for m in lambda_.list_event_source_mappings()["EventSourceMappings"]
    }
    assert set(mappings) == {
        f"shop-dev-{n}{'.fifo' if s.ordered else ''}" for n, s in shop.queues.items()
    }
    inventory = mappings["shop-dev-inventory.fifo"]
    assert inventory["BatchSize"] == 10
    assert inventory["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert inventory["FunctionArn"] == functions["shop-dev-inventory-worker"]["FunctionArn"]

    dynamodb = _client("dynamodb", moto)
    table = dynamodb.describe_table(TableName="shop-dev-results")["Table"]
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    # moto's CloudFormation ignores TimeToLiveSpecification; check the template's instead.
    ttl = yaml.safe_load(template)["Resources"]["ResultsTable"]["Properties"][
        "TimeToLiveSpecification"
    ]
    assert ttl == {"AttributeName": "expires_at", "Enabled": True}

    encryption = s3.get_bucket_encryption(Bucket=f"shop-dev-claims-{ACCOUNT}-{REGION}")
    rule = encryption["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    # moto's CloudFormation ignores LifecycleConfiguration too; the template has it.
    bucket = yaml.safe_load(template)["Resources"]["ClaimChecksBucket"]["Properties"]
    assert bucket["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == 15

    iam = _client("iam", moto)
    role_name = payments["Role"].rsplit("/", 1)[-1]
    policies = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
    document = iam.get_role_policy(RoleName=role_name, PolicyName=policies[0])["PolicyDocument"]
    statements = _document(document)["Statement"]
    consume = next(s for s in statements if "sqs:ReceiveMessage" in s["Action"])
    payments_queue = sqs.get_queue_attributes(
        QueueUrl=sqs.get_queue_url(QueueName="shop-dev-payments")["QueueUrl"],
        AttributeNames=["QueueArn"],
    )["Attributes"]["QueueArn"]
    assert consume["Resource"] in ([payments_queue], payments_queue)

    events = _client("events", moto)
    [rule] = events.list_rules()["Rules"]
    assert rule["ScheduleExpression"] == "cron(0 3 * * ? *)"
    [target] = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    reports = sqs.get_queue_attributes(
        QueueUrl=sqs.get_queue_url(QueueName="shop-dev-reports")["QueueUrl"],
        AttributeNames=["QueueArn"],
    )["Attributes"]["QueueArn"]
    assert target["Arn"] == reports
    template_text = target["InputTransformer"]["InputTemplate"]
    assert '"task": "samples.shop.nightly_stock_report"' in template_text
