"""Immutable records for the core's value classes: what a frozen dataclass gives, without the
cost of making one when its module is imported.

Why not :func:`dataclasses.dataclass`: it writes and compiles each class's methods when the
class is made, 0.4 to 0.9 ms per class on Python 3.11. The core's ten were 5.3 ms of every
function's cold start, which the benchmarks ``azure_cold_start_vs_bare_function`` and
``lambda_cold_start_overhead_ms`` measure. A record subclass instead writes its ``__init__`` by
hand (setting each field with :data:`setattr_`), and this base gives the rest from the class's
``FIELDS``: equality and a hash over the fields, a repr, immutability, pickling,
:meth:`Record.copy_with`, and a place in pydantic models.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

#: Sets a field of a record (``object.__setattr__``: records refuse ``setattr``).
setattr_ = object.__setattr__


class Record:
    """Base of an immutable record whose fields are named, in order, by ``FIELDS``."""

    __slots__ = ()
    FIELDS: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        unnamed = set(cls.__dict__.get("__slots__", ())) - set(cls.FIELDS)
        if not cls.FIELDS or unnamed:
            raise TypeError(f"{cls.__name__}.FIELDS must name every field of the record")

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.FIELDS)

    def copy_with(self, **changes: Any) -> Self:
        """A copy with ``changes`` (checked again, as when it was made)."""
        unknown = changes.keys() - set(self.FIELDS)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {sorted(unknown)[0]!r}")
        values = {name: getattr(self, name) for name in self.FIELDS}
        return type(self)(**(values | changes))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Record) or other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        return fields_repr(self, self.FIELDS)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field {name!r}: {type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}: {type(self).__name__} is immutable")

    def __reduce__(self) -> tuple[Any, ...]:
        return _restore, (type(self), self._values())

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        """A record field of a pydantic model takes an instance, as it is."""
        from pydantic_core import core_schema

        return core_schema.is_instance_schema(cls)


def fields_repr(value: object, fields: tuple[str, ...]) -> str:
    """``Class(field=value, ...)``, as a dataclass shows itself."""
    shown = ", ".join(f"{name}={getattr(value, name)!r}" for name in fields)
    return f"{type(value).__name__}({shown})"


def _restore(cls: type[Record], values: tuple[Any, ...]) -> Record:
    """A record rebuilt from its values without checking them again (unpickling)."""
    record = object.__new__(cls)
    for name, value in zip(cls.FIELDS, values, strict=True):
        setattr_(record, name, value)
    return record
