"""Hypothesis strategies that generate documents from a JSON Schema, for the keywords the
envelope schema uses (an unknown keyword raises, so the schema cannot outgrow the generator).

hypothesis-jsonschema would be the library for this, but its last release (0.23.1) calls a
Hypothesis internal (``many.more``) that current Hypothesis no longer has, and fails on the
first object it generates.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

_ANNOTATIONS = frozenset({"title", "description", "default", "$id", "$schema", "$defs"})
_KNOWN = _ANNOTATIONS | {
    "$ref",
    "anyOf",
    "const",
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "minimum",
    "maximum",
    "maxProperties",
    "propertyNames",
}
_ALL_TYPES = ("null", "boolean", "integer", "number", "string", "array", "object")
#: How many items generated arrays and objects hold at most (the schema allows more).
MAX_ITEMS = 4


class Generator:
    """Builds a strategy for each (sub)schema of ``root``, resolving ``#/$defs/...`` once each."""

    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self._refs: dict[str, st.SearchStrategy[Any]] = {}

    def documents(self) -> st.SearchStrategy[Any]:
        """Documents the root schema describes (most valid; a ``format`` is not enforced)."""
        return self.strategy(self.root)

    def strategy(self, schema: dict[str, Any]) -> st.SearchStrategy[Any]:
        """The documents of one (sub)schema."""
        unknown = set(schema) - _KNOWN
        if unknown:
            raise NotImplementedError(f"no generator for JSON Schema keywords {sorted(unknown)}")
        if "$ref" in schema:
            return self._ref(schema["$ref"])
        if "const" in schema:
            return st.just(schema["const"])
        if "anyOf" in schema:
            return st.one_of([self.strategy(option) for option in schema["anyOf"]])
        kinds = schema.get("type", _ALL_TYPES)
        kinds = [kinds] if isinstance(kinds, str) else kinds
        return st.one_of([self._typed(kind, schema) for kind in kinds])

    def _ref(self, ref: str) -> st.SearchStrategy[Any]:
        if ref not in self._refs:
            name = ref.removeprefix("#/$defs/")
            self._refs[ref] = st.deferred(lambda: self.strategy(self.root["$defs"][name]))
        return self._refs[ref]

    def _typed(self, kind: str, schema: dict[str, Any]) -> st.SearchStrategy[Any]:
        builders: dict[str, Callable[[dict[str, Any]], st.SearchStrategy[Any]]] = {
            "null": lambda _: st.none(),
            "boolean": lambda _: st.booleans(),
            "integer": self._integers,
            "number": self._numbers,
            "string": self._strings,
            "array": self._arrays,
            "object": self._objects,
        }
        return builders[kind](schema)

    def _integers(self, schema: dict[str, Any]) -> st.SearchStrategy[int]:
        low, high = _bounds(schema)
        return st.integers(min_value=low, max_value=high)

    def _numbers(self, schema: dict[str, Any]) -> st.SearchStrategy[int | float]:
        low, high = _bounds(schema)
        floats = st.floats(
            min_value=float(low) if low is not None else None,
            max_value=float(high) if high is not None else None,
            allow_nan=False,
            allow_infinity=False,
        )
        return st.one_of(self._integers(schema), floats)

    def _strings(self, schema: dict[str, Any]) -> st.SearchStrategy[str]:
        low, high = schema.get("minLength", 0), schema.get("maxLength")
        if "pattern" in schema:
            pattern = re.compile(schema["pattern"])
            return st.from_regex(pattern, fullmatch=True).filter(
                lambda s: low <= len(s) <= (high if high is not None else sys.maxsize)
            )
        return st.text(min_size=low, max_size=high)

    def _arrays(self, schema: dict[str, Any]) -> st.SearchStrategy[list[Any]]:
        return st.lists(self.strategy(schema.get("items", {})), max_size=MAX_ITEMS)

    def _objects(self, schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
        properties: dict[str, Any] = schema.get("properties", {})
        required = set(schema.get("required", ()))
        extra = schema.get("additionalProperties", True)
        limit = min(MAX_ITEMS, schema.get("maxProperties", MAX_ITEMS))
        fixed = st.fixed_dictionaries(
            {name: self.strategy(sub) for name, sub in properties.items() if name in required},
            optional={
                name: self.strategy(sub) for name, sub in properties.items() if name not in required
            },
        )
        if extra is False:
            return fixed
        names = self._strings({"type": "string", **schema.get("propertyNames", {})})
        values = self.strategy({} if extra is True else extra)
        more = st.dictionaries(names.filter(lambda n: n not in properties), values, max_size=limit)
        return st.builds(lambda a, b: {**b, **a}, fixed, more)


def _bounds(schema: dict[str, Any]) -> tuple[int | None, int | None]:
    low, high = schema.get("minimum"), schema.get("maximum")
    return (
        None if low is None else int(low),
        None if high is None else int(high),
    )
