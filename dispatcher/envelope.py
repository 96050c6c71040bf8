"""The envelope: the one versioned message format every backend carries, as JSON (never pickle).

Its JSON Schema, ``dispatcher/schema/envelope.v1.json``, is the contract for producers in other
languages; :func:`decode` accepts exactly what it describes (a test holds the two together).
The envelope is a plain dataclass checked by hand, not a pydantic model: every Lambda cold start
decodes one, and pydantic's import alone costs more than a Powertools batch handler.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from dispatcher import checks
from dispatcher.errors import (
    InvalidField,
    InvalidMessage,
    MalformedMessage,
    UnsupportedEnvelopeVersion,
)

ENVELOPE_VERSION = 1
SCHEMA_PATH = Path(__file__).parent / "schema" / "envelope.v1.json"
TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
_TIMES = ("created_at", "eta", "expires_at")
_LATER = ("eta", "expires_at")


def new_id() -> str:
    """A fresh message id (a random UUID, lowercase hex with dashes)."""
    import uuid  # here: it imports platform, a few ms of a cold start that sends nothing

    return str(uuid.uuid4())


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class Envelope:
    """One task invocation on the wire. Every field is checked when an envelope is made
    (:class:`~dispatcher.errors.InvalidField` names the first bad one).

    ``attempt`` is the attempt number this copy of the message starts at (1 for a fresh send);
    a backend that counts deliveries adds its redeliveries to it. ``args`` and ``kwargs`` hold
    JSON values; times are timezone-aware.
    """

    version: Literal[1] = 1
    id: str
    task: str
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    attempt: int = 1
    created_at: datetime
    eta: datetime | None = None
    expires_at: datetime | None = None
    dedup_key: str | None = None
    group_key: str | None = None
    traceparent: str | None = None
    parent_id: str | None = None
    root_id: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.version != ENVELOPE_VERSION:
            raise InvalidField("version", f"Input should be {ENVELOPE_VERSION}")
        checks.text("id", self.id, min_length=1, max_length=128)
        checks.text("task", self.task, min_length=1, max_length=256)
        if type(self.args) is not list:
            raise InvalidField("args", "Input should be a valid list")
        if type(self.kwargs) is not dict or not all(type(k) is str for k in self.kwargs):
            raise InvalidField("kwargs", "Input should be an object with string keys")
        checks.integer("attempt", self.attempt, ge=1)
        for name in _TIMES:
            value = getattr(self, name)
            if (value is not None or name == "created_at") and not _aware(value):
                raise InvalidField(name, "Input should be a timezone-aware datetime")
        checks.optional_text("dedup_key", self.dedup_key, max_length=128)
        checks.optional_text("group_key", self.group_key, max_length=128)
        if self.traceparent is not None:
            checks.text("traceparent", self.traceparent, pattern=TRACEPARENT)
        checks.optional_text("parent_id", self.parent_id)
        checks.optional_text("root_id", self.root_id)
        if type(self.headers) is not dict or not all(
            type(k) is str and type(v) is str for k, v in self.headers.items()
        ):
            raise InvalidField("headers", "Input should be an object of strings")

    def encode(self) -> bytes:
        """The JSON bytes that backends carry (``None`` fields left out)."""
        data: dict[str, Any] = {
            "version": self.version,
            "id": self.id,
            "task": self.task,
            "args": self.args,
            "kwargs": self.kwargs,
            "attempt": self.attempt,
        }
        for name in _OPTIONAL:
            value = getattr(self, name)
            if value is not None:
                data[name] = _rfc3339(value) if name in _TIMES else value
        data["headers"] = self.headers
        return _ENCODER.encode(data).encode()

    def copy_with(self, **changes: Any) -> Envelope:
        """A changed copy; envelopes are immutable."""
        return replace(self, **changes)


_OPTIONAL = (
    "created_at",
    "eta",
    "expires_at",
    "dedup_key",
    "group_key",
    "traceparent",
    "parent_id",
    "root_id",
)
_KNOWN = frozenset(Envelope.__dataclass_fields__)
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_REQUIRED = ("id", "task", "created_at")


def decode(body: bytes | str) -> Envelope:
    """Parse an envelope, raising a typed :class:`InvalidMessage` that names the problem."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise MalformedMessage("message body is not JSON") from None
    if type(data) is not dict:
        raise MalformedMessage(f"message body is a JSON {type(data).__name__}, not an object")
    version = data.get("version")
    if version != ENVELOPE_VERSION or type(version) is not int:
        raise UnsupportedEnvelopeVersion(
            f"unsupported envelope version {version!r} (this release reads {ENVELOPE_VERSION})"
        )
    try:
        if not _KNOWN.issuperset(data):
            raise InvalidField(min(data.keys() - _KNOWN), "Extra inputs are not permitted")
        for name in _REQUIRED:
            if name not in data:
                raise InvalidField(name, "Field required")
        data["created_at"] = _parse_time("created_at", data["created_at"])
        for name in _LATER:
            value = data.get(name)
            if value is not None:
                data[name] = _parse_time(name, value)
        return Envelope(**data)
    except InvalidField as error:
        raise InvalidMessage(f"invalid envelope: {error}") from None


def json_schema() -> dict[str, Any]:
    """The envelope's JSON Schema (draft 2020-12), as shipped."""
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
    return schema


def _aware(value: Any) -> bool:
    return isinstance(value, datetime) and value.tzinfo is not None


def _rfc3339(moment: datetime) -> str:
    text = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _parse_time(name: str, value: Any) -> datetime:
    """An RFC 3339 date-time (a ``Z`` or numeric offset is required)."""
    if type(value) is str and len(value) >= 20 and value[10] in "Tt ":
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is not None:
                return parsed
    raise InvalidField(name, "Input should be an RFC 3339 date-time with a time zone offset")
