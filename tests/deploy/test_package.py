"""``dispatcher package``: the Lambda zip holds the app and runtime, not boto3, reproducibly."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from typer.testing import CliRunner

from adapters.aws.package import PACKAGER
from dispatcher import plugins
from dispatcher.cli import cli
from dispatcher.deploy.package import build_package, dependency_closure


def test_dependencies_leave_out_what_lambda_provides() -> None:
    closure = dependency_closure(provided=PACKAGER.provided)
    assert "pydantic" in closure and "pydantic-core" in closure
    assert not {"boto3", "botocore", "typer", "rich"} & set(closure)
    assert dependency_closure(("boto3",), PACKAGER.provided) == []


def test_the_plugin_supplies_the_packager() -> None:
    assert plugins.get("aws").package_builder() is PACKAGER
    assert PACKAGER.archive_name("shop") == "shop-lambda.zip"


def test_zip_holds_app_runtime_and_dependencies(tmp_path: Path) -> None:
    built = build_package("samples.shop:app", tmp_path / "shop.zip", PACKAGER)
    names = set(zipfile.ZipFile(built.path).namelist())
    assert {
        "samples/shop.py",
        "adapters/aws/entrypoint.py",
        "dispatcher/execution.py",
        "dispatcher/schema/envelope.v1.json",
        "pydantic/__init__.py",
    } <= names
    assert any(n.startswith("pydantic_core/_pydantic_core") for n in names)
    assert any(n.startswith("orjson/orjson.cpython") for n in names)
    tops = {n.split("/")[0] for n in names}
    assert not {"boto3", "botocore", "typer", "rich"} & tops
    assert "adapters/local/__init__.py" not in names
    assert not any(n.startswith(("dispatcher/deploy/", "adapters/aws/deploy/")) for n in names)
    assert "adapters/__init__.py" in names and "adapters/aws/emulate.py" not in names
    sources = {n for n in names if n.endswith(".py")}
    compiled = {n for n in names if n.endswith(".pyc")}
    assert compiled == {importlib.util.cache_from_source(n) for n in sources}
    assert built.size == built.path.stat().st_size and built.files == len(names)


def test_zip_is_reproducible(tmp_path: Path) -> None:
    first = build_package("samples.shop:app", tmp_path / "a.zip", PACKAGER)
    second = build_package("samples.shop:app", tmp_path / "b.zip", PACKAGER)
    assert first.path.read_bytes() == second.path.read_bytes()


def test_cli_prints_the_size(tmp_path: Path) -> None:
    out = tmp_path / "shop-lambda.zip"
    result = CliRunner().invoke(cli, ["package", "samples.shop", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"({out.stat().st_size} bytes)" in result.output.replace("\n", "")


def test_cli_names_the_providers_it_can_package(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["package", "samples.shop", "--provider", "nimbus"])
    assert result.exit_code == 2
    assert "no provider 'nimbus' packages functions (known: aws" in result.output


def test_zip_runs_without_site_packages(tmp_path: Path) -> None:
    built = build_package("samples.shop:app", tmp_path / "shop.zip", PACKAGER)
    root = tmp_path / "function"
    zipfile.ZipFile(built.path).extractall(root)
    probe = (
        "import builtins, sys; sys.path[:] = [p for p in sys.path if 'site-packages' not in p]\n"
        # Importing a module without usable bytecode compiles its source: record any.
        "compiled, real = [], builtins.compile\n"
        "def spy(source, filename, mode, *args, **kwargs):\n"
        "    if mode == 'exec' and str(filename).endswith('.py'): compiled.append(filename)\n"
        "    return real(source, filename, mode, *args, **kwargs)\n"
        "builtins.compile = spy\n"
        "from adapters.aws.entrypoint import handler\n"
        "from dispatcher.loading import load_app\n"
        "import pydantic\n"
        "app = load_app('samples.shop:app')\n"
        "assert pydantic.__file__.startswith(sys.argv[1]), pydantic.__file__\n"
        "assert not compiled, compiled\n"
        "print(app.name, callable(handler))\n"
    )
    result = subprocess.run(
        [sys.executable, "-S", "-B", "-c", probe, str(root)],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "shop True"
