"""Validate and coerce a task's arguments with its type hints, at send time and at run time."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    TypeAdapter,
    ValidationError,
    create_model,
)
from pydantic.errors import PydanticSchemaGenerationError, PydanticUserError

from dispatcher.errors import InvalidArguments, InvalidTaskOption

_P = inspect.Parameter


class _ArgumentsBase(BaseModel):
    model_config = ConfigDict(populate_by_name=False, extra="forbid", frozen=True)


class Signature:
    """A task function's call signature, with a pydantic model of its parameters.

    :meth:`dump` turns a call into JSON-ready ``args``/``kwargs`` (only the arguments given);
    :meth:`load` turns them back into Python values for the call; :meth:`dump_result` and
    :meth:`load_result` do the same for the return value.
    """

    def __init__(self, task: str, fn: Callable[..., Any]) -> None:
        self.task = task
        self.inspected = inspect.signature(fn)
        try:
            hints = typing.get_type_hints(fn)
        except Exception as error:  # unresolved forward references and the like
            raise InvalidTaskOption(
                task, "signature", f"cannot resolve type hints: {error}"
            ) from None
        fields: dict[str, Any] = {}
        for index, param in enumerate(self.inspected.parameters.values()):
            hint: Any = hints.get(param.name, Any)
            if param.kind is _P.VAR_POSITIONAL:
                hint = tuple.__class_getitem__((hint, ...))
            elif param.kind is _P.VAR_KEYWORD:
                hint = dict.__class_getitem__((str, hint))
            default = ... if param.default is _P.empty else param.default
            if param.kind in (_P.VAR_POSITIONAL, _P.VAR_KEYWORD):
                default = ...
            fields[f"p{index}"] = (hint, Field(default, alias=param.name))
        try:
            self.model: type[BaseModel] = create_model(
                f"{task}.arguments", __base__=_ArgumentsBase, **fields
            )
            self.result = TypeAdapter(hints.get("return", Any))
        except (PydanticSchemaGenerationError, PydanticUserError) as error:
            raise InvalidTaskOption(
                task, "signature", f"a type hint cannot be carried as JSON: {error}"
            ) from None
        parameters = list(self.inspected.parameters.values())
        self._names = {f"p{i}": p.name for i, p in enumerate(parameters)}
        # Plain signatures (no *args, **kwargs or keyword-only parameters) take a fast path.
        self._order = [p.name for p in parameters]
        self._plain = all(p.kind is _P.POSITIONAL_OR_KEYWORD for p in parameters)
        self._required = sum(1 for p in parameters if p.default is _P.empty)

    def _validated(self, args: tuple[Any, ...] | list[Any], kwargs: dict[str, Any]) -> BaseModel:
        if self._plain and not kwargs and self._required <= len(args) <= len(self._order):
            arguments = dict(zip(self._order, args, strict=False))
        else:
            try:
                arguments = self.inspected.bind(*args, **kwargs).arguments
            except TypeError as error:
                raise InvalidArguments(self.task, [str(error)]) from None
        try:
            return self.model.model_validate(arguments)
        except ValidationError as error:
            raise InvalidArguments(self.task, _problems(error)) from None

    def _split(self, values: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        if self._plain and list(values) == self._order[: len(values)]:
            return list(values.values()), {}
        bound = inspect.BoundArguments(self.inspected, values)  # type: ignore[arg-type,unused-ignore]
        return list(bound.args), dict(bound.kwargs)

    def dump(
        self, args: tuple[Any, ...] | list[Any], kwargs: dict[str, Any]
    ) -> tuple[list[JsonValue], dict[str, JsonValue]]:
        """Validate a call and return its arguments as JSON-compatible values."""
        model = self._validated(args, kwargs)
        values = model.model_dump(mode="json", by_alias=True, exclude_unset=True)
        ordered = {name: values[name] for name in self._names.values() if name in values}
        return self._split(ordered)

    def load(self, args: list[Any], kwargs: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        """Validate received arguments and return them as Python values for the call."""
        model = self._validated(args, kwargs)
        given = model.model_fields_set
        values = {
            name: getattr(model, field) for field, name in self._names.items() if field in given
        }
        return self._split(values)

    def dump_result(self, value: Any) -> JsonValue:
        """The task's return value as a JSON-compatible value."""
        return self.result.dump_python(value, mode="json")  # type: ignore[no-any-return]

    def load_result(self, value: JsonValue) -> Any:
        """A stored return value, coerced back with the return type hint."""
        return self.result.validate_python(value)


def _problems(error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"])
        problems.append(f"argument {where!r}: {item['msg']}" if where else item["msg"])
    return problems
