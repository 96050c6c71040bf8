"""How benchmark results are printed: raw figures as they come, then one line per comparison.

A comparison line reads ``NAME: RATIO x (goal OP VALUE x)``; a figure with a goal in its own
unit reads ``NAME: VALUE ms (goal <= 30 ms)``; a plain figure ``NAME: VALUE us``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}


@dataclass(frozen=True)
class Line:
    """One summary line: a ratio (unit ``x``) or a figure, with an optional goal."""

    name: str
    value: float
    unit: str = "x"
    op: str | None = None
    goal: float | None = None

    @property
    def met(self) -> bool | None:
        """Whether the goal is met (``None`` without a goal)."""
        if self.op is None or self.goal is None:
            return None
        return _OPS[self.op](self.value, self.goal)

    def __str__(self) -> str:
        text = f"{self.name}: {self.value:.2f} {self.unit}"
        if self.op is not None and self.goal is not None:
            text += f" (goal {self.op} {self.goal:g} {self.unit})"
        return text


def raw(label: str, value: float, unit: str) -> None:
    """Print one raw measurement."""
    print(f"  {label}: {value:,.2f} {unit}", flush=True)
