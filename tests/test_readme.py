"""Every command the README shows is run here, in order, as a newcomer would run them (the
`make` targets are what CI and the fresh-clone check run). When the README changes, this test
reads the new text: the two cannot drift."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BIN = Path(sys.executable).parent
#: Commands that run until Ctrl-C: started, given this long, then interrupted.
LONG_RUNNING = {"worker": 8.0}


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def _commands() -> list[str]:
    lines = [line.split("  #")[0].strip() for block in _blocks("sh") for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("make ")]


def _argv(command: str) -> list[str]:
    argv = shlex.split(command)
    if argv[0] == "python":
        return [sys.executable, *argv[1:]]
    return [str(BIN / argv[0]), *argv[1:]]


@pytest.mark.slow
def test_every_readme_command_runs(tmp_path: Path) -> None:
    [quickstart] = [b for b in _blocks("python") if b.startswith("# shop.py")]
    (tmp_path / "shop.py").write_text(quickstart)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "COLUMNS": "120",
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
    }
    env.pop("DISPATCHER_BACKEND", None)
    commands = _commands()
    assert commands[0] == "python shop.py" and len(commands) >= 9
    sent_id = ""
    for command in commands:
        argv = _argv(command.replace("<id>", sent_id))
        verb = argv[1] if len(argv) > 1 else ""
        if verb in LONG_RUNNING:
            process = subprocess.Popen(
                argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
            time.sleep(LONG_RUNNING[verb])
            process.send_signal(signal.SIGINT)
            out, _ = process.communicate(timeout=60)
            assert process.returncode == 0, f"{command}:\n{out.decode()}"
            continue
        done = subprocess.run(
            argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, f"{command}:\n{done.stdout}\n{done.stderr}"
        if command == "python shop.py":
            assert done.stdout.splitlines()[0] == "ch_42"
            sent_id = done.stdout.splitlines()[-1].strip()
        if verb == "result":
            assert f'{sent_id} succeeded: "ch_42"' in done.stdout
    assert (tmp_path / "build" / "infra" / "main.tf").is_file()
    assert (tmp_path / "build" / "shop-lambda.zip").is_file()
