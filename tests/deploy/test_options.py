"""The functions' runtime, architecture and SnapStart are declared options of ``dispatcher
infra``, checked with one line each, and every format deploys them."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from dispatcher.cli import cli
from dispatcher.deploy.output import generate, write_files
from dispatcher.deploy.policy import DeploySettings
from tests.deploy.tools import SAMPLE, provider_mirror, run, terraform, tool


def _infra(*options: str, out: Path, format: str = "cloudformation") -> tuple[int, list[str]]:
    result = CliRunner().invoke(
        cli, ["infra", "samples.shop", "-f", format, "-o", str(out), *options]
    )
    return result.exit_code, result.output.strip().splitlines()


def test_defaults_are_the_newest_runtime_every_format_deploys() -> None:
    [text] = generate(SAMPLE, "cloudformation").values()
    function = yaml.safe_load(text)["Resources"]["PaymentsWorker"]["Properties"]
    assert function["Runtime"] == "python3.13" and function["Architectures"] == ["x86_64"]
    assert "SnapStart" not in function


@pytest.mark.parametrize(
    ("options", "line"),
    [
        (
            ["--runtime", "python3.9"],
            "✗ settings: runtime 'python3.9' is not one of AWS Lambda's (python3.14, python3.13, "
            "python3.12, python3.11)",
        ),
        (
            ["--architecture", "arm"],
            "✗ settings: architecture 'arm' is not one of AWS Lambda's (x86_64, arm64)",
        ),
        (
            ["--snapstart", "--runtime", "python3.11"],
            "✗ settings: snapstart needs one of python3.12, python3.13, python3.14, not python3.11",
        ),
    ],
)
def test_options_lambda_does_not_offer_are_refused_in_one_line(
    tmp_path: Path, options: list[str], line: str
) -> None:
    code, lines = _infra(*options, out=tmp_path)
    assert code == 2
    assert lines == [
        line,
        "error: app 'shop' cannot be deployed (1 problem(s)); nothing was written",
    ]
    assert list(tmp_path.iterdir()) == []


def test_terraform_refuses_a_runtime_its_provider_does_not_know(tmp_path: Path) -> None:
    code, lines = _infra("--runtime", "python3.14", out=tmp_path, format="terraform")
    assert code == 2
    assert lines == [
        "error: runtime python3.14: the hashicorp/aws provider 5.x this Terraform requires does "
        "not accept it; use --runtime python3.13 or older with --format terraform"
    ]
    code, _ = _infra("--runtime", "python3.14", out=tmp_path, format="sam")
    assert code == 0


def test_snapstart_publishes_a_version_and_the_trigger_invokes_the_alias(tmp_path: Path) -> None:
    code, _ = _infra("--snapstart", "--architecture", "arm64", out=tmp_path)
    assert code == 0
    resources = yaml.safe_load((tmp_path / "cloudformation.yaml").read_text())["Resources"]
    function = resources["PaymentsWorker"]["Properties"]
    assert function["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    assert function["Architectures"] == ["arm64"]
    assert resources["PaymentsWorkerVersion"]["Properties"]["Description"] == {
        "Fn::Sub": "code ${CodeKey}"
    }
    assert resources["PaymentsWorkerAlias"]["Properties"]["Name"] == "live"
    assert resources["PaymentsTrigger"]["Properties"]["FunctionName"] == {
        "Ref": "PaymentsWorkerAlias"
    }


@pytest.mark.slow
def test_snapstart_and_arm64_pass_the_validators(tmp_path: Path) -> None:
    settings = DeploySettings(runtime="python3.13", architecture="arm64", snapstart=True)
    for format in ("cloudformation", "sam", "terraform"):
        write_files(generate(SAMPLE, format, settings=settings, out=tmp_path), tmp_path)
    linted = run(
        [tool("cfn/bin/cfn-lint"), tmp_path / "cloudformation.yaml", tmp_path / "sam.yaml"]
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr
    sam = yaml.safe_load((tmp_path / "sam.yaml").read_text())["Resources"]["PaymentsWorker"]
    assert sam["Properties"]["AutoPublishAlias"] == "live"

    binary, mirror = terraform(), provider_mirror()
    config = tmp_path / "terraform.rc"
    config.write_text(
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path    = "{mirror}"\n'
        '    include = ["registry.terraform.io/*/*"]\n  }\n'
        '  direct {\n    exclude = ["registry.terraform.io/*/*"]\n  }\n}\n'
    )
    work = tmp_path / "tf"
    work.mkdir()
    shutil.move(tmp_path / "main.tf", work / "main.tf")
    env = {"TF_CLI_CONFIG_FILE": str(config), "TF_IN_AUTOMATION": "1", "HOME": str(tmp_path)}
    assert run([binary, "fmt", "-check", "-no-color", work]).returncode == 0
    init = run([binary, "init", "-backend=false", "-input=false", "-no-color"], cwd=work, env=env)
    assert init.returncode == 0, init.stdout + init.stderr
    validate = run([binary, "validate", "-no-color"], cwd=work, env=env)
    assert validate.returncode == 0, validate.stdout + validate.stderr
    text = (work / "main.tf").read_text()
    assert 'apply_on = "PublishedVersions"' in text
    assert "function_name                      = aws_lambda_alias.payments_worker.arn" in text


@pytest.mark.slow
def test_serverless_packages_snapstart_functions(tmp_path: Path) -> None:
    settings = DeploySettings(
        runtime="python3.13", architecture="arm64", snapstart=True, artifact="build/shop-lambda.zip"
    )
    work = tmp_path / "service"
    write_files(generate(SAMPLE, "serverless", settings=settings, out=work), work)
    (work / "build").mkdir()
    config = yaml.safe_load((work / "serverless.yml").read_text())
    assert config["package"]["artifact"] == "build/shop-lambda.zip"
    assert config["provider"]["architecture"] == "arm64"
    assert config["functions"]["payments"]["snapStart"] is True
    with zipfile.ZipFile(work / "build" / "shop-lambda.zip", "w") as archive:
        archive.writestr("placeholder.py", "")
    (tmp_path / "home").mkdir()
    env = {
        "HOME": str(tmp_path / "home"),
        "SLS_TELEMETRY_DISABLED": "1",
        "SLS_NOTIFICATIONS_MODE": "off",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    binary = tool("serverless", "run `make test` (npm ci installs serverless@3)")
    packaged = run([binary, "package"], cwd=work, env=env)
    assert packaged.returncode == 0, packaged.stdout + packaged.stderr
    template = json.loads(
        (work / ".serverless" / "cloudformation-template-update-stack.json").read_text()
    )
    function = template["Resources"]["PaymentsLambdaFunction"]["Properties"]
    assert function["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    mapping = next(
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::EventSourceMapping"
        and "Payments" in json.dumps(r["Properties"]["EventSourceArn"])
    )
    # Serverless's own SnapStart alias, "snapstart": the trigger invokes the published version.
    assert mapping["FunctionName"] == {
        "Fn::Join": [":", [{"Fn::GetAtt": ["PaymentsLambdaFunction", "Arn"]}, "snapstart"]]
    }
