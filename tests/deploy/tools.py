"""Find the validators the tests run; a missing one fails the test with what to install."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".tools"
SAMPLE = "samples.shop:app"
SAMPLE_OUTPUTS = {
    "terraform": ROOT / "infra" / "shop" / "terraform",
    "cloudformation": ROOT / "infra" / "shop",
    "sam": ROOT / "infra" / "shop",
    "serverless": ROOT,
}
#: The committed outputs of the other providers, by (provider, format).
PROVIDER_OUTPUTS = {
    ("gcp", "terraform"): ROOT / "infra" / "shop" / "gcp" / "terraform",
    ("azure", "terraform"): ROOT / "infra" / "shop" / "azure" / "terraform",
}


def tool(relative: str, hint: str = "run `make test` (it installs the validators)") -> Path:
    """``.tools/<relative>`` or ``node_modules/.bin/<relative>``; fail (not skip) if absent."""
    for base in (TOOLS, ROOT / "node_modules" / ".bin"):
        path = base / relative
        if path.exists():
            return path
    pytest.fail(f"{relative} is not installed; {hint}", pytrace=False)


def terraform() -> str:
    """The terraform binary; nothing here can install it, so its absence fails clearly."""
    found = shutil.which("terraform")
    if found is None:
        pytest.fail(
            "terraform is not on PATH: install Terraform >= 1.5 (our machine image has 1.11 at "
            "/usr/local/bin/terraform with the AWS provider mirrored in /opt/tf-plugins)",
            pytrace=False,
        )
    return found


def provider_mirror() -> Path:
    """The filesystem mirror of the hashicorp/aws provider."""
    for candidate in (
        Path(os.environ.get("TF_PLUGIN_MIRROR", "/opt/tf-plugins")),
        Path("/tf-plugins"),
    ):
        if (candidate / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
            return candidate
    pytest.fail(
        "no filesystem mirror of the hashicorp/aws provider (looked in /opt/tf-plugins; set "
        "TF_PLUGIN_MIRROR to its folder)",
        pytrace=False,
    )


def run(
    command: Sequence[str | Path],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 300,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a validator, capturing its output as text (``input`` on its standard input)."""
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
