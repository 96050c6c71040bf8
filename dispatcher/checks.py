"""Field checks for the records a Lambda cold start loads (envelope, task options, retry
policy): plain functions instead of pydantic, whose import alone costs a cold start more than
a whole Powertools batch handler. Each check returns the value or raises
:class:`~dispatcher.errors.InvalidField` naming the field, worded as pydantic words it."""

from __future__ import annotations

import math
import re
from typing import Any

from dispatcher.errors import InvalidField


def integer(field: str, value: Any, *, ge: int | None = None, le: int | None = None) -> int:
    """An ``int`` (not a bool) within the bounds."""
    if type(value) is not int:
        raise InvalidField(field, "Input should be a valid integer")
    _bounds(field, value, ge=ge, le=le)
    return value


def number(
    field: str,
    value: Any,
    *,
    gt: float | None = None,
    ge: float | None = None,
    le: float | None = None,
) -> float:
    """A finite ``int`` or ``float`` (not a bool) within the bounds, as a float."""
    if type(value) not in (int, float):
        raise InvalidField(field, "Input should be a valid number")
    if not math.isfinite(value):
        raise InvalidField(field, "Input should be a finite number")
    _bounds(field, value, gt=gt, ge=ge, le=le)
    return float(value)


def text(
    field: str,
    value: Any,
    *,
    min_length: int = 0,
    max_length: int | None = None,
    pattern: re.Pattern[str] | None = None,
) -> str:
    """A ``str`` of the allowed length that matches ``pattern``."""
    if type(value) is not str:
        raise InvalidField(field, "Input should be a valid string")
    if len(value) < min_length:
        raise InvalidField(field, f"String should have at least {_count(min_length)}")
    if max_length is not None and len(value) > max_length:
        raise InvalidField(field, f"String should have at most {_count(max_length)}")
    if pattern is not None and not pattern.fullmatch(value):
        raise InvalidField(field, f"String should match pattern '{pattern.pattern}'")
    return value


def optional_text(field: str, value: Any, *, max_length: int | None = None) -> str | None:
    """``None``, or a ``str`` of at most ``max_length`` characters."""
    return None if value is None else text(field, value, max_length=max_length)


def json_value(field: str, value: Any, *, max_depth: int, max_number: float) -> Any:
    """A JSON value: ``str``, ``int``, ``float``, ``bool``, ``None``, and lists and ``str``-keyed
    dicts of them, nested at most ``max_depth`` deep (a list of scalars is 1 deep), every number
    finite and within ``±max_number``. Walks without recursion, so no depth can overflow it."""
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is int or kind is float:
            if not -max_number <= item <= max_number:
                if kind is float and not math.isfinite(item):
                    raise InvalidField(field, "NaN and Infinity are not JSON numbers")
                raise InvalidField(field, f"Number should be within ±{max_number:.17g}")
            continue
        if kind is not list and kind is not dict:
            raise InvalidField(field, f"Input should be JSON, not {kind.__name__}")
        if depth == max_depth:
            raise InvalidField(field, f"Lists and objects should nest at most {max_depth} deep")
        if kind is dict:
            if not all(type(key) is str for key in item):
                raise InvalidField(field, "Object keys should be strings")
            item = item.values()
        pending.extend((child, depth + 1) for child in item)
    return value


def boolean(field: str, value: Any) -> bool:
    """A ``bool``."""
    if type(value) is not bool:
        raise InvalidField(field, "Input should be a valid boolean")
    return value


def _bounds(
    field: str,
    value: float,
    *,
    gt: float | None = None,
    ge: float | None = None,
    le: float | None = None,
) -> None:
    if gt is not None and not value > gt:
        raise InvalidField(field, f"Input should be greater than {gt:g}")
    if ge is not None and not value >= ge:
        raise InvalidField(field, f"Input should be greater than or equal to {ge:g}")
    if le is not None and not value <= le:
        raise InvalidField(field, f"Input should be less than or equal to {le:g}")


def _count(n: int) -> str:
    return f"{n} character{'' if n == 1 else 's'}"
