"""The app a newcomer writes in their first hour: values with brackets, errors with markup."""

from __future__ import annotations

from dispatcher import Dispatcher, NonRetryable

app = Dispatcher("newcomer")


@app.task
def echo(value: dict[str, list[bool]]) -> dict[str, list[bool]]:
    """Returns what it was given."""
    return value


@app.task
def boom(text: str) -> None:
    """Fails with ``text`` as the message."""
    raise NonRetryable(text)


@app.task
def scale(n: int, factor: float = 1.0, label: str = "") -> str:
    """A number and a label."""
    return f"{label}{n * factor:g}"
