"""The `dispatcher` command, run as a newcomer would run it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dispatcher.cli import cli

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture
def backend(tmp_path: Path) -> str:
    return f"local:{tmp_path / 'cli.sqlite3'}"


def test_help_lists_the_commands() -> None:
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in ("tasks", "send", "worker", "result", "dlq"):
        assert command in result.output


def test_tasks_shows_effective_settings() -> None:
    result = runner.invoke(cli, ["tasks", "samples.shop"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "samples.shop.charge" in result.output
    assert "5 attempts, 0.2s x2 (max 5s, jitter)" in result.output
    assert "inventory (ordered)" in result.output
    assert "rate 50/1s" in result.output and "async" in result.output


def test_send_work_and_read_the_result(backend: str) -> None:
    sent = runner.invoke(
        cli, ["send", "samples.shop", "samples.shop.ship_order", "1", "GB", "-b", backend]
    )
    assert sent.exit_code == 0, sent.output
    task_id = sent.output.split(" as ")[1].strip()
    worked = runner.invoke(cli, ["worker", "samples.shop", "--burst", "-b", backend])
    assert worked.exit_code == 0, worked.output
    assert "ship_order" in worked.output
    shown = runner.invoke(cli, ["result", "samples.shop", task_id, "-b", backend])
    assert shown.exit_code == 0
    assert '"parcel-000001-GB"' in shown.output


def test_bad_arguments_are_refused_with_the_reason(backend: str) -> None:
    result = runner.invoke(
        cli, ["send", "samples.shop", "samples.shop.ship_order", "one", "GB", "-b", backend]
    )
    assert result.exit_code == 2
    assert "argument 'order_id'" in result.output


def test_unknown_app_and_task_are_clear_errors(backend: str) -> None:
    missing = runner.invoke(cli, ["tasks", "samples.nope"])
    assert missing.exit_code == 2 and "cannot import 'samples.nope'" in missing.output
    unknown = runner.invoke(cli, ["send", "samples.shop", "refund", "-b", backend])
    assert unknown.exit_code == 2 and "unknown task 'refund'" in unknown.output


def test_dlq_list_and_replay(backend: str) -> None:
    runner.invoke(
        cli, ["send", "samples.shop", "samples.shop.ship_order", "5", "BR", "-b", backend]
    )
    runner.invoke(cli, ["worker", "samples.shop", "--burst", "-b", backend])
    listed = runner.invoke(
        cli, ["dlq", "list", "samples.shop", "-b", backend], env={"COLUMNS": "250"}
    )
    assert listed.exit_code == 0
    assert "we do not ship to 'BR'" in listed.output
    replayed = runner.invoke(cli, ["dlq", "replay", "samples.shop", "--all", "-b", backend])
    assert replayed.exit_code == 0 and "replayed 1 message(s)" in replayed.output


def test_pending_result_exits_nonzero(backend: str) -> None:
    sent = runner.invoke(
        cli, ["send", "samples.shop", "samples.shop.ship_order", "2", "GB", "-b", backend]
    )
    task_id = sent.output.split(" as ")[1].strip()
    shown = runner.invoke(cli, ["result", "samples.shop", task_id, "-b", backend])
    assert shown.exit_code == 1 and "pending" in shown.output


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "dispatcher"
    result = subprocess.run([script, "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and "worker" in result.stdout


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "samples.demo", "--db", str(tmp_path / "demo.sqlite3")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "retry" in out and "GatewayTimeout" in out
    assert "we do not ship to 'BR'" in out and "message body is not JSON" in out
    assert "refused at send time" in out
    assert "Dead letters (3; nothing is dropped)" in out
    assert "ch_000003" in out and "mailed to grace@example.com" in out


def test_the_core_imports_no_provider_sdk() -> None:
    code = (
        "import sys, dispatcher, dispatcher.cli, adapters.local;"
        "bad = [m for m in sys.modules if m.split('.')[0] in"
        " ('boto3', 'botocore', 'google', 'azure', 'httpx')];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
