"""Providers are plug-ins: the core imports none, finds them through entry points, and a
separately installed one adds a backend and commands with no core edit."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dispatcher import BackendNotConfigured, plugins

ROOT = Path(__file__).resolve().parents[2]
TOY = Path(__file__).resolve().parent / "toy_provider"


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_the_core_imports_nothing_from_adapters() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in sorted((ROOT / "dispatcher").rglob("*.py"))
        for name in _imports(path)
        if name == "adapters" or name.startswith("adapters.")
    ]
    assert offenders == []


def test_the_installed_providers_are_found() -> None:
    found = plugins.plugins()
    assert {"local", "memory", "aws"} <= set(found)
    assert plugins.for_scheme("aws").name == "aws"
    assert found["aws"].entrypoints["lambda"] == "adapters.aws.entrypoint:handler"


def test_an_unknown_scheme_names_the_known_ones() -> None:
    with pytest.raises(BackendNotConfigured, match=r"use one of .*aws.*local.*memory"):
        plugins.for_scheme("nimbus", "nimbus://x")


def _installed_toy(folder: Path) -> dict[str, str]:
    """``toy_provider`` as a separately installed distribution: the package and a dist-info
    folder declaring its entry point, on a path of its own."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "toy_provider").symlink_to(TOY)
    info = folder / "faas_dispatcher_toy-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: faas-dispatcher-toy\nVersion: 0.1\n"
    )
    (info / "entry_points.txt").write_text(f"[{plugins.GROUP}]\ntoy = toy_provider:PLUGIN\n")
    path = os.pathsep.join([str(folder), str(ROOT)])
    return {**os.environ, "PYTHONPATH": path}


def _dispatcher(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dispatcher.cli", *args],
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "120"},
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_a_separately_installed_provider_adds_a_format(tmp_path: Path) -> None:
    env = _installed_toy(tmp_path / "site")
    out = tmp_path / "out"
    wrote = _dispatcher(
        env, "infra", "samples.shop", "--provider", "toy", "--format", "toyfile", "--out", str(out)
    )
    assert wrote.returncode == 0, wrote.stderr
    lines = (out / "toy.txt").read_text().splitlines()
    assert "shop-payments: samples.shop.charge (up to 30 s)" in lines
    unknown = _dispatcher(env, "infra", "samples.shop", "--provider", "toy", "--format", "tf")
    assert unknown.returncode == 2 and "(known: toyfile)" in unknown.stderr


def test_a_separately_installed_provider_adds_a_backend_and_commands(tmp_path: Path) -> None:
    env = _installed_toy(tmp_path)
    helped = _dispatcher(env, "emulate", "--help")
    assert helped.returncode == 0 and "toy" in helped.stdout and "aws" in helped.stdout
    ran = _dispatcher(env, "emulate", "toy", "samples.shop")
    assert ran.returncode == 0 and ran.stdout.strip() == "toy cloud running samples.shop"

    out = tmp_path / "sent.txt"
    sent = _dispatcher(
        env, "send", "samples.shop", "samples.shop.ship_order", "7", "GB", "-b", f"toy:{out}"
    )
    assert sent.returncode == 0, sent.stderr
    queue, body = out.read_text().split(" ", 1)
    assert queue == "shipping"
    assert json.loads(body)["task"] == "samples.shop.ship_order"


def test_help_imports_no_backend_and_no_sdk() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from dispatcher.cli import cli\n"
        "assert CliRunner().invoke(cli, ['--help']).exit_code == 0\n"
        "heavy = ('boto3', 'botocore', 'sqlite3', 'adapters.local.store',\n"
        "         'adapters.aws.producer', 'adapters.aws.receiver')\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert result.stdout.strip() == "[]"
