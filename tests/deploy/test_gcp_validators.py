"""Real validators on the committed GCP sample (``infra/shop/gcp/terraform/main.tf``) and on the
receiver's build context: python-hcl2, ``terraform fmt -check``, checkov, and Terraform itself
evaluating the names the runtime must agree with. A missing tool fails the test.

``terraform validate`` cannot run here: it needs the hashicorp/google provider, and only the
AWS provider is mirrored on our machines (no registry is reachable), so the Terraform checks
below are the formatter and the console on the provider-free parts of the file.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import hcl2
import pytest

from adapters.gcp.config import GcpConfig, bucket_name
from adapters.gcp.package import PACKAGER
from tests.deploy.tools import PROVIDER_OUTPUTS, run, terraform, tool

TERRAFORM = PROVIDER_OUTPUTS["gcp", "terraform"]
MAIN = TERRAFORM / "main.tf"


def _resources() -> dict[str, dict[str, Any]]:
    options = hcl2.SerializationOptions(strip_string_quotes=True, explicit_blocks=False)
    with MAIN.open() as stream:
        parsed = hcl2.load(stream, serialization_options=options)
    found: dict[str, dict[str, Any]] = {}
    for block in parsed["resource"]:
        for kind, named in block.items():
            for name, body in named.items():
                found[f"{kind}.{name}"] = body
    return found


def test_python_hcl2_parses_the_terraform() -> None:
    resources = _resources()
    queue = resources["google_cloud_tasks_queue.notifications"]
    assert queue["rate_limits"] == [  # send_receipt's rate_limit="50/s"
        {"max_dispatches_per_second": 50.0, "max_concurrent_dispatches": 1000}
    ]
    [ordered] = resources["google_cloud_tasks_queue.inventory"]["rate_limits"]
    assert ordered["max_concurrent_dispatches"] == 1  # group_by: one at a time
    [template] = resources["google_cloud_run_v2_service.payments_worker"]["template"]
    assert template["timeout"] == "40s"  # the task's 30 s and 10 s to record the result
    job = resources["google_cloud_scheduler_job.nightly_stock_report_schedule"]
    assert job["schedule"] == "0 3 * * *"
    assert len(resources["google_storage_bucket.results"]["lifecycle_rule"]) == 4
    assert "google_cloud_run_v2_service_iam_member.payments_worker_invoker" in resources


def test_terraform_fmt_accepts_the_layout() -> None:
    result = run([terraform(), "fmt", "-check", "-diff", "-no-color", TERRAFORM])
    assert result.returncode == 0, result.stdout + result.stderr


def _checkov(framework: str, *target: str | Path) -> dict[str, object]:
    command: list[str | Path] = [
        tool("checkov/bin/checkov"),
        "--skip-download",
        "--framework",
        framework,
        "--output",
        "json",
        *target,
    ]
    report: dict[str, object] = json.loads(run(command).stdout)
    return report


def _assert_clean(report: dict[str, object]) -> None:
    results, summary = report["results"], report["summary"]
    assert isinstance(results, dict) and isinstance(summary, dict)
    failed = [f"{c['check_id']} {c['resource']}" for c in results["failed_checks"]]
    assert not failed, failed
    assert summary["passed"] > 0
    for skipped in results["skipped_checks"]:
        comment = skipped.get("check_result", {}).get("suppress_comment", "")
        assert comment and comment != "No comment provided", skipped["check_id"]


@pytest.mark.slow
def test_checkov_passes_the_terraform_or_skips_with_reasons() -> None:
    _assert_clean(_checkov("terraform", "-d", TERRAFORM))


@pytest.mark.slow
def test_checkov_passes_the_dockerfile_or_skips_with_reasons(tmp_path: Path) -> None:
    built = PACKAGER.build("samples.shop:app", tmp_path / "context")
    _assert_clean(_checkov("dockerfile", "-f", built.path / "Dockerfile"))


# --- Terraform's own evaluation of the names the runtime follows ---------------------------


def _lines(text: str, start: str) -> str:
    """The block of ``text`` that starts with the line ``start``, to its closing brace."""
    lines = text.splitlines()
    first = lines.index(start)
    indent = len(start) - len(start.lstrip())
    for last in range(first + 1, len(lines)):
        if lines[last] == " " * indent + "}":
            return "\n".join(lines[first : last + 1])
    raise AssertionError(f"no end to {start!r}")


def _names_config(folder: Path) -> Path:
    """The variables and locals of the committed file that names derive from, without the
    provider (which cannot be installed here): the service URL, which needs the project's
    number from Google, is left out."""
    text = MAIN.read_text()
    blocks = [_lines(text, 'variable "stage" {')]
    start = 0
    while (start := text.find("\nlocals {\n", start)) != -1:
        block = _lines(text[start + 1 :], "locals {")
        blocks.append("\n".join(line for line in block.splitlines() if "service_url" not in line))
        start += 1
    variables = [f'variable "{name}" {{\n  type = string\n}}' for name in ("project", "region")]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "main.tf").write_text("\n\n".join(variables + blocks) + "\n")
    return folder


def _console(
    folder: Path, expression: str, project: str, stage: str, region: str = "europe-west1"
) -> tuple[int, str]:
    variables = {"project": project, "stage": stage, "region": region}
    result = run(
        [terraform(), "console", "-no-color", *(f"-var={k}={v}" for k, v in variables.items())],
        cwd=folder,
        env={"TF_IN_AUTOMATION": "1", "HOME": str(folder), "TF_CLI_CONFIG_FILE": "/dev/null"},
        input=expression + "\n",
    )
    output = (result.stdout + result.stderr).strip()
    return (result.returncode or int("Error:" in output)), output


@pytest.mark.slow
@pytest.mark.parametrize(
    ("project", "stage", "region"),
    [
        ("my-project", "dev", "europe-west1"),
        ("a-very-long-project-id-here", "prod-eu-west", "us-central1"),
        ("project-with-thirty-characters", "abcdefghijkl", "northamerica-northeast1"),
    ],
)
def test_terraform_names_the_bucket_as_the_runtime_does(
    tmp_path: Path, project: str, stage: str, region: str
) -> None:
    folder = _names_config(tmp_path / "names")
    code, out = _console(folder, "local.bucket", project, stage, region)
    assert code == 0, out
    config = GcpConfig.from_spec(f"gcp://{project}/{region}", "shop", {"DISPATCHER_STAGE": stage})
    assert json.loads(out.splitlines()[-1]) == config.bucket
    assert config.bucket == bucket_name("shop", stage, project, region)


@pytest.mark.slow
def test_terraform_keeps_service_account_ids_within_30_characters(tmp_path: Path) -> None:
    folder = _names_config(tmp_path / "names")
    code, out = _console(folder, "jsonencode(local.account_ids)", "my-project", "abcdefghijkl")
    assert code == 0, out
    ids: dict[str, str] = json.loads(json.loads(out.splitlines()[-1]))
    assert ids["invoker"] == "shop-abcdefghijkl-invoke"
    assert len(ids["notifications_identity"]) == 30  # shop-abcdefghijkl-notifications-run
    assert all(re.match(r"^[a-z]([-a-z0-9]{4,28}[a-z0-9])$", i) for i in ids.values()), ids
    assert len(set(ids.values())) == len(ids)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("stage", "accepted"), [("dev", True), ("", False), ("Dev", False), ("a-", False)]
)
def test_terraform_checks_the_stage_as_the_runtime_does(
    tmp_path: Path, stage: str, accepted: bool
) -> None:
    folder = _names_config(tmp_path / "names")
    code, out = _console(folder, "local.bucket", "my-project", stage)
    assert (code == 0) is accepted, out
