"""``dispatcher package --provider gcp``: the receiver's build context holds what the receiver
imports and nothing of our tooling, and the context's own copy serves a real push on the
emulators (run without the editable install, so that nothing comes from the checkout)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.gcp import config as settings
from adapters.gcp.package import ENTRYPOINT, PACKAGER
from adapters.gcp.producer import GcpBackend
from adapters.gcp.provision import provision
from dispatcher import Status, plugins
from dispatcher.cli import cli
from samples import shop
from tests.gcp.conftest import ACCOUNT, Issuer


def test_the_plugin_supplies_the_packager() -> None:
    assert plugins.get("gcp").package_builder() is PACKAGER
    assert PACKAGER.default_output("shop") == Path("build/shop-cloudrun")


def test_the_context_holds_the_app_the_runtime_and_pinned_requirements(tmp_path: Path) -> None:
    out = tmp_path / "context"
    result = CliRunner().invoke(
        cli, ["package", "samples.shop", "--provider", "gcp", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output.replace("\n", "")
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {"Dockerfile", ".dockerignore", "requirements.txt"} <= files
    assert {"app/samples/shop.py", "app/adapters/gcp/entrypoint.py", "app/dispatcher/app.py"} <= (
        files
    )
    for tooling in ("adapters/gcp/deploy/", "adapters/gcp/emulate.py", "adapters/aws/"):
        assert not any(f.startswith(f"app/{tooling}") for f in files), tooling
    assert not any(f.startswith("app/dispatcher/deploy/") for f in files)
    pins = dict(line.split("==") for line in (out / "requirements.txt").read_text().split())
    assert {"pydantic", "orjson", "uvicorn", "google-auth", "google-cloud-tasks"} <= set(pins)
    assert not {"typer", "boto3", "starlette", "google-cloud-storage"} & set(pins)
    dockerfile = (out / "Dockerfile").read_text()
    assert "FROM --platform=linux/amd64 python:3.11-slim" in dockerfile
    assert "USER dispatcher" in dockerfile
    assert f"exec uvicorn {ENTRYPOINT} --host 0.0.0.0 --port ${{PORT}}" in dockerfile


def test_the_runtime_chooses_the_images_python(tmp_path: Path) -> None:
    out = tmp_path / "context"
    command = ["package", "samples.shop", "--provider", "gcp", "--out", str(out)]
    result = CliRunner().invoke(cli, [*command, "--runtime", "python3.13"])
    assert result.exit_code == 0, result.output
    assert "for python3.13 on x86_64" in result.output.replace("\n", " ")
    assert "FROM --platform=linux/amd64 python:3.13-slim" in (out / "Dockerfile").read_text()
    refused = CliRunner().invoke(cli, [*command, "--architecture", "arm64"], env={"COLUMNS": "200"})
    assert refused.exit_code == 2
    assert "architecture 'arm64' is not one of Cloud Run's (x86_64)" in refused.output


def _isolated_env(context: Path, extra: dict[str, str]) -> dict[str, str]:
    """Our code from the context only: ``-S`` skips the editable install's path hook, and the
    installed distributions come from site-packages on PYTHONPATH."""
    site_packages = sysconfig.get_paths()["purelib"]
    return {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": f"{context / 'app'}{os.pathsep}{site_packages}",
        **extra,
    }


def test_the_context_imports_nothing_from_the_checkout(tmp_path: Path) -> None:
    built = PACKAGER.build("samples.shop:app", tmp_path / "context")
    probe = (
        "import importlib.util, sys\n"
        "import adapters.gcp.entrypoint, dispatcher.app, samples.shop\n"
        "for module in (adapters.gcp.entrypoint, dispatcher.app, samples.shop):\n"
        "    assert module.__file__.startswith(sys.argv[1]), module.__file__\n"
        "assert importlib.util.find_spec('adapters.gcp.deploy') is None\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-S", "-c", probe, str(built.path / "app")],
        cwd=built.path / "app",
        env=_isolated_env(built.path, {}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


@pytest.mark.emulator
@pytest.mark.slow
def test_the_contexts_receiver_runs_a_push(
    tmp_path: Path, gcp_env: dict[str, str], issuer: Issuer
) -> None:
    built = PACKAGER.build("samples.shop:app", tmp_path / "context")
    shop.app.use(gcp_env["DISPATCHER_BACKEND"])
    try:
        backend = shop.app.backend
        assert isinstance(backend, GcpBackend)
        provision(backend)
        url = gcp_env[settings.SERVICE_URL_ENV]
        port = int(url.rsplit(":", 1)[1])
        env = {k: v for k, v in gcp_env.items() if k != settings.SIGNING_KEY_ENV}
        env |= {"DISPATCHER_APP": "samples.shop:app", "PYDANTIC_DISABLE_PLUGINS": "__all__"}
        command = [sys.executable, "-S", "-m", "uvicorn", ENTRYPOINT, "--host", "127.0.0.1"]
        process = subprocess.Popen(
            [*command, "--port", str(port), "--log-level", "warning"],
            cwd=built.path / "app",
            env=_isolated_env(built.path, env),
        )
        try:
            _wait_listening(port, process)
            message = shop.charge.message((7, 1999))
            token = issuer.issuer.sign(audience=url, email=ACCOUNT)
            request = urllib.request.Request(
                url + settings.PUSH_PATH,
                data=message.body,
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=30) as response:
                assert response.status == 200
        finally:
            process.terminate()
            process.wait(timeout=10)
        record = backend.results.get(message.envelope.id)
        assert record is not None and record.status is Status.SUCCEEDED
        assert shop.app.handle(message.envelope.id).result(timeout=1) == "ch_000007"
    finally:
        shop.app.close()


def _wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, "the context's receiver exited"
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        assert time.monotonic() < deadline, "the context's receiver did not listen"
        time.sleep(0.05)
