"""``dispatcher package``: the Lambda zip holds the app and runtime, dependencies built for the
function's platform and Python (not this interpreter's copies), compiled by that Python, without
boto3, reproducibly."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.aws.package import PACKAGER
from dispatcher import plugins
from dispatcher.cli import cli
from dispatcher.deploy.package import Target, build_package, dependency_closure, find_interpreter

HOST = f"python{sys.version_info.major}.{sys.version_info.minor}"


def _pyc(source: str, target: Target) -> str:
    """Where ``target``'s Python looks for the bytecode of ``source``."""
    folder, _, name = source.rpartition("/")
    major, minor = target.python
    cached = f"__pycache__/{name.removesuffix('.py')}.cpython-{major}{minor}.pyc"
    return f"{folder}/{cached}" if folder else cached


def test_dependencies_leave_out_what_lambda_provides() -> None:
    closure = dependency_closure(provided=PACKAGER.provided)
    assert "pydantic" in closure and "pydantic-core" in closure
    assert not {"boto3", "botocore", "typer", "rich"} & set(closure)
    assert dependency_closure(("boto3",), PACKAGER.provided) == []


def test_the_plugin_supplies_the_packager() -> None:
    assert plugins.get("aws").package_builder() is PACKAGER
    assert PACKAGER.archive_name("shop") == "shop-lambda.zip"
    target = PACKAGER.target()
    assert (target.runtime, target.architecture, target.platform) == (
        "python3.13",
        "x86_64",
        "manylinux2014_x86_64",
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("runtime", "architecture", "machine"),
    [("python3.13", "x86_64", "x86_64"), ("python3.12", "arm64", "aarch64")],
)
def test_compiled_wheels_are_for_the_functions_platform(
    tmp_path: Path, runtime: str, architecture: str, machine: str
) -> None:
    target = PACKAGER.target(runtime, architecture)
    built = build_package("samples.shop:app", tmp_path / "shop.zip", PACKAGER, target)
    archive = zipfile.ZipFile(built.path)
    names = archive.namelist()
    [wheel] = [n for n in names if re.match(r"pydantic_core-[^/]+\.dist-info/WHEEL$", n)]
    tags = [
        line.removeprefix("Tag: ")
        for line in archive.read(wheel).decode().splitlines()
        if line.startswith("Tag: ")
    ]
    major, minor = target.python
    assert tags and all(
        tag.startswith(f"cp{major}{minor}-cp{major}{minor}-manylinux") and tag.endswith(machine)
        for tag in tags
    ), tags
    [extension] = [n for n in names if n.startswith("pydantic_core/_pydantic_core.")]
    assert extension.endswith(f".cpython-{major}{minor}-{machine}-linux-gnu.so"), extension
    assert not any(n.startswith(("boto3/", "botocore/")) for n in names)


@pytest.mark.slow
def test_zip_holds_app_runtime_and_dependencies(tmp_path: Path) -> None:
    target = PACKAGER.target(HOST)
    built = build_package("samples.shop:app", tmp_path / "shop.zip", PACKAGER, target)
    names = set(zipfile.ZipFile(built.path).namelist())
    assert {
        "samples/shop.py",
        "adapters/aws/entrypoint.py",
        "adapters/aws/scheduler.py",
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
    assert "adapters/__init__.py" in names
    assert not {"adapters/aws/emulate.py", "adapters/aws/local_scheduler.py"} & names
    sources = {n for n in names if n.endswith(".py")}
    compiled = {n for n in names if n.endswith(".pyc")}
    assert compiled == {_pyc(n, target) for n in sources}
    assert built.size == built.path.stat().st_size and built.files == len(names)
    assert built.warnings == ()


@pytest.mark.slow
def test_bytecode_comes_from_the_functions_python(tmp_path: Path) -> None:
    other = next((f"python3.{m}" for m in (13, 12) if find_interpreter((3, m)) is not None), None)
    if other is None:
        pytest.fail("no Python 3.12 or 3.13 here to compile for (pyenv install 3.13)")
    target = PACKAGER.target(other)
    built = build_package("samples.shop:app", tmp_path / "shop.zip", PACKAGER, target)
    names = set(zipfile.ZipFile(built.path).namelist())
    assert _pyc("adapters/aws/entrypoint.py", target) in names
    assert not any(f"cpython-{sys.version_info.major}{sys.version_info.minor}" in n for n in names)


@pytest.mark.slow
def test_zip_is_reproducible(tmp_path: Path) -> None:
    target = PACKAGER.target(HOST)
    first = build_package("samples.shop:app", tmp_path / "a.zip", PACKAGER, target)
    second = build_package("samples.shop:app", tmp_path / "b.zip", PACKAGER, target)
    assert first.path.read_bytes() == second.path.read_bytes()


@pytest.mark.slow
def test_cli_prints_the_size_and_the_platform(tmp_path: Path) -> None:
    out = tmp_path / "shop-lambda.zip"
    result = CliRunner().invoke(
        cli,
        ["package", "samples.shop", "--out", str(out), "--runtime", HOST],
    )
    assert result.exit_code == 0, result.output
    assert f"({out.stat().st_size} bytes)" in result.output.replace("\n", "")
    assert f"for {HOST} on x86_64" in result.output


@pytest.mark.slow
def test_cli_warns_when_no_interpreter_can_compile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = "python3.12" if HOST != "python3.12" else "python3.13"
    monkeypatch.setenv("PATH", str(tmp_path))  # no pythonX.Y here
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "no-pyenv"))
    out = tmp_path / "shop.zip"
    result = CliRunner().invoke(
        cli, ["package", "samples.shop", "-o", str(out), "--runtime", other]
    )
    assert result.exit_code == 0, result.output
    version = other.removeprefix("python")
    assert f"warning: no Python {version} interpreter here ({other}): the zip holds sources" in (
        result.output.replace("\n", " ")
    )
    assert not any(n.endswith(".pyc") for n in zipfile.ZipFile(out).namelist())


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        (
            "--runtime",
            "python3.9",
            "error: runtime 'python3.9' is not one of AWS Lambda's (python3.14, python3.13, "
            "python3.12, python3.11)",
        ),
        (
            "--architecture",
            "sparc",
            "error: architecture 'sparc' is not one of AWS Lambda's (x86_64, arm64)",
        ),
    ],
)
def test_cli_refuses_a_platform_lambda_does_not_offer(
    tmp_path: Path, option: str, value: str, message: str
) -> None:
    result = CliRunner().invoke(
        cli, ["package", "samples.shop", "-o", str(tmp_path / "x.zip"), option, value]
    )
    assert result.exit_code == 2
    assert result.output.strip() == message
    assert not (tmp_path / "x.zip").exists()


def test_cli_names_the_providers_it_can_package(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["package", "samples.shop", "--provider", "nimbus"])
    assert result.exit_code == 2
    assert "no provider 'nimbus' packages functions (known: aws" in result.output


@pytest.mark.slow
def test_zip_runs_without_site_packages(tmp_path: Path) -> None:
    built = build_package(
        "samples.shop:app", tmp_path / "shop.zip", PACKAGER, PACKAGER.target(HOST)
    )
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
