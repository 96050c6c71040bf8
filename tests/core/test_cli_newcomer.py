"""The CLI as a newcomer meets it (issue "A newcomer's first hour"): exact output, literal
text, clear refusals."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.main import get_command
from typer.testing import CliRunner

from dispatcher.cli import cli
from dispatcher.console import fail
from dispatcher.errors import MissingDependency

APP = "tests.apps.newcomer"
runner = CliRunner()


@pytest.fixture
def backend(tmp_path: Path) -> str:
    return f"local:{tmp_path / 'newcomer.sqlite3'}"


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(cli, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.output


def _sent_id(output: str) -> str:
    return output.split(" as ")[1].strip()


def test_user_text_is_printed_literally(backend: str) -> None:
    code, out = _run("send", APP, f"{APP}.echo", '{"ok": [true, false]}', "-b", backend)
    assert code == 0, out
    echo_id = _sent_id(out)
    code, out = _run("send", APP, f"{APP}.boom", "[red]alarm[/red] in [aws]", "-b", backend)
    boom_id = _sent_id(out)
    _run("worker", APP, "--burst", "-b", backend)
    code, out = _run("result", APP, echo_id, "-b", backend)
    assert (code, out) == (0, f'{echo_id} succeeded: {{"ok": [true, false]}}\n')
    code, out = _run("result", APP, boom_id, "-b", backend)
    assert code == 1
    assert "NonRetryable: [red]alarm[/red] in [aws]" in out
    code, out = _run("send", APP, "[bold]nope[/bold]", "-b", backend)
    assert code == 2 and "unknown task '[bold]nope[/bold]'" in out


def test_an_install_hint_keeps_its_brackets() -> None:
    app = typer.Typer()

    @app.command()
    def needs_boto3() -> None:
        fail(str(MissingDependency("boto3", "aws")))

    result = runner.invoke(app, [])
    assert result.output == (
        "error: boto3 is not installed; install it with: pip install 'faas-dispatcher[aws]'\n"
    )


def test_an_unknown_id_says_so_and_a_pending_one_says_pending(backend: str) -> None:
    code, out = _run("result", APP, "not-an-id", "--wait", "2", "-b", backend)
    assert (code, out) == (2, f"error: no message with id 'not-an-id' on {backend}\n")
    _, out = _run("send", APP, f"{APP}.scale", "2", "-b", backend)
    pending = _sent_id(out)
    code, out = _run("result", APP, pending, "--wait", "0.3", "-b", backend)
    assert (code, out) == (1, f"{pending} is still pending\n")


def test_a_dropped_duplicate_names_the_first(backend: str) -> None:
    _, out = _run("send", APP, f"{APP}.scale", "2", "--dedup-key", "k", "-b", backend)
    first = _sent_id(out)
    code, out = _run("send", APP, f"{APP}.scale", "3", "--dedup-key", "k", "-b", backend)
    assert (code, out) == (0, f"duplicate of {first} (dedup key k): not sent again\n")


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (
            ['{"actor": "x", action}'],
            "argument 'n': '{\"actor\": \"x\", action}' is not JSON (Expecting property name "
            "enclosed in double quotes: line 1 column 16 (char 15))",
        ),
        (["true"], "argument 'n': 'true' is refused: Input should be a valid integer"),
        (["2", '"3"'], "argument 'factor': '\"3\"' is refused: Input should be a valid number"),
        (["1", "2", "x", "y"], "too many arguments: it takes 3 (n, factor, label)"),
        (["n=1", "2"], "positional argument '2' after keyword arguments"),
    ],
)
def test_arguments_are_read_by_their_type_hints(backend: str, args: list[str], error: str) -> None:
    code, out = _run("send", APP, f"{APP}.scale", *args, "-b", backend)
    assert code == 2
    assert out == f"error: task '{APP}.scale': {error}\n"


def test_text_keywords_and_json_reach_the_task_as_typed(backend: str) -> None:
    code, out = _run(
        "send", APP, f"{APP}.scale", "4", "label=x=", "factor=2.5", "--wait", "0.2", "-b", backend
    )
    assert code == 1  # nobody runs it: the worker is not started
    sent = _sent_id(out.splitlines()[0])
    _run("worker", APP, "--burst", "-b", backend)
    assert _run("result", APP, sent, "-b", backend) == (0, f'{sent} succeeded: "x=10"\n')


@pytest.fixture
def bad_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    (tmp_path / "badshop.py").write_text(
        textwrap.dedent(
            """
            from dispatcher import Dispatcher, Retry

            app = Dispatcher("bad")

            @app.task(timeout=0, memory=1)
            def a() -> None: ...

            @app.task(retry=Retry(attempts=0))
            def b() -> None: ...

            @app.task
            def c() -> None: ...
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "badshop"


def test_every_bad_option_of_a_module_is_one_line(bad_module: str) -> None:
    code, out = _run("tasks", bad_module)
    assert code == 2
    assert out.splitlines() == [
        "✗ task 'badshop.a': option 'timeout': Input should be greater than 0 (got 0)",
        "✗ task 'badshop.a': option 'memory': Input should be greater than or equal to 64 (got 1)",
        "✗ task 'badshop.b': option 'retry': attempts: Input should be greater than or equal to 1",
        "error: module 'badshop' declares 3 invalid task option(s)",
    ]


def test_a_missing_attribute_lists_the_apps() -> None:
    assert _run("tasks", f"{APP}:nope") == (
        2,
        f"error: module '{APP}' has no attribute 'nope' (apps it holds: {APP}:app)\n",
    )


def test_a_delay_no_backend_holds_is_refused(backend: str) -> None:
    code, out = _run("send", APP, f"{APP}.scale", "1", "--countdown", "1e9", "-b", backend)
    assert code == 2
    assert out == (
        f"error: task '{APP}.scale': a delay of 11,574.1 days is beyond the 365-day limit of "
        f"the '{backend}' backend\n"
    )


def _commands(group: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for name, command in group.commands.items():
        yield f"{prefix}{name}", command
        if hasattr(command, "commands"):
            yield from _commands(command, f"{prefix}{name} ")


def test_every_help_page_describes_every_option_without_placeholders() -> None:
    pages = list(_commands(get_command(cli)))
    assert len(pages) > 10
    for path, command in pages:
        assert command.help, f"{path} has no description"
        for param in command.params:
            if param.param_type_name == "option" and param.name != "help":
                assert param.help, f"{path}: option {param.opts} has no description"
        code, out = _run(*path.split(), "--help")
        assert code == 0, out
        for placeholder in ("<bool>", "<str>", "{app}", "{"):
            assert placeholder not in out, f"{path} --help shows {placeholder!r}"
