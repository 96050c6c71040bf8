"""The envelope: encoding, decoding with typed errors, and agreement with the shipped schema."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

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
from dispatcher import envelope as wire
from dispatcher.envelope import json_schema
from dispatcher.errors import EnvelopeTooLarge, InvalidField
from tests.core import envelope_rule


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
TRACEPARENT = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"


def nest(depth: int) -> Any:
    """A list nested ``depth`` deep (``nest(1) == [1]``)."""
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


#: Values that both the schema and the decoder accept.
GOOD_VALUES: list[tuple[str, object]] = [
    ("version", 1.0),  # the integer 1
    ("attempt", 2.0),  # the integer 2
    ("attempt", wire.MAX_ATTEMPT),
    ("created_at", "2026-11-27t06:00:00z"),  # RFC 3339 allows lower case
    ("created_at", "2026-11-27T06:00:00.123456789+02:00"),  # any number of fraction digits
    ("created_at", "2026-11-27T06:00:00-00:00"),
    ("created_at", "2028-02-29T00:00:00Z"),
    ("created_at", "0001-01-01T00:00:00+01:00"),
    ("eta", "9999-12-31T23:59:59-23:59"),
    ("args", [nest(wire.MAX_NESTING)]),
    ("kwargs", {"deep": nest(wire.MAX_NESTING)}),
    ("args", [2**64, -(2**63) - 1, 10**300, int(sys.float_info.max), sys.float_info.max]),
    ("args", ["😀", "\u0000", 1e-400]),
    ("id", "x" * wire.MAX_ID_LENGTH),
    ("task", "t" * wire.MAX_TASK_LENGTH),
    ("parent_id", "p" * wire.MAX_ID_LENGTH),
    ("headers", {f"h{i}": "v" * wire.MAX_HEADER_VALUE_LENGTH for i in range(wire.MAX_HEADERS)}),
    ("headers", {"h" * wire.MAX_HEADER_NAME_LENGTH: ""}),
]
#: Values that both refuse; the decoder's error names the field.
BAD_VALUES: list[tuple[str, object]] = [
    ("version", 2),
    ("version", "1"),
    ("version", True),
    ("id", ""),
    ("id", "x" * 129),
    ("id", 7),
    ("task", ""),
    ("task", "t" * 257),
    ("args", {"a": 1}),
    ("args", "1,2"),
    ("args", None),
    ("kwargs", [1]),
    ("attempt", 0),
    ("attempt", 1.5),
    ("attempt", True),
    ("attempt", "2"),
    ("attempt", wire.MAX_ATTEMPT + 1),
    ("attempt", 2**64),
    ("created_at", "2026-01-01T00:00:00"),  # no offset
    ("created_at", "2026-01-01"),
    ("created_at", "yesterday"),
    ("created_at", None),
    ("created_at", "2026-11-27 06:00:00Z"),  # a space for T
    ("created_at", "2026-11-27T06:00Z"),  # no seconds
    ("created_at", "2026-11-27T06:00:00+0200"),  # no colon in the offset
    ("created_at", "2026-11-27T06:00:00+02"),
    ("created_at", "2026-W48-5T06:00:00Z"),  # an ISO week date
    ("created_at", "20261127T060000Z"),  # ISO 8601's basic format
    ("created_at", "2026-11-27T06:00:00.Z"),
    ("created_at", "2026-02-29T00:00:00Z"),  # not a leap year
    ("created_at", "2026-12-31T23:59:60Z"),  # a leap second: Python's datetime cannot hold it
    ("created_at", "0000-01-01T00:00:00Z"),  # nor year 0
    ("created_at", "2026-11-27T06:00:00Z\n"),
    ("eta", 1767225600),
    ("expires_at", "2026-13-01T00:00:00Z"),
    ("dedup_key", "k" * 129),
    ("group_key", 5),
    ("traceparent", "00-xyz"),
    ("traceparent", TRACEPARENT.upper()),
    ("traceparent", TRACEPARENT + "\n"),
    ("parent_id", 1),
    ("root_id", "r" * 129),
    ("headers", {"n": 1}),
    ("headers", ["a"]),
    ("headers", {"h": "v" * (wire.MAX_HEADER_VALUE_LENGTH + 1)}),
    ("headers", {"h" * (wire.MAX_HEADER_NAME_LENGTH + 1): "v"}),
    ("headers", {f"h{i}": "v" for i in range(wire.MAX_HEADERS + 1)}),
    ("args", [nest(wire.MAX_NESTING + 1)]),
    ("kwargs", {"deep": nest(wire.MAX_NESTING + 1)}),
    ("args", [int(sys.float_info.max) + 1]),
    ("args", [-(10**309)]),
    ("surprise", 1),
]


def _schema_accepts(document: object) -> bool:
    return envelope_rule.VALIDATOR.is_valid(document)


def test_decoder_and_shipped_schema_accept_the_same_good_messages() -> None:
    minimal = {k: GOOD[k] for k in ("version", "id", "task", "created_at")}
    for document in (GOOD, minimal):
        assert _schema_accepts(document)
        decode(json.dumps(document))


@pytest.mark.parametrize(("field", "value"), GOOD_VALUES, ids=lambda v: repr(v)[:40])
def test_decoder_and_shipped_schema_accept_the_same_edge_values(field: str, value: object) -> None:
    document = {**GOOD, field: value}
    assert _schema_accepts(document)
    envelope = decode(json.dumps(document))
    if field not in ("created_at", "eta"):
        assert getattr(envelope, field) == value
        assert type(getattr(envelope, field)) is type(json.loads(json.dumps(value))) or (
            field in ("version", "attempt")  # 2.0 is read as the integer 2
            and type(getattr(envelope, field)) is int
        )


@pytest.mark.parametrize(("field", "value"), BAD_VALUES, ids=lambda v: repr(v)[:40])
def test_decoder_and_shipped_schema_reject_the_same_bad_messages(field: str, value: object) -> None:
    document = {**GOOD, field: value}
    assert not _schema_accepts(document)
    with pytest.raises(InvalidMessage) as caught:
        decode(json.dumps(document))
    assert field in str(caught.value) or "a number is beyond" in str(caught.value)


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


def _body(**changes: object) -> bytes:
    return json.dumps({**GOOD, **changes}).encode()


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (_body().decode().encode("utf-16"), "message body is not JSON"),
        (_body().decode().encode("utf-32"), "message body is not JSON"),
        (b"\xef\xbb\xbf" + _body(), "message body is not JSON"),
        (_body().replace(b'"acme"', b'"\xed\xa0\x80"'), "message body is not JSON"),
        (_body().replace(b'"acme"', b'"\\ud800"'), "message body is not JSON"),
        (_body().replace(b"[42", b"[NaN"), "message body is not JSON"),
        (_body().replace(b"[42", b"[-Infinity"), "message body is not JSON"),
        (_body().replace(b"[42", b"[1e400"), "a number is beyond"),
        (_body()[:-1] + b" " * wire.MAX_BODY_BYTES + b"}", "over the limit of 4,194,304 bytes"),
        (b"[" * 100_000 + b"]" * 100_000, "should nest at most 64 deep"),
        (b'{"version":1,"args":' + b"[" * 1_000 + b"]" * 1_000 + b"}", "nest at most 64 deep"),
    ],
    ids=[
        "utf-16",
        "utf-32",
        "byte order mark",
        "encoded surrogate",
        "lone surrogate escape",
        "NaN",
        "Infinity",
        "1e400",
        "too large",
        "100,000 deep",
        "1,000 deep args",
    ],
)
def test_bodies_that_are_not_json_text_within_the_limits_are_refused(
    body: bytes, fragment: str
) -> None:
    assert not envelope_rule.accepts(body)
    with pytest.raises(InvalidMessage, match=fragment):
        decode(body)


def test_a_body_of_exactly_the_size_limit_is_accepted() -> None:
    body = _body()[:-1] + b" " * (wire.MAX_BODY_BYTES - len(_body())) + b"}"
    assert len(body) == wire.MAX_BODY_BYTES
    assert envelope_rule.accepts(body)
    decode(body)


def test_integers_beyond_64_bits_are_read_and_written_exactly() -> None:
    numbers = [2**64, -(2**63) - 1, 10**40 + 1, int(sys.float_info.max), 18446744073709551615]
    envelope = decode(_body(args=numbers))
    assert envelope.args == numbers and all(type(n) is int for n in envelope.args)
    assert decode(envelope.encode()).args == numbers
    assert json.loads(envelope.encode())["args"] == numbers


def test_long_digit_runs_in_strings_do_not_change_what_is_read() -> None:
    envelope = decode(_body(args=["1" * 40, 1.5, 7], id="9" * 25))
    assert envelope.args == ["1" * 40, 1.5, 7] and envelope.id == "9" * 25


def test_encoding_refuses_what_decoding_would_refuse() -> None:
    with pytest.raises(InvalidField, match="valid Unicode"):
        make(args=["\ud800"]).encode()
    with pytest.raises(EnvelopeTooLarge, match="over the limit"):
        make(args=["x" * wire.MAX_BODY_BYTES]).encode()


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"args": [float("nan")]}, "args: NaN and Infinity are not JSON"),
        ({"kwargs": {"x": float("inf")}}, "kwargs: NaN and Infinity are not JSON"),
        ({"args": [10**400]}, "args: Number should be within"),
        ({"args": [nest(wire.MAX_NESTING + 1)]}, "args: Lists and objects should nest at most 64"),
        ({"args": [(1, 2)]}, "args: Input should be JSON, not tuple"),
        ({"kwargs": {1: 2}}, "kwargs: Object keys should be strings"),
        ({"attempt": wire.MAX_ATTEMPT + 1}, "attempt: Input should be less than or equal"),
        ({"created_at": datetime(2026, 1, 1, tzinfo=timezone(timedelta(seconds=30)))}, "minutes"),
        ({"version": True}, "version: Input should be 1"),
    ],
)
def test_envelopes_are_checked_against_the_same_limits_when_made(
    changes: dict[str, object], fragment: str
) -> None:
    with pytest.raises(InvalidField, match=fragment):
        make(**changes)


def test_the_schema_states_the_decoders_limits() -> None:
    schema = json_schema()
    properties, defs = schema["properties"], schema["$defs"]
    assert str(wire.MAX_BODY_BYTES) in schema["description"]
    assert f"at most {wire.MAX_NESTING} deep" in schema["description"]
    for name in ("created_at", "eta", "expires_at"):
        text = properties[name] if name == "created_at" else properties[name]["anyOf"][0]
        assert text["pattern"] == wire.DATE_TIME_PATTERN and text["format"] == "date-time"
    assert properties["traceparent"]["anyOf"][0]["pattern"] == wire.TRACEPARENT.pattern
    assert properties["attempt"]["maximum"] == wire.MAX_ATTEMPT
    assert properties["id"]["maxLength"] == wire.MAX_ID_LENGTH
    assert properties["task"]["maxLength"] == wire.MAX_TASK_LENGTH
    for name, limit in (
        ("dedup_key", wire.MAX_KEY_LENGTH),
        ("group_key", wire.MAX_KEY_LENGTH),
        ("parent_id", wire.MAX_ID_LENGTH),
        ("root_id", wire.MAX_ID_LENGTH),
    ):
        assert properties[name]["anyOf"][0]["maxLength"] == limit
    headers = properties["headers"]
    assert headers["maxProperties"] == wire.MAX_HEADERS
    assert headers["propertyNames"]["maxLength"] == wire.MAX_HEADER_NAME_LENGTH
    assert headers["additionalProperties"]["maxLength"] == wire.MAX_HEADER_VALUE_LENGTH
    top = f"#/$defs/json{wire.MAX_NESTING}"
    assert properties["args"]["items"]["$ref"] == top
    assert properties["kwargs"]["additionalProperties"]["$ref"] == top
    assert len(defs) == wire.MAX_NESTING + 1 and "type" in defs["json0"]
    for depth in range(wire.MAX_NESTING + 1):
        assert defs[f"json{depth}"]["maximum"] == wire.MAX_NUMBER
        assert defs[f"json{depth}"]["minimum"] == -wire.MAX_NUMBER


def test_ids_are_time_ordered_uuid7() -> None:
    import time
    import uuid

    from dispatcher.envelope import new_id

    first = new_id()
    time.sleep(0.002)
    second = new_id()
    parsed = uuid.UUID(first)
    assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)
    assert str(parsed) == first and first < second
    assert abs((parsed.int >> 80) - time.time() * 1000) < 60_000  # its first 48 bits: now, ms
    assert len({new_id() for _ in range(10_000)}) == 10_000
