"""The envelope: encoding, decoding with typed errors, and agreement with the shipped schema."""

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
from dispatcher.envelope import json_schema
from dispatcher.errors import InvalidField


def make(**changes: object) -> Envelope:
    fields: dict[str, object] = {
        "id": "a1",
        "task": "shop.charge",
        "args": [42, 1999],
        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
    }
    return Envelope(**(fields | changes))  # type: ignore[arg-type]


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


GOOD = {
    "version": 1,
    "id": "a1",
    "task": "shop.charge",
    "args": [42, {"note": None}],
    "kwargs": {"x": [1.5, True]},
    "attempt": 2,
    "created_at": "2026-01-01T00:00:00Z",
    "eta": "2026-01-01T00:00:05.250+02:00",
    "expires_at": None,
    "dedup_key": "k",
    "group_key": "g",
    "traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01",
    "parent_id": "p",
    "root_id": "r",
    "headers": {"tenant": "acme"},
}
BAD_VALUES: list[tuple[str, object]] = [
    ("version", 2),
    ("version", "1"),
    ("id", ""),
    ("id", "x" * 129),
    ("id", 7),
    ("task", ""),
    ("task", "t" * 257),
    ("args", {"a": 1}),
    ("args", "1,2"),
    ("kwargs", [1]),
    ("attempt", 0),
    ("attempt", 1.5),
    ("attempt", True),
    ("attempt", "2"),
    ("created_at", "2026-01-01T00:00:00"),  # no offset
    ("created_at", "2026-01-01"),
    ("created_at", "yesterday"),
    ("created_at", None),
    ("eta", 1767225600),
    ("expires_at", "2026-13-01T00:00:00Z"),
    ("dedup_key", "k" * 129),
    ("group_key", 5),
    ("traceparent", "00-xyz"),
    ("parent_id", 1),
    ("headers", {"n": 1}),
    ("headers", ["a"]),
    ("surprise", 1),
]


def _schema_accepts(document: object) -> bool:
    validator = jsonschema.Draft202012Validator(
        json_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    return validator.is_valid(document)


def test_decoder_and_shipped_schema_accept_the_same_good_messages() -> None:
    minimal = {k: GOOD[k] for k in ("version", "id", "task", "created_at")}
    for document in (GOOD, minimal):
        assert _schema_accepts(document)
        decode(json.dumps(document))


@pytest.mark.parametrize(("field", "value"), BAD_VALUES)
def test_decoder_and_shipped_schema_reject_the_same_bad_messages(field: str, value: object) -> None:
    document = {**GOOD, field: value}
    assert not _schema_accepts(document)
    with pytest.raises(InvalidMessage, match=field):
        decode(json.dumps(document))


@pytest.mark.parametrize("field", ["version", "id", "task", "created_at"])
def test_required_fields_are_required_by_both(field: str) -> None:
    document = {k: v for k, v in GOOD.items() if k != field}
    assert not _schema_accepts(document)
    with pytest.raises(InvalidMessage):
        decode(json.dumps(document))


def test_envelopes_check_their_fields_when_made() -> None:
    with pytest.raises(InvalidField, match="dedup_key: String should have at most 128"):
        make(dedup_key="k" * 200)
    with pytest.raises(InvalidField, match="eta: Input should be a timezone-aware"):
        make(eta=datetime(2026, 1, 1))


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
