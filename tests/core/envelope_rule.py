"""The envelope rule written out independently of the decoder, as the tests' oracle.

A body is accepted when it is strict JSON text (RFC 8259 in UTF-8, no byte order mark, no
``NaN``/``Infinity``, only valid Unicode strings, at most the size the schema states) and the
shipped JSON Schema accepts the document, with ``format: date-time`` checked strictly by RFC 3339.
"""

from __future__ import annotations

import calendar
import json
import re
from typing import Any

import jsonschema

from dispatcher.envelope import MAX_BODY_BYTES, json_schema

#: RFC 3339 §5.6 ``date-time``; "T" and "Z" may be lower case (the NOTE under its grammar).
_DATE_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|[+-](\d{2}):(\d{2}))",
    re.ASCII,
)
_SURROGATE = re.compile("[\ud800-\udfff]")


def is_rfc3339_date_time(value: object) -> bool:
    """RFC 3339 ``date-time``, its ranges included (``time-second`` may be 60: a leap second)."""
    if not isinstance(value, str):
        return True  # a format says nothing about other types
    match = _DATE_TIME.fullmatch(value)
    if match is None:
        return False
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    offset_hour, offset_minute = (int(part or 0) for part in match.groups()[6:])
    if not 1 <= month <= 12:
        return False
    days = 29 if month == 2 and calendar.isleap(year) else _DAYS[month - 1]
    return (
        1 <= day <= days
        and hour <= 23
        and minute <= 59
        and second <= 60
        and offset_hour <= 23
        and offset_minute <= 59
    )


_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)

FORMATS = jsonschema.FormatChecker(formats=())
FORMATS.checks("date-time")(is_rfc3339_date_time)
VALIDATOR = jsonschema.Draft202012Validator(json_schema(), format_checker=FORMATS)


def strict_json(body: bytes) -> tuple[bool, Any]:
    """``(True, document)`` if ``body`` is JSON text the rule allows, else ``(False, None)``."""
    if len(body) > MAX_BODY_BYTES or body.startswith(b"\xef\xbb\xbf"):
        return False, None
    try:
        text = body.decode("utf-8")  # strict: refuses encoded surrogates and stray bytes
        document = json.loads(text, parse_constant=_not_json)
    except (ValueError, RecursionError):  # too deep to parse is too deep for the schema too
        return False, None
    return (not _has_lone_surrogate(document)), document


def accepts(body: bytes) -> bool:
    """Whether the rule accepts ``body``."""
    ok, document = strict_json(body)
    return ok and VALIDATOR.is_valid(document)


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _has_lone_surrogate(document: Any) -> bool:
    pending = [document]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):  # a pair escaped as two \u would have been joined
                return True
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
    return False
