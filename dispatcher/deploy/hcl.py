"""Write HCL (Terraform's language) from plain data, already in ``terraform fmt`` style.

A body is a list of :class:`Attribute`, :class:`Block` and :class:`Comment` items. Values are
Python data: ``str`` becomes a quoted string, :class:`Expr` is written as is (references and
function calls), lists and dicts become tuples and objects. Consecutive one-line attributes get
their ``=`` aligned, as ``terraform fmt`` does.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from dispatcher.deploy.policy import Skip

INDENT = "  "


class Expr(str):
    """An HCL expression written verbatim: ``aws_sqs_queue.orders.arn``, ``jsonencode(...)``."""


@dataclass(frozen=True)
class Attribute:
    """``name = value``."""

    name: str
    value: Value


@dataclass(frozen=True)
class Block:
    """``type "label" ... { body }``."""

    type: str
    labels: tuple[str, ...] = ()
    body: list[Item] = field(default_factory=list)


@dataclass(frozen=True)
class Comment:
    """A ``#`` line comment (checkov reads its skip annotations from these)."""

    text: str


Value: TypeAlias = "str | int | float | bool | Expr | Sequence[Value] | Mapping[str, Value] | None"
Item: TypeAlias = "Attribute | Block | Comment"


def quote(text: str) -> str:
    """An HCL string literal, with template sequences escaped."""
    escaped = json.dumps(text, ensure_ascii=False)
    return escaped.replace("${", "$${").replace("%{", "%%{")


def value(data: Value, depth: int) -> str:
    """One value as HCL; objects span lines (aligned), everything else stays on one."""
    if isinstance(data, Expr):
        return str(data)
    if isinstance(data, bool):
        return "true" if data else "false"
    if data is None:
        return "null"
    if isinstance(data, int | float):
        return json.dumps(data)
    if isinstance(data, str):
        return quote(data)
    if isinstance(data, Mapping):
        if not data:
            return "{}"
        inner = INDENT * (depth + 1)
        keys = [k if k.isidentifier() else quote(k) for k in data]
        lines = _aligned(
            [(inner, key, value(v, depth + 1)) for key, v in zip(keys, data.values(), strict=True)]
        )
        return "{\n" + "".join(lines) + INDENT * depth + "}"
    return "[" + ", ".join(value(item, depth) for item in data) + "]"


def _aligned(rows: list[tuple[str, str, str]]) -> list[str]:
    """``indent key = value`` lines, ``=`` aligned across each run of one-line values; a
    multi-line value stands alone, as ``terraform fmt`` leaves it."""
    lines: list[str] = []
    run: list[tuple[str, str, str]] = []

    def flush() -> None:
        width = max((len(key) for _, key, _ in run), default=0)
        lines.extend(f"{indent}{key.ljust(width)} = {text}\n" for indent, key, text in run)
        run.clear()

    for row in rows:
        if "\n" in row[2]:
            flush()
            lines.append(f"{row[0]}{row[1]} = {row[2]}\n")
        else:
            run.append(row)
    flush()
    return lines


def body(items: Sequence[Item], depth: int) -> str:
    """The lines of a block body (or of the file, at depth 0)."""
    out: list[str] = []
    run: list[tuple[str, str, str]] = []
    indent = INDENT * depth
    previous: Item | None = None
    for item in items:
        if isinstance(item, Attribute):
            run.append((indent, item.name, value(item.value, depth)))
        else:
            out.extend(_aligned(run))
            run.clear()
            if isinstance(item, Comment):
                out.append(f"{indent}# {item.text}\n")
            else:
                if previous is not None and not isinstance(previous, Comment):
                    out.append("\n")
                out.append(block(item, depth))
        previous = item
    out.extend(_aligned(run))
    return "".join(out)


def block(item: Block, depth: int) -> str:
    """One block, its body indented."""
    indent = INDENT * depth
    head = " ".join([item.type, *(quote(label) for label in item.labels)])
    if not item.body:
        return f"{indent}{head} {{\n{indent}}}\n"
    return f"{indent}{head} {{\n{body(item.body, depth + 1)}{indent}}}\n"


def document(blocks: Sequence[Block]) -> str:
    """A whole file: top-level blocks separated by one blank line."""
    return "\n".join(block(b, 0) for b in blocks)


def checkov_comments(skips: Iterable[Skip]) -> list[Item]:
    """checkov's skip annotations: one ``checkov:skip=CHECK:REASON`` comment per check."""
    return [Comment(f"checkov:skip={s.check}:{s.reason}") for s in skips]
