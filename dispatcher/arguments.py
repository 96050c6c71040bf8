"""Command-line arguments of ``dispatcher send``, read by the task's type hints.

A parameter hinted ``str`` takes the text as it is. Any other parameter takes JSON, and the
JSON must be a valid value of its type as it stands (pydantic's strict mode: ``true`` is not
an ``int``, ``"3"`` is not a number); a parameter without a hint takes JSON, or the text when
it is not JSON. ``name=value`` names a keyword argument when ``name`` is a parameter.
Each refusal is one :class:`~dispatcher.errors.InvalidArguments` line: which argument, what
was given, and why.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from dispatcher.errors import InvalidArguments

if TYPE_CHECKING:
    from dispatcher.task import Task


def parse(task: Task[Any, Any], texts: list[str]) -> tuple[list[Any], dict[str, Any]]:
    """The call that ``texts`` spell for ``task``: positional values, then ``name=value``."""
    parameters = list(task.signature.inspected.parameters)
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for text in texts:
        name, sep, value = text.partition("=")
        if sep and name in parameters:
            kwargs[name] = read(task, name, value)
        elif kwargs:
            raise InvalidArguments(
                task.name, [f"positional argument {text!r} after keyword arguments"]
            )
        else:
            position = len(args)
            if position >= len(parameters):
                raise InvalidArguments(
                    task.name,
                    [f"too many arguments: it takes {len(parameters)} ({', '.join(parameters)})"],
                )
            args.append(read(task, parameters[position], text))
    return args, kwargs


def read(task: Task[Any, Any], name: str, text: str) -> Any:
    """The value of parameter ``name`` given as ``text`` on the command line."""
    hint = task.signature.hints.get(name)
    if hint is str:
        return text
    try:
        value = json.loads(text)
    except ValueError as error:
        if hint is None:
            return text
        raise InvalidArguments(
            task.name, [f"argument {name!r}: {text!r} is not JSON ({error})"]
        ) from None
    if hint is not None:
        from pydantic import TypeAdapter, ValidationError

        try:
            TypeAdapter(hint).validate_json(text, strict=True)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            reason = f"{first['msg']}" + (f" (at {where})" if where else "")
            raise InvalidArguments(
                task.name, [f"argument {name!r}: {text!r} is refused: {reason}"]
            ) from None
    return value
