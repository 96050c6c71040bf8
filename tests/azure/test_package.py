"""``dispatcher package --provider azure``: the Functions project holds the generated files,
pinned requirements and the runtime's sources only, and its own copy runs a message."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.azure import project
from adapters.azure.package import PACKAGER
from dispatcher import plugins
from dispatcher.cli import cli
from tests.azure import apps
from tests.azure.conftest import Deployed

REFERENCE = "tests.azure.apps:app"


def test_the_plugin_supplies_the_packager() -> None:
    assert plugins.get("azure").package_builder() is PACKAGER
    assert PACKAGER.default_output("shop") == Path("build/shop-functions")


def test_the_project_holds_the_plans_files_and_the_runtime(tmp_path: Path) -> None:
    built = PACKAGER.build("samples.shop:app", tmp_path / "shop")
    files = {str(p.relative_to(built.path)) for p in built.path.rglob("*") if p.is_file()}
    plan = project.plan_for(__import__("samples.shop").shop.app, "samples.shop:app")
    for name, text in project.files(plan).items():
        assert (built.path / name).read_text() == text
    assert {
        "function_app.py",
        "host.json",
        "requirements.txt",
        ".funcignore",
        "samples/shop.py",
        "dispatcher/execution.py",
        "dispatcher/schema/envelope.v1.json",
        "adapters/azure/entrypoint.py",
        "adapters/azure/lite.py",
    } <= files
    left_out = ("deploy/", "emulate.py", "host.py", "azurite.py", "project.py", "package.py")
    assert not [f for f in files if f.startswith("adapters/azure/") and f.endswith(left_out)]
    assert not [f for f in files if f.startswith(("dispatcher/deploy/", "adapters/aws"))]
    assert not [f for f in files if "__pycache__" in f]
    pins = dict(line.split("==") for line in (built.path / "requirements.txt").read_text().split())
    assert {"azure-functions", "azure-data-tables", "azure-identity", "pydantic", "orjson"} <= set(
        pins
    )
    assert not {"typer", "rich", "jinja2", "boto3"} & set(pins)
    assert built.files == len(files)
    assert any("inventory" in w for w in built.warnings)  # left out, and said so


def test_the_cli_builds_it_and_prints_its_size(tmp_path: Path) -> None:
    out = tmp_path / "functions"
    result = CliRunner().invoke(
        cli, ["package", REFERENCE, "--provider", "azure", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output and (out / "function_app.py").exists()


@pytest.mark.emulator
def test_its_own_copy_runs_a_message(tmp_path: Path, deployed: Deployed) -> None:
    """A fresh interpreter imports the packaged function_app.py with the package folder first
    on its path (its copies of the app, the core and the adapter, not this checkout's) and
    runs one message against Azurite."""
    built = PACKAGER.build(REFERENCE, tmp_path / "functions")
    handle = apps.add.delay(5, 6)
    [message] = deployed.receive()
    script = (
        "import base64, json, sys\n"
        "from function_app import app\n"
        "import adapters.azure.entrypoint as entry, dispatcher, tests.azure.apps as test_app\n"
        "from azure.functions import queue\n"
        "[f] = [f for f in app.get_functions() if f.get_function_name() == 'queue_default']\n"
        "body = base64.b64decode(sys.argv[1])\n"
        "f.get_user_function()(queue.QueueMessage(id='m', body=body, dequeue_count=1))\n"
        "print(json.dumps([entry.__file__, dispatcher.__file__, test_app.__file__]))\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(built.path),
        "AzureWebJobsStorage": deployed.backend.config.connection_string or "",
    }
    env.pop("AZURE_STORAGE_CONNECTION_STRING", None)
    out = subprocess.run(
        [sys.executable, "-c", script, message.content],
        env=env,
        cwd=built.path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    origins = json.loads(out.stdout.strip().splitlines()[-1])
    assert all(origin.startswith(str(built.path)) for origin in origins), origins
    assert handle.result(timeout=1) == 11
