"""Validate and coerce a task's arguments with its type hints, at send time and at run time.

pydantic does the validating, but it is imported only when needed: a Lambda cold start should
not pay for it when every argument already has exactly its hinted JSON type (an ``int`` for
``int``, a ``str`` for ``str``, a list of them for ``list[int]``...). Such values pass as they
are, which is what pydantic would return for them; any other value, and every signature with a
hint beyond plain JSON types, goes through pydantic.
"""

from __future__ import annotations

import inspect
import itertools
import math
import types
import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dispatcher.envelope import MAX_NESTING
from dispatcher.errors import InvalidArguments, InvalidTaskOption

if TYPE_CHECKING:
    from pydantic import BaseModel, TypeAdapter, ValidationError

_P = inspect.Parameter
#: A check that a value already has exactly the hinted JSON type.
Exact = Callable[[Any], bool]


class Signature:
    """A task function's call signature and its type hints.

    :meth:`dump` turns a call into JSON-ready ``args``/``kwargs`` (only the arguments given);
    :meth:`load` turns them back into Python values for the call; :meth:`dump_result` and
    :meth:`load_result` do the same for the return value.
    """

    def __init__(self, task: str, fn: Callable[..., Any]) -> None:
        self.task = task
        self.inspected = inspect.signature(fn)
        try:
            self.hints = typing.get_type_hints(fn, include_extras=True)
        except Exception as error:  # unresolved forward references and the like
            raise InvalidTaskOption(
                task, "signature", f"cannot resolve type hints: {error}"
            ) from None
        parameters = list(self.inspected.parameters.values())
        self._names = {f"p{i}": p.name for i, p in enumerate(parameters)}
        self._order = [p.name for p in parameters]
        self._plain = all(p.kind is _P.POSITIONAL_OR_KEYWORD for p in parameters)
        self._required = sum(1 for p in parameters if p.default is _P.empty)
        exact = [exact_check(self.hints.get(name, Any)) for name in self._order]
        result = exact_check(self.hints.get("return", Any))
        self._exact: list[Exact] | None = None
        if self._plain and all(check is not None for check in exact):
            self._exact = [check for check in exact if check is not None]
        self._exact_result = result
        self._model: type[BaseModel] | None = None
        self._result: TypeAdapter[Any] | None = None
        if self._exact is None or result is None:
            self._pydantic()  # a hint that cannot be carried as JSON fails here, at import

    def _fits(self, args: tuple[Any, ...] | list[Any], kwargs: dict[str, Any]) -> bool:
        exact = self._exact
        return (
            exact is not None
            and not kwargs
            and self._required <= len(args) <= len(exact)
            and all(check(value) for check, value in zip(exact, args, strict=False))
        )

    def dump(
        self, args: tuple[Any, ...] | list[Any], kwargs: dict[str, Any]
    ) -> tuple[list[Any], dict[str, Any]]:
        """Validate a call and return its arguments as JSON-compatible values."""
        if self._fits(args, kwargs):
            return list(args), {}
        model = self._validated(args, kwargs)
        try:
            values = model.model_dump(mode="json", by_alias=True, exclude_unset=True)
        except ValueError as error:  # nested too deep for pydantic's serializer, say
            raise InvalidArguments(self.task, [f"cannot be written as JSON: {error}"]) from None
        ordered = {name: values[name] for name in self._names.values() if name in values}
        return self._split(ordered)

    def load(self, args: list[Any], kwargs: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        """Validate received arguments and return them as Python values for the call."""
        if self._fits(args, kwargs):
            return list(args), {}
        model = self._validated(args, kwargs)
        given = model.model_fields_set
        values = {
            name: getattr(model, field) for field, name in self._names.items() if field in given
        }
        return self._split(values)

    def dump_result(self, value: Any) -> Any:
        """The task's return value as a JSON-compatible value."""
        if self._exact_result is not None and self._exact_result(value):
            return value
        return self._pydantic()[1].dump_python(value, mode="json")

    def load_result(self, value: Any) -> Any:
        """A stored return value, coerced back with the return type hint."""
        if self._exact_result is not None and self._exact_result(value):
            return value
        return self._pydantic()[1].validate_python(value)

    def _validated(self, args: tuple[Any, ...] | list[Any], kwargs: dict[str, Any]) -> BaseModel:
        from pydantic import ValidationError

        if self._plain and not kwargs and self._required <= len(args) <= len(self._order):
            arguments = dict(zip(self._order, args, strict=False))
        else:
            try:
                arguments = self.inspected.bind(*args, **kwargs).arguments
            except TypeError as error:
                raise InvalidArguments(self.task, [str(error)]) from None
        try:
            return self._pydantic()[0].model_validate(arguments)
        except ValidationError as error:
            raise InvalidArguments(self.task, _problems(error)) from None

    def _split(self, values: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        if self._plain and list(values) == self._order[: len(values)]:
            return list(values.values()), {}
        bound = inspect.BoundArguments(self.inspected, values)  # type: ignore[arg-type,unused-ignore]
        return list(bound.args), dict(bound.kwargs)

    def _pydantic(self) -> tuple[type[BaseModel], TypeAdapter[Any]]:
        """The pydantic model of the parameters and the adapter of the result, built once."""
        if self._model is None or self._result is None:
            self._model, self._result = _build(self.task, self.inspected, self.hints)
        return self._model, self._result


def _build(
    task: str, inspected: inspect.Signature, hints: dict[str, Any]
) -> tuple[type[BaseModel], TypeAdapter[Any]]:
    from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model
    from pydantic.errors import PydanticSchemaGenerationError, PydanticUserError

    class Arguments(BaseModel):
        model_config = ConfigDict(populate_by_name=False, extra="forbid", frozen=True)

    fields: dict[str, Any] = {}
    for index, param in enumerate(inspected.parameters.values()):
        hint: Any = hints.get(param.name, Any)
        if param.kind is _P.VAR_POSITIONAL:
            hint = tuple.__class_getitem__((hint, ...))
        elif param.kind is _P.VAR_KEYWORD:
            hint = dict.__class_getitem__((str, hint))
        field: Any
        if param.kind is _P.VAR_POSITIONAL:  # none given: inspect binds nothing for it
            field = Field(default_factory=tuple, alias=param.name)
        elif param.kind is _P.VAR_KEYWORD:
            field = Field(default_factory=dict[str, Any], alias=param.name)
        else:
            default = ... if param.default is _P.empty else param.default
            field = Field(default, alias=param.name)
        fields[f"p{index}"] = (hint, field)
    try:
        model = create_model(f"{task}.arguments", __base__=Arguments, **fields)
        return model, TypeAdapter(hints.get("return", Any))
    except (PydanticSchemaGenerationError, PydanticUserError) as error:
        raise InvalidTaskOption(
            task, "signature", f"a type hint cannot be carried as JSON: {error}"
        ) from None


def exact_check(hint: Any) -> Exact | None:
    """A check that a value has exactly the JSON type ``hint`` names, so that pydantic would
    return it unchanged; ``None`` for a hint beyond plain JSON types."""
    if isinstance(hint, type) or hint is None:
        if hint in _SCALARS:
            return _SCALARS[hint]
        if hint is list:
            return lambda v: type(v) is list and all(map(is_json, v))
        if hint is dict:
            return lambda v: type(v) is dict and is_json(v)
    if hint is Any or hint is object:
        return is_json
    origin, parts = typing.get_origin(hint), typing.get_args(hint)
    if origin is list and len(parts) == 1:
        item = exact_check(parts[0])
        return None if item is None else lambda v: type(v) is list and all(map(item, v))
    if origin is dict and len(parts) == 2 and parts[0] is str:
        value = exact_check(parts[1])
        if value is None:
            return None
        return lambda v: type(v) is dict and all(type(k) is str and value(x) for k, x in v.items())
    if origin in (typing.Union, types.UnionType):
        checks = [exact_check(part) for part in parts]
        if any(check is None for check in checks):
            return None
        return lambda v: any(check(v) for check in checks if check is not None)
    return None


def is_json(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` is made of JSON types only (str keys, finite floats), its lists and
    objects nested at most :data:`~dispatcher.envelope.MAX_NESTING` deep: a deeper value is left
    to pydantic (and refused by the envelope), so that no argument can exhaust the stack here."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return True
    if kind is float:
        return math.isfinite(value)
    if depth >= MAX_NESTING:
        return False
    if kind is list:
        return all(map(is_json, value, itertools.repeat(depth + 1)))
    if kind is dict:
        return all(type(k) is str and is_json(v, depth + 1) for k, v in value.items())
    return False


_SCALARS: dict[Any, Exact] = {
    int: lambda v: type(v) is int,
    str: lambda v: type(v) is str,
    bool: lambda v: type(v) is bool,
    float: lambda v: type(v) is float and math.isfinite(v),
    type(None): lambda v: v is None,
    None: lambda v: v is None,
}


def _problems(error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"])
        problems.append(f"argument {where!r}: {item['msg']}" if where else item["msg"])
    return problems
