"""Real validators on the committed Azure sample (``infra/shop/azure/terraform/main.tf``):
python-hcl2, ``terraform fmt -check``, checkov, and Terraform itself evaluating the names the
runtime must agree with. A missing tool fails the test.

``terraform validate`` cannot run here: it needs the hashicorp/azurerm provider, and only the
AWS provider is mirrored on our machines (no registry is reachable), so the Terraform checks
below are the formatter and ``terraform console`` on the provider-free parts of the file (the
variables and the locals every name is built from).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import hcl2
import pytest

from adapters.azure import names
from tests.deploy.tools import PROVIDER_OUTPUTS, run, terraform, tool

TERRAFORM = PROVIDER_OUTPUTS["azure", "terraform"]
MAIN = TERRAFORM / "main.tf"
SUBSCRIPTION = "data.azurerm_client_config.current.subscription_id"


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
    kinds = {address.split(".")[0] for address in resources}
    assert {
        "azurerm_resource_group",
        "azurerm_storage_account",
        "azurerm_storage_queue",
        "azurerm_storage_table",
        "azurerm_storage_container",
        "azurerm_storage_management_policy",
        "azurerm_user_assigned_identity",
        "azurerm_role_assignment",
        "azurerm_service_plan",
        "azurerm_function_app_flex_consumption",
    } <= kinds
    # the ordered queue (inventory) is left out; every other queue has its poison queue
    queues = sorted(a for a in resources if a.startswith("azurerm_storage_queue."))
    assert "azurerm_storage_queue.inventory" not in queues
    assert "azurerm_storage_queue.payments_poison" in queues and len(queues) == 10
    app = resources["azurerm_function_app_flex_consumption.functions"]
    assert app["runtime_name"] == "python" and app["runtime_version"] == "3.11"
    assert app["instance_memory_in_mb"] == 2048  # charge declares 512 MB: 4 at once
    assert app["app_settings"]["AzureWebJobsStorage__credential"] == "managedidentity"
    account = resources["azurerm_storage_account.storage"]
    assert account["shared_access_key_enabled"] is False
    [rule] = resources["azurerm_storage_management_policy.lifecycle"]["rule"]
    [actions] = rule["actions"]
    [base_blob] = actions["base_blob"]
    assert base_blob["delete_after_days_since_last_access_time_greater_than"] == 30


def test_every_role_is_scoped_to_one_resource_of_the_app() -> None:
    roles = {
        address: body
        for address, body in _resources().items()
        if address.startswith("azurerm_role_assignment.")
    }
    scopes = [str(body["scope"]) for body in roles.values()]
    # no role on the account, the resource group or the subscription
    assert all(
        re.search(r"/(queues|tables|containers)/\$\{azurerm_storage_\w+\.\w+\.name\}$", scope)
        or scope == "${azurerm_application_insights.insights.id}"
        for scope in scopes
    ), scopes
    assert len(set(scopes)) >= len(scopes) - 8  # a producer's role may share a scope


def test_terraform_fmt_accepts_the_layout() -> None:
    result = run([terraform(), "fmt", "-check", "-diff", "-no-color", TERRAFORM])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_checkov_passes_the_terraform_or_skips_with_reasons() -> None:
    command: list[str | Path] = [
        tool("checkov/bin/checkov"),
        "--skip-download",
        "--framework",
        "terraform",
        "--output",
        "json",
        "-d",
        TERRAFORM,
    ]
    report = json.loads(run(command).stdout)
    failed = [f"{c['check_id']} {c['resource']}" for c in report["results"]["failed_checks"]]
    assert not failed, failed
    assert report["summary"]["passed"] > 0
    for skipped in report["results"]["skipped_checks"]:
        comment = skipped.get("check_result", {}).get("suppress_comment", "")
        assert comment and comment != "No comment provided", skipped["check_id"]


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
    provider (which cannot be installed here): the subscription becomes a variable."""
    text = MAIN.read_text()
    parts = [
        'variable "subscription" {\n  type = string\n}',
        _lines(text, 'variable "stage" {'),
        _lines(text, "locals {").replace(SUBSCRIPTION, "var.subscription"),
    ]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "main.tf").write_text("\n\n".join(parts) + "\n")
    return folder


def _console(folder: Path, expressions: list[str], stage: str) -> tuple[int, list[str]]:
    result = run(
        [
            terraform(),
            "console",
            "-var",
            "subscription=00000000-1111-2222-3333-444444444444",
            "-var",
            f"stage={stage}",
        ],
        cwd=folder,
        env={"TF_IN_AUTOMATION": "1", "HOME": str(folder), "TF_CLI_CONFIG_FILE": "/dev/null"},
        input=f"jsonencode([{', '.join(expressions)}])\n",
    )
    if result.returncode != 0:
        return result.returncode, [result.stdout + result.stderr]
    values: list[str] = json.loads(json.loads(result.stdout.strip().splitlines()[-1]))
    return 0, values


def _spelled(value: str) -> str:
    """A name attribute of the parsed file as a console expression."""
    return value if value.startswith("local.") else json.dumps(value)


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["", "dev", "prod-eu-west", "abcdefghijkl"])
def test_terraform_names_every_resource_as_the_runtime_does(tmp_path: Path, stage: str) -> None:
    resources = _resources()
    runtime = {
        "azurerm_storage_table.results": names.table_name("shop", stage),
        "azurerm_storage_container.claim_checks": names.container_name("shop", stage),
    }
    for queue in ("notifications", "orders", "payments", "reports", "shipping"):
        name = names.queue_name("shop", queue, stage)
        runtime[f"azurerm_storage_queue.{queue}"] = name
        runtime[f"azurerm_storage_queue.{queue}_poison"] = names.poison_queue_name(name)
    wanted = list(runtime)
    expressions = [_spelled(str(resources[a]["name"])) for a in wanted]
    expressions += ["local.storage_account", "local.function_app"]
    code, values = _console(_names_config(tmp_path / "names"), expressions, stage)
    assert code == 0, values
    assert dict(zip(wanted, values, strict=False)) == runtime
    account, site = values[-2:]
    assert re.match(r"^[a-z0-9]{3,24}$", account), account
    assert len(site) <= 32 and re.match(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$", site), site
    assert account.startswith(names.compact("shop", stage)[:16])


@pytest.mark.slow
@pytest.mark.parametrize(("stage", "accepted"), [("dev", True), ("Dev", False), ("a-", False)])
def test_terraform_checks_the_stage_as_the_runtime_does(
    tmp_path: Path, stage: str, accepted: bool
) -> None:
    code, out = _console(_names_config(tmp_path / "names"), ["local.prefix"], stage)
    assert (code == 0) is accepted, out
    if accepted:
        assert names.check_stage(stage) == stage
    else:
        with pytest.raises(ValueError, match="is not valid"):
            names.check_stage(stage)
