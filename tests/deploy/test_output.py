"""Written files: serverless.yml names the packaged zip from wherever it is written, and every
file gets the usual mode."""

from __future__ import annotations

import json
import os
import shutil
import stat
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from dispatcher.cli import cli
from tests.deploy.tools import ROOT, run, tool


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual umask, whatever the test runner has."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder holding the sample, as the working directory."""
    shutil.copytree(ROOT / "samples", tmp_path / "samples")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("out", [".", "deploy/aws", "../elsewhere"])
def test_serverless_artifact_is_relative_to_where_the_file_is(project: Path, out: str) -> None:
    result = CliRunner().invoke(cli, ["infra", "samples.shop", "-f", "serverless", "-o", out])
    assert result.exit_code == 0, result.output
    config = yaml.safe_load((project / out / "serverless.yml").read_text())
    artifact = (project / out / config["package"]["artifact"]).resolve()
    assert artifact == (project / "build" / "shop-lambda.zip").resolve()


@pytest.mark.slow
def test_serverless_packages_from_an_out_folder(project: Path, tmp_path: Path) -> None:
    """``serverless package`` run in the folder the file was written to finds the zip that
    ``dispatcher package`` writes (build/ of the working directory)."""
    result = CliRunner().invoke(
        cli, ["infra", "samples.shop", "-f", "serverless", "-o", "deploy/aws"]
    )
    assert result.exit_code == 0, result.output
    (project / "build").mkdir()
    with zipfile.ZipFile(project / "build" / "shop-lambda.zip", "w") as archive:
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
    binary = tool("serverless", "run `make test` (npm ci installs serverless@3)")
    packaged = run([binary, "package", "--stage", "dev"], cwd=project / "deploy" / "aws", env=env)
    assert packaged.returncode == 0, packaged.stdout + packaged.stderr
    state = json.loads(
        (project / "deploy" / "aws" / ".serverless" / "serverless-state.json").read_text()
    )
    assert state["package"]["artifact"].endswith("shop-lambda.zip")


@pytest.mark.usefixtures("umask_022")
@pytest.mark.parametrize(
    ("format", "name"),
    [
        ("terraform", "main.tf"),
        ("cloudformation", "cloudformation.yaml"),
        ("sam", "sam.yaml"),
        ("serverless", "serverless.yml"),
    ],
)
def test_written_files_get_the_usual_mode(tmp_path: Path, format: str, name: str) -> None:
    result = CliRunner().invoke(cli, ["infra", "samples.shop", "-f", format, "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644
