"""Names follow the stage in every format, as :mod:`dispatcher.naming` builds them; the bucket's
is unique per account and region; the runtime builds the same names from its environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml
from typer.testing import CliRunner

from adapters.aws.clients import Clients
from adapters.aws.config import AwsConfig
from adapters.aws.resources import AwsNames
from dispatcher import Dispatcher, naming
from dispatcher.cli import cli
from dispatcher.deploy.errors import UndeployableApp
from dispatcher.deploy.output import generate
from dispatcher.errors import BackendNotConfigured
from tests.deploy.tools import SAMPLE

#: The property that names each kind of resource, in CloudFormation.
CFN_NAMES = {
    "AWS::SQS::Queue": "QueueName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Serverless::Function": "FunctionName",
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::Scheduler::ScheduleGroup": "Name",
    "AWS::Events::Rule": "Name",
}
#: The attribute that names each kind of resource, in Terraform.
TF_NAMES = {
    "aws_sqs_queue": "name",
    "aws_dynamodb_table": "name",
    "aws_s3_bucket": "bucket",
    "aws_lambda_function": "function_name",
    "aws_iam_role": "name",
    "aws_iam_policy": "name",
    "aws_cloudwatch_log_group": "name",
    "aws_scheduler_schedule_group": "name",
    "aws_cloudwatch_event_rule": "name",
}


def _template(format: str) -> dict[str, Any]:
    [text] = generate(SAMPLE, format).values()
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


@pytest.mark.parametrize("format", ["cloudformation", "sam"])
def test_cloudformation_names_follow_the_stage_parameter(format: str) -> None:
    template = _template(format)
    stage = template["Parameters"]["Stage"]
    assert "Default" not in stage and stage["AllowedPattern"] == naming.STAGE_PATTERN
    named = 0
    for logical, resource in template["Resources"].items():
        key = CFN_NAMES.get(resource["Type"])
        if key is None:
            continue
        value = resource["Properties"][key]
        assert isinstance(value, dict) and "${Stage}" in value["Fn::Sub"], (logical, value)
        named += 1
    assert named == sum(1 for r in template["Resources"].values() if r["Type"] in CFN_NAMES)
    bucket = template["Resources"]["ClaimChecksBucket"]["Properties"]["BucketName"]
    assert bucket == {"Fn::Sub": "shop-${Stage}-claims-${AWS::AccountId}-${AWS::Region}"}
    function = template["Resources"]["PaymentsWorker"]["Properties"]
    assert function["Environment"]["Variables"]["DISPATCHER_STAGE"] == {"Ref": "Stage"}
    assert function["Environment"]["Variables"]["DISPATCHER_AWS_ACCOUNT_ID"] == {
        "Ref": "AWS::AccountId"
    }


def test_terraform_names_follow_the_stage_variable(tmp_path: Path) -> None:
    [(name, text)] = generate(SAMPLE, "terraform").items()
    (tmp_path / name).write_text(text)
    options = hcl2.SerializationOptions(strip_string_quotes=True, explicit_blocks=False)
    with (tmp_path / name).open() as stream:
        parsed = hcl2.load(stream, serialization_options=options)
    [stage] = [v["stage"] for v in parsed["variable"] if "stage" in v]
    assert "default" not in stage
    named = 0
    for block in parsed["resource"]:
        for kind, resources in block.items():
            if kind not in TF_NAMES:
                continue
            for resource_name, body in resources.items():
                value = body[TF_NAMES[kind]]
                assert "${var.stage}" in value, (kind, resource_name, value)
                named += 1
    assert named >= 6 * 5
    assert (
        'bucket = "shop-${var.stage}-claims-${data.aws_caller_identity.current.account_id}-'
        '${var.region}"' in text
    )
    assert "DISPATCHER_STAGE               = var.stage" in text


def test_serverless_names_follow_its_stage() -> None:
    config = _template("serverless")
    assert config["provider"]["stage"] == "${opt:stage, 'dev'}"
    for key, function in config["functions"].items():
        assert function["name"] == f"shop-${{sls:stage}}-{key}-worker"
        assert function["environment"]["DISPATCHER_STAGE"] == "${sls:stage}"
    for logical, resource in config["resources"]["Resources"].items():
        key = CFN_NAMES.get(resource["Type"])
        if key is None:
            continue
        value = resource["Properties"][key]
        text = value["Fn::Sub"] if isinstance(value, dict) else value
        assert "-${sls:stage}-" in text, (logical, value)


def test_the_runtime_builds_the_deployed_names() -> None:
    config = AwsConfig("eu-west-1", stage="dev", account="123456789012")
    names = AwsNames("shop", config, Clients(config))
    assert names.queue("payments") == "shop-dev-payments"
    assert names.queue("inventory", ordered=True) == "shop-dev-inventory.fifo"
    assert names.dead_letter_queue("inventory", ordered=True) == "shop-dev-inventory-dlq.fifo"
    assert names.results_table() == "shop-dev-results"
    assert names.claim_check_bucket() == "shop-dev-claims-123456789012-eu-west-1"
    assert names.queue_arn("shop-dev-payments") == (
        "arn:aws:sqs:eu-west-1:123456789012:shop-dev-payments"
    )
    plain = AwsConfig("eu-west-1", account="123456789012")
    assert AwsNames("shop", plain, Clients(plain)).queue("payments") == "shop-payments"


def test_the_stage_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPATCHER_STAGE", "prod-eu")
    monkeypatch.setenv("DISPATCHER_AWS_ACCOUNT_ID", "123456789012")
    config = AwsConfig.from_spec("aws://eu-west-1")
    assert (config.stage, config.account) == ("prod-eu", "123456789012")
    monkeypatch.setenv("DISPATCHER_STAGE", "")
    assert AwsConfig.from_spec("aws://eu-west-1").stage is None
    monkeypatch.setenv("DISPATCHER_STAGE", "Prod!")
    with pytest.raises(BackendNotConfigured) as caught:
        AwsConfig.from_spec("aws://eu-west-1")
    assert str(caught.value) == (
        "DISPATCHER_STAGE: stage 'Prod!' is not valid: use 1 to 12 lower-case letters, digits "
        "and inner hyphens (like dev or prod-eu)"
    )
    monkeypatch.setenv("DISPATCHER_STAGE", "dev")
    monkeypatch.setenv("DISPATCHER_AWS_ACCOUNT_ID", "12345")
    with pytest.raises(BackendNotConfigured, match="'12345' is not a 12-digit account id"):
        AwsConfig.from_spec("aws://eu-west-1")


@pytest.mark.parametrize("stage", ["dev", "prod-eu", "a", "s" * 12])
def test_valid_stages(stage: str) -> None:
    assert naming.check_stage(stage) == stage
    assert naming.queue_name("shop", "payments", stage=stage) == f"shop-{stage}-payments"


@pytest.mark.parametrize("stage", ["Dev", "-dev", "dev-", "d_v", "s" * 13, "dév"])
def test_invalid_stages(stage: str) -> None:
    with pytest.raises(naming.InvalidStage):
        naming.check_stage(stage)


def test_names_without_a_stage_keep_their_form() -> None:
    assert naming.queue_name("shop", "payments") == "shop-payments"
    assert naming.dead_letter_queue_name("shop", "inventory", True) == "shop-inventory-dlq.fifo"
    assert naming.results_table_name("shop") == "shop-results"
    assert naming.function_name("shop", "payments") == "shop-payments-worker"
    assert naming.claim_check_bucket_name("shop") == "shop-claim-checks"
    assert naming.prefix("shop", "dev") == "shop-dev" and naming.prefix("shop") == "shop"
    with pytest.raises(ValueError, match="needs the account and the region"):
        naming.claim_check_bucket(app="shop", scoped=True).resolve("dev")


def test_a_name_too_long_for_aws_is_refused_in_one_line() -> None:
    app = Dispatcher("an-order-pipeline-app")

    @app.task(queue="jobs")
    def work() -> None:
        """Nothing."""

    from adapters.aws.deploy.policy import POLICY
    from dispatcher.deploy.policy import plan

    with pytest.raises(UndeployableApp) as caught:
        plan(app, POLICY, "x:app")
    assert caught.value.problems == [
        "app 'an-order-pipeline-app': the S3 bucket name "
        "'an-order-pipeline-app-<stage>-claims-<account>-<region>' can reach 69 characters with "
        "a 12-character stage, above AWS's 63; shorten the app or queue name"
    ]


def test_cli_writes_the_stage_parameter(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["infra", "samples.shop", "-f", "cloudformation", "-o", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    text = (tmp_path / "cloudformation.yaml").read_text()
    assert "QueueName:\n        Fn::Sub: shop-${Stage}-payments\n" in text
