"""The envelope: encoding, decoding with typed errors, and the shipped JSON Schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import jsonschema
import pytest

from dispatcher import (
    Dispatcher,
    Envelope,
    InvalidMessage,
    MalformedMessage,
    UnsupportedEnvelopeVersion,
    decode,
)
from dispatcher.envelope import SCHEMA_PATH, json_schema, render_schema


def make(**changes: object) -> Envelope:
    fields: dict[str, object] = {
        "id": "a1",
        "task": "shop.charge",
        "args": [42, 1999],
        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
    }
    return Envelope.model_validate(fields | changes)


def test_roundtrip_keeps_every_field() -> None:
    envelope = make(
        kwargs={"note": "x"},
        eta=datetime(2026, 1, 2, tzinfo=UTC),
        expires_at=datetime(2026, 1, 3, tzinfo=UTC),
        dedup_key="order-42",
        group_key="customer-7",
        traceparent="00-" + "a" * 32 + "-" + "b" * 16 + "-01",
        parent_id="p",
        root_id="r",
        headers={"tenant": "acme"},
        attempt=3,
    )
    assert decode(envelope.encode()) == envelope


def test_encoding_is_plain_json_with_a_version() -> None:
    body = json.loads(make().encode())
    assert body["version"] == 1
    assert body["args"] == [42, 1999]
    assert "eta" not in body  # unset optional fields are left out


@pytest.mark.parametrize(
    ("body", "error", "fragment"),
    [
        (b"\x80not json", MalformedMessage, "not JSON"),
        (b"<order/>", MalformedMessage, "not JSON"),
        (b"[1, 2]", MalformedMessage, "JSON list, not an object"),
        (b'{"version": 7, "id": "x", "task": "t"}', UnsupportedEnvelopeVersion, "version 7"),
        (b'{"id": "x", "task": "t"}', UnsupportedEnvelopeVersion, "version None"),
        (b'{"version": 1, "id": "x"}', InvalidMessage, "task: Field required"),
        (
            b'{"version": 1, "id": "x", "task": "t", "created_at": "2026-01-01T00:00:00Z",'
            b' "surprise": 1}',
            InvalidMessage,
            "surprise: Extra inputs",
        ),
    ],
)
def test_bad_messages_raise_typed_errors(
    body: bytes, error: type[InvalidMessage], fragment: str
) -> None:
    with pytest.raises(error) as caught:
        decode(body)
    assert fragment in str(caught.value)


def test_shipped_schema_file_is_current() -> None:
    assert SCHEMA_PATH.read_text() == render_schema(), "run: python -m dispatcher.envelope"


def test_schema_accepts_what_we_send_and_rejects_bad_messages() -> None:
    schema = json_schema()
    app = Dispatcher("shop", backend="memory")

    @app.task(name="charge")
    def charge(order_id: int, note: str = "") -> None: ...

    sent = json.loads(charge.message((42,), {"note": "hi"}, countdown=5, dedup_key="k").body)
    jsonschema.validate(sent, schema)
    for bad in ({**sent, "version": 2}, {**sent, "attempt": 0}, {k: sent[k] for k in ("id",)}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)


def test_a_message_written_by_hand_from_the_schema_decodes() -> None:
    body = (
        '{"version": 1, "id": "from-go", "task": "shop.charge", "args": [1, 2],'
        ' "created_at": "2026-11-25T10:00:00+00:00"}'
    )
    envelope = decode(body)
    assert envelope.args == [1, 2] and envelope.attempt == 1
