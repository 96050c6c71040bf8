"""Real validators on the committed sample outputs: cfn-lint, the SAM translator, checkov,
python-hcl2, terraform fmt/validate and Serverless Framework 3. A missing tool fails the test."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import hcl2
import pytest

from dispatcher.deploy.output import generate, write_files
from tests.deploy.tools import ROOT, SAMPLE_OUTPUTS, provider_mirror, run, terraform, tool

CFN = SAMPLE_OUTPUTS["cloudformation"] / "cloudformation.yaml"
SAM = SAMPLE_OUTPUTS["sam"] / "sam.yaml"
TERRAFORM = SAMPLE_OUTPUTS["terraform"]
SERVERLESS = SAMPLE_OUTPUTS["serverless"] / "serverless.yml"
SAM_TRANSFORM = Path(__file__).with_name("sam_transform.py")
EDGE = "tests.deploy.apps:edge"


@pytest.mark.slow
@pytest.mark.parametrize("template", [CFN, SAM], ids=["cloudformation", "sam"])
def test_cfn_lint_finds_nothing(template: Path) -> None:
    result = run([tool("cfn/bin/cfn-lint"), template])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_other_shapes_lint_and_format(tmp_path: Path) -> None:
    """Reserved concurrency, a rate schedule and a maximum concurrency (tests.deploy.apps:edge)."""
    for format in ("cloudformation", "sam", "terraform"):
        write_files(generate(EDGE, format), tmp_path)
    linted = run(
        [tool("cfn/bin/cfn-lint"), tmp_path / "cloudformation.yaml", tmp_path / "sam.yaml"]
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr
    formatted = run([terraform(), "fmt", "-check", "-diff", "-no-color", tmp_path / "main.tf"])
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr


def test_sam_translator_transforms_the_sam_template() -> None:
    result = run(
        [tool("cfn/bin/python"), SAM_TRANSFORM, SAM], env={"AWS_DEFAULT_REGION": "us-east-1"}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    transformed = json.loads(result.stdout)
    types = [r["Type"] for r in transformed["Resources"].values()]
    assert "AWS::Serverless::Function" not in types
    assert types.count("AWS::Lambda::Function") == 6
    assert types.count("AWS::Lambda::EventSourceMapping") == 6


@pytest.mark.slow
@pytest.mark.parametrize(
    ("framework", "target"),
    [("cloudformation", ["-f", str(CFN)]), ("terraform", ["-d", str(TERRAFORM)])],
    ids=["cloudformation", "terraform"],
)
def test_checkov_passes_or_skips_with_reasons(framework: str, target: list[str]) -> None:
    command: list[str | Path] = [
        tool("checkov/bin/checkov"),
        "--skip-download",
        "--framework",
        framework,
        "--output",
        "json",
        *target,
    ]
    result = run(command)
    report = json.loads(result.stdout)
    failed = [f"{c['check_id']} {c['resource']}" for c in report["results"]["failed_checks"]]
    assert not failed, failed
    assert report["summary"]["passed"] > 0
    for skipped in report["results"]["skipped_checks"]:
        comment = skipped.get("check_result", {}).get("suppress_comment", "")
        assert comment and comment != "No comment provided", skipped["check_id"]


def test_python_hcl2_parses_the_terraform() -> None:
    options = hcl2.SerializationOptions(strip_string_quotes=True, explicit_blocks=False)
    with (TERRAFORM / "main.tf").open() as stream:
        parsed = hcl2.load(stream, serialization_options=options)
    resources = {
        (kind, name)
        for block in parsed["resource"]
        for kind, named in block.items()
        for name in named
    }
    assert ("aws_lambda_event_source_mapping", "inventory_trigger") in resources
    assert ("aws_sqs_queue", "inventory_dlq") in resources
    assert ("aws_dynamodb_table", "results") in resources


def test_terraform_fmt_accepts_the_layout() -> None:
    result = run([terraform(), "fmt", "-check", "-diff", "-no-color", TERRAFORM])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_terraform_validate_with_the_mirrored_provider(tmp_path: Path) -> None:
    binary, mirror = terraform(), provider_mirror()
    config = tmp_path / "terraform.rc"
    config.write_text(
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path    = "{mirror}"\n'
        '    include = ["registry.terraform.io/*/*"]\n  }\n'
        '  direct {\n    exclude = ["registry.terraform.io/*/*"]\n  }\n}\n'
    )
    work = tmp_path / "work"
    shutil.copytree(TERRAFORM, work)
    env = {"TF_CLI_CONFIG_FILE": str(config), "TF_IN_AUTOMATION": "1", "HOME": str(tmp_path)}
    init = run([binary, "init", "-backend=false", "-input=false", "-no-color"], cwd=work, env=env)
    assert init.returncode == 0, init.stdout + init.stderr
    validate = run([binary, "validate", "-no-color"], cwd=work, env=env)
    assert validate.returncode == 0, validate.stdout + validate.stderr


@pytest.mark.slow
def test_serverless_packages_and_its_template_lints(tmp_path: Path) -> None:
    binary = tool("serverless", "run `make test` (npm ci installs serverless@3)")
    work = tmp_path / "service"
    (work / "build").mkdir(parents=True)
    shutil.copy(SERVERLESS, work / "serverless.yml")
    with zipfile.ZipFile(work / "build" / "shop-lambda.zip", "w") as archive:
        archive.writestr("placeholder.py", "")
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "HOME": str(home),
        "SLS_TELEMETRY_DISABLED": "1",
        "SLS_NOTIFICATIONS_MODE": "off",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    packaged = run([binary, "package"], cwd=work, env=env)
    assert packaged.returncode == 0, packaged.stdout + packaged.stderr
    template = work / ".serverless" / "cloudformation-template-update-stack.json"
    resources = json.loads(template.read_text())["Resources"]
    assert resources["InventoryEventSourceMappingSQSInventoryQueue"]["Properties"][
        "FunctionResponseTypes"
    ] == ["ReportBatchItemFailures"]
    # W3005: Serverless itself adds a DependsOn on each custom role that Role's GetAtt implies.
    linted = run([tool("cfn/bin/cfn-lint"), "--ignore-checks", "W3005", "--", template])
    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert ROOT.exists()
