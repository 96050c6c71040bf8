"""The envelope: the one versioned message format every backend carries, as JSON (never pickle).

Its JSON Schema ships as ``dispatcher/schema/envelope.v1.json`` so that a producer in another
language can write valid messages; ``python -m dispatcher.envelope`` regenerates it.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dispatcher.errors import InvalidMessage, MalformedMessage, UnsupportedEnvelopeVersion

ENVELOPE_VERSION = 1
SCHEMA_PATH = Path(__file__).parent / "schema" / "envelope.v1.json"
TRACEPARENT_PATTERN = r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"


def new_id() -> str:
    """A fresh message id (a random UUID, lowercase hex with dashes)."""
    return str(uuid.uuid4())


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class Envelope(BaseModel):
    """One task invocation on the wire.

    ``attempt`` is the attempt number this copy of the message starts at (1 for a fresh send);
    a backend that counts deliveries adds its redeliveries to it.
    """

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        title="faas-dispatcher envelope",
        json_schema_extra={"$id": "https://faas-dispatcher.dev/schema/envelope.v1.json"},
    )

    version: Literal[1] = Field(default=1, description="Envelope format version.")
    id: str = Field(min_length=1, max_length=128, description="Unique id of this invocation.")
    task: str = Field(min_length=1, max_length=256, description="Registered task name.")
    # JSON values; typed Any because building pydantic's JsonValue schema costs ~20 ms at
    # import (a Lambda cold start), and decoding from JSON can only produce JSON values anyway.
    args: list[Any] = Field(default_factory=list, description="Positional arguments.")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments.")
    attempt: int = Field(default=1, ge=1, description="Attempt number this copy starts at.")
    created_at: datetime = Field(description="When the invocation was sent (RFC 3339).")
    eta: datetime | None = Field(default=None, description="Run no earlier than this.")
    expires_at: datetime | None = Field(default=None, description="Dead-letter if not run by.")
    dedup_key: str | None = Field(default=None, max_length=128)
    group_key: str | None = Field(default=None, max_length=128, description="Ordering group.")
    traceparent: str | None = Field(default=None, pattern=TRACEPARENT_PATTERN)
    parent_id: str | None = Field(default=None, description="Id of the task that sent this one.")
    root_id: str | None = Field(default=None, description="Id of the first task of the chain.")
    headers: dict[str, str] = Field(default_factory=dict, description="Free-form metadata.")

    def encode(self) -> bytes:
        """The JSON bytes that backends carry (``None`` fields left out)."""
        return self.__pydantic_serializer__.to_json(self, exclude_none=True)

    def copy_with(self, **changes: Any) -> Envelope:
        """A changed copy; envelopes are immutable."""
        return self.model_copy(update=changes)


def decode(body: bytes | str) -> Envelope:
    """Parse an envelope, raising a typed :class:`InvalidMessage` that names the problem."""
    try:
        return Envelope.model_validate_json(body)
    except ValidationError as error:
        raise _explain(body, error) from None


def _explain(body: bytes | str, error: ValidationError) -> InvalidMessage:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return MalformedMessage("message body is not JSON")
    if not isinstance(data, dict):
        return MalformedMessage(f"message body is a JSON {type(data).__name__}, not an object")
    version = data.get("version")
    if version != ENVELOPE_VERSION:
        return UnsupportedEnvelopeVersion(
            f"unsupported envelope version {version!r} (this release reads {ENVELOPE_VERSION})"
        )
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'envelope'}: {e['msg']}" for e in error.errors()
    )
    return InvalidMessage(f"invalid envelope: {problems}")


def json_schema() -> dict[str, Any]:
    """The envelope's JSON Schema (draft 2020-12)."""
    schema = Envelope.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["required"] = sorted({*schema.get("required", []), "version"})
    return schema


def render_schema() -> str:
    """The schema file's exact text."""
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    SCHEMA_PATH.write_text(render_schema())
    print(f"wrote {SCHEMA_PATH}")
