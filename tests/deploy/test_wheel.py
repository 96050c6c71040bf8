"""A wheel built from the repository, installed into a fresh virtual environment outside the
checkout, generates the sample's infrastructure and package: templates, schemas and plug-in
entry points are package data, nothing is read from the checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.deploy.tools import PROVIDER_OUTPUTS, ROOT, SAMPLE_OUTPUTS, run

FILES = {
    "terraform": "main.tf",
    "cloudformation": "cloudformation.yaml",
    "sam": "sam.yaml",
    "serverless": "serverless.yml",
}


def _copy_sources(target: Path) -> None:
    """The working tree's files (tracked, and untracked but not ignored), links kept."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for relative in filter(None, listed.split("\0")):
        source, copy = ROOT / relative, target / relative
        if not (source.is_symlink() or source.is_file()):
            continue  # deleted in the working tree
        copy.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            copy.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, copy)


def _clean_environment(home: Path) -> dict[str, str]:
    keep = ("PATH", "LANG", "LC_ALL", "PIP_CONFIG_FILE", "SSL_CERT_FILE", "TMPDIR")
    env = {k: v for k, v in os.environ.items() if k in keep or k.startswith("PIP_")}
    return env | {"HOME": str(home), "PYTHONNOUSERSITE": "1"}


@pytest.mark.slow
def test_an_installed_wheel_generates_the_sample(tmp_path: Path) -> None:
    sources, dist, venv, work = (tmp_path / n for n in ("src", "dist", "venv", "work"))
    _copy_sources(sources)
    home = tmp_path / "home"
    home.mkdir()
    env = _clean_environment(home)
    env["PIP_CACHE_DIR"] = os.environ.get("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip"))

    built = run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, sources],
        env=env,
        timeout=600,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    [wheel] = dist.glob("faas_dispatcher-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "adapters/aws/deploy/templates/terraform/main.tf.j2" in names
    assert "adapters/gcp/deploy/templates/terraform/main.tf.j2" in names
    assert "adapters/gcp/deploy/templates/Dockerfile.j2" in names
    assert "adapters/azure/templates/terraform/main.tf.j2" in names
    assert "dispatcher/schema/envelope.v1.json" in names

    made = run([sys.executable, "-m", "venv", venv], env=env, timeout=120)
    assert made.returncode == 0, made.stderr
    installed = run(
        [venv / "bin" / "pip", "install", "-q", f"{wheel}[aws,infra]"], env=env, timeout=600
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr

    shutil.copytree(ROOT / "samples", work / "samples")
    where = run(
        [venv / "bin" / "python", "-c", "import adapters, dispatcher; print(dispatcher.__file__)"],
        cwd=work,
        env=env,
    )
    assert where.stdout.startswith(str(venv)), where.stdout + where.stderr

    dispatcher = venv / "bin" / "dispatcher"
    for format, name in FILES.items():
        # Where the committed files live relative to the working directory (the repository's
        # root for serverless.yml, whose artifact path is relative to its own folder).
        out = work / SAMPLE_OUTPUTS[format].relative_to(ROOT)
        result = run(
            [dispatcher, "infra", "samples.shop", "--format", format, "--out", out],
            cwd=work,
            env=env,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        committed = SAMPLE_OUTPUTS[format] / name
        assert (out / name).read_text() == committed.read_text(), f"{format} differs"

    for (provider, format), folder in PROVIDER_OUTPUTS.items():
        out = work / folder.relative_to(ROOT)
        result = run(
            [dispatcher, "infra", "samples.shop", "--provider", provider, "-f", format, "-o", out],
            cwd=work,
            env=env,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        committed = folder / FILES[format]
        assert (out / FILES[format]).read_text() == committed.read_text(), f"{provider} differs"

    packaged = run([dispatcher, "package", "samples.shop"], cwd=work, env=env)
    assert packaged.returncode == 0, packaged.stdout + packaged.stderr
    archive = set(zipfile.ZipFile(work / "build" / "shop-lambda.zip").namelist())
    assert {"samples/shop.py", "adapters/aws/entrypoint.py", "pydantic/__init__.py"} <= archive
    assert "dispatcher/schema/envelope.v1.json" in archive
    assert not any(n.startswith(("adapters/aws/deploy/", "dispatcher/deploy/")) for n in archive)
