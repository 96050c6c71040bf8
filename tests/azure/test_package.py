"""``dispatcher package --provider azure``: the Functions project's zip holds the plan's files,
pinned requirements, the runtime's sources and its dependencies built for the platform, all
compiled; its own copy runs a message."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.azure import project
from adapters.azure.package import PACKAGER, SITE_PACKAGES
from dispatcher import plugins
from dispatcher.cli import cli
from dispatcher.deploy.package import Package
from samples.shop import app as shop
from tests.azure import apps
from tests.azure.conftest import Deployed

REFERENCE = "tests.azure.apps:app"


@pytest.fixture(scope="module")
def shop_package(tmp_path_factory: pytest.TempPathFactory) -> Package:
    """The sample's project, built once (pip installs the dependencies for Linux)."""
    return PACKAGER.build("samples.shop:app", tmp_path_factory.mktemp("shop") / "shop.zip")


def test_the_plugin_supplies_the_packager() -> None:
    assert plugins.get("azure").package_builder() is PACKAGER
    assert PACKAGER.archive_name("shop") == "shop-functions.zip"


@pytest.mark.slow
def test_the_project_holds_the_plans_files_and_the_runtime(shop_package: Package) -> None:
    archive = zipfile.ZipFile(shop_package.path)
    names = set(archive.namelist())
    plan = project.plan_for(shop, "samples.shop:app")
    for name, text in project.files(plan).items():
        assert archive.read(name).decode() == text
    assert {
        "function_app.py",
        "host.json",
        "requirements.txt",
        "samples/shop.py",
        "dispatcher/execution.py",
        "dispatcher/schema/envelope.v1.json",
        "adapters/azure/entrypoint.py",
        "adapters/azure/__pycache__/lite.cpython-311.pyc",  # compiled: the package is read-only
        f"{SITE_PACKAGES}/pydantic/__init__.py",
        f"{SITE_PACKAGES}/azure/data/tables/__init__.py",
    } <= names
    left_out = ("deploy/", "emulate.py", "host.py", "azurite.py", "project.py", "package.py")
    ours = [n for n in names if not n.startswith(SITE_PACKAGES)]
    assert not [n for n in ours if n.startswith("adapters/azure/") and n.endswith(left_out)]
    assert not [n for n in ours if n.startswith(("dispatcher/deploy/", "adapters/aws"))]
    compiled = [n for n in names if n.endswith(".so") and ".abi3." not in n]
    assert compiled and all("cpython-311-x86_64-linux-gnu" in n for n in compiled), compiled
    pins = dict(line.split("==") for line in archive.read("requirements.txt").decode().split())
    assert {"azure-functions", "azure-data-tables", "azure-identity", "pydantic"} <= set(pins)
    assert not {"typer", "rich", "jinja2", "boto3"} & set(pins)
    assert shop_package.files == len(names)
    assert (shop_package.target.runtime, shop_package.target.architecture) == (
        "python3.11",
        "x86_64",
    )
    assert any("inventory" in w for w in shop_package.warnings)  # left out, and said so


def test_the_cli_refuses_a_runtime_azure_does_not_run(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "package",
            REFERENCE,
            "--provider",
            "azure",
            "--runtime",
            "python3.9",
            "-o",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 2
    assert "runtime 'python3.9' is not one of Azure Functions (Flex Consumption)'s" in result.output


@pytest.mark.emulator
@pytest.mark.slow
def test_its_own_copy_runs_a_message(tmp_path: Path, deployed: Deployed) -> None:
    """A fresh interpreter runs the packaged function_app.py from the unpacked zip, with its
    own sources and its own dependencies first on the path (as the Python worker puts
    ``.python_packages``), against Azurite."""
    result = CliRunner().invoke(
        cli, ["package", REFERENCE, "--provider", "azure", "--out", str(tmp_path / "f.zip")]
    )
    assert result.exit_code == 0, result.output
    assert f"wrote {tmp_path / 'f.zip'}" in result.output
    root = tmp_path / "wwwroot"
    zipfile.ZipFile(tmp_path / "f.zip").extractall(root)
    handle = apps.add.delay(5, 6)
    [message] = deployed.receive()
    script = (
        "import base64, json, sys\n"
        "from function_app import app\n"
        "import adapters.azure.entrypoint as entry, pydantic, tests.azure.apps as test_app\n"
        "from azure.functions import queue\n"
        "[f] = [f for f in app.get_functions() if f.get_function_name() == 'queue_default']\n"
        "body = base64.b64decode(sys.argv[1])\n"
        "f.get_user_function()(queue.QueueMessage(id='m', body=body, dequeue_count=1))\n"
        "print(json.dumps([entry.__file__, pydantic.__file__, test_app.__file__]))\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), str(root / SITE_PACKAGES)]),
        "PYTHONDONTWRITEBYTECODE": "1",
        "AzureWebJobsStorage": deployed.backend.config.connection_string or "",
    }
    env.pop("AZURE_STORAGE_CONNECTION_STRING", None)
    out = subprocess.run(
        [sys.executable, "-c", script, message.content],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    origins = json.loads(out.stdout.strip().splitlines()[-1])
    assert all(origin.startswith(str(root)) for origin in origins), origins
    assert handle.result(timeout=1) == 11
