"""`make demo` and `make test` say what they install (a fresh clone's first minutes)."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _plan(target: str, tmp_path: Path) -> list[str]:
    venv = tmp_path / "venv"
    tools = tmp_path / "tools"
    done = subprocess.run(
        ["make", "-n", target, f"VENV={venv}", f"TOOLS={tools}", "-W", "package.json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.splitlines()


def test_every_install_step_is_announced_and_not_silenced(tmp_path: Path) -> None:
    for target in ("demo", "pytest"):
        plan = _plan(target, tmp_path)
        installs = [line for line in plan if " install " in line or line.startswith("npm ci")]
        announced = [line for line in plan if line.startswith('echo "==> ')]
        assert installs, target
        assert len(announced) >= len([i for i in installs if "--upgrade pip" not in i])
        for line in installs:
            if "--upgrade pip" not in line:
                assert "--quiet" not in line and " -q " not in line, line
